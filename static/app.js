// profilegate admin UI. Plain JavaScript, served by the appliance itself: no build step, no
// CDN. Every page is drawn from the JSON admin API (/admin/api/, see openapi.json); the DOM is
// built with text nodes only, so nothing the server stores is ever parsed as HTML.
'use strict';

const state = { csrf: null, tls: true };
const main = document.getElementById('main');

// ---------- small DOM helpers ----------

/** Builds an element: h('p', {class: 'x'}, 'text', child, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/**
 * A labelled form field with a place for the server's message about it.
 * opts: {name, label, type, value, help, options: [[value, text]], rows, attrs}
 */
function field(opts) {
  const id = nextId(opts.name.replace(/\W/g, '-'));
  const errId = id + '-err';
  const common = { id, name: opts.name, 'aria-describedby': errId, ...(opts.attrs || {}) };
  let input;
  if (opts.options) {
    input = h('select', common, opts.options.map(([v, t]) => h('option', { value: v, selected: v === opts.value }, t)));
  } else if (opts.type === 'textarea') {
    input = h('textarea', { ...common, rows: opts.rows || 5 });
    input.value = opts.value || '';
  } else if (opts.type === 'checkbox') {
    input = h('input', { ...common, type: 'checkbox', checked: !!opts.value });
    return h('div', { class: 'field', 'data-field': opts.name },
      h('label', { class: 'inline', for: id }, input, opts.label),
      h('p', { class: 'error', id: errId, role: 'alert' }));
  } else {
    input = h('input', { ...common, type: opts.type || 'text', value: opts.value ?? '' });
  }
  return h('div', { class: 'field', 'data-field': opts.name },
    h('label', { for: id }, opts.label),
    opts.help ? h('p', { class: 'muted' }, opts.help) : null,
    input,
    h('p', { class: 'error', id: errId, role: 'alert' }));
}

/** The value of a named control inside a form. */
function val(form, name) {
  const el = form.querySelector(`[name="${name}"]`);
  if (!el) return undefined;
  return el.type === 'checkbox' ? el.checked : el.value;
}

/** Clears every message in a form. */
function clearErrors(form) {
  form.querySelectorAll('.error').forEach((e) => { e.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  const n = form.querySelector('.form-notice');
  if (n) { n.textContent = ''; n.className = 'notice form-notice'; }
}

/** Shows the server's message next to its field, or at the form's top when it names none. */
function showError(form, err) {
  const slot = err.field && form.querySelector(`[data-field="${err.field}"]`);
  if (slot) {
    slot.querySelector('.error').textContent = err.error;
    const input = slot.querySelector('input, select, textarea');
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  } else {
    notice(form, err.error, 'bad');
  }
}

function notice(form, text, kind) {
  let n = form.querySelector('.form-notice');
  if (!n) { n = h('p', { class: 'notice form-notice', role: 'status' }); form.prepend(n); }
  n.className = 'notice form-notice' + (kind ? ' ' + kind : '');
  n.textContent = text;
}

/**
 * A form that submits through `action(form)`, which returns an API result. Errors go next to
 * their fields; `done(data, form)` runs on success.
 */
function apiForm(attrs, children, action, done) {
  const form = h('form', { novalidate: true, ...attrs }, h('p', { class: 'notice form-notice', role: 'status' }), children);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const r = await action(form, ev.submitter);
      if (r && !r.ok) showError(form, r.data);
      else if (done) await done(r ? r.data : null, form, ev.submitter);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

function fmtTime(t) { return t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—'; }

function copyButton(getText, label) {
  return h('button', {
    type: 'button', class: 'secondary',
    onclick: async (ev) => {
      const text = getText();
      try { await navigator.clipboard.writeText(text); ev.target.textContent = 'Copied'; } catch (e) {
        // Clipboard API needs a secure context; fall back to selecting the text.
        const ta = h('textarea', {}); ta.value = text; document.body.append(ta); ta.select();
        try { document.execCommand('copy'); ev.target.textContent = 'Copied'; } catch (e2) { ev.target.textContent = 'Select and copy by hand'; }
        ta.remove();
      }
      setTimeout(() => { ev.target.textContent = label || 'Copy'; }, 2000);
    },
  }, label || 'Copy');
}

// ---------- API ----------

/** Calls the admin API; resolves to {ok, status, data}. A lost session shows the login. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch('/admin/api/' + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { ok: false, status: 0, data: { error: 'The appliance cannot be reached: ' + e.message } };
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: `unexpected answer (HTTP ${res.status})` }; }
  if (res.status === 401 && path !== 'login' && path !== 'session') {
    state.csrf = null;
    showLogin('Your session ended; log in again.');
  }
  return { ok: res.ok, status: res.status, data };
}

/** Sends a file as the raw body of a POST (the breached-password import); like api(). */
async function upload(path, file) {
  let res;
  try {
    res = await fetch('/admin/api/' + path, {
      method: 'POST', credentials: 'same-origin', body: file,
      headers: { Accept: 'application/json', 'Content-Type': 'text/plain', 'X-CSRF-Token': state.csrf || '' },
    });
  } catch (e) {
    return { ok: false, status: 0, data: { error: 'The upload broke off: ' + e.message, field: 'file' } };
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: `unexpected answer (HTTP ${res.status})` }; }
  if (res.status === 401) { state.csrf = null; showLogin('Your session ended; log in again.'); }
  return { ok: res.ok, status: res.status, data };
}

// ---------- shell ----------

const pages = {};

function page(title, ...content) {
  main.replaceChildren(h('h1', { tabindex: '-1' }, title), ...content);
  document.title = `${title} · profilegate`;
  main.querySelector('h1').focus();
}

function setNav(visible) {
  document.getElementById('nav').hidden = !visible;
  document.getElementById('logout').hidden = !visible;
  const cur = (location.hash || '#overview').split(/[=?]/)[0];
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.getAttribute('href') === cur) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

async function route() {
  const hash = location.hash || '#overview';
  if (hash.startsWith('#setup=')) { showSetup(hash.slice(7)); return; }
  if (!state.csrf) {
    const r = await api('GET', 'session');
    if (!r.ok) { showLogin(); return; }
    signedIn(r.data);
  }
  setNav(true);
  const name = hash.slice(1).split('?')[0];
  const fn = pages[name] || pages.overview;
  main.replaceChildren(h('p', {}, 'Loading…'));
  await fn();
}

/** Keeps what a login or session answer says: the CSRF token, and whether this is HTTPS. */
function signedIn(data) {
  state.csrf = data.csrf_token;
  state.tls = data.tls !== false;
  document.getElementById('insecure').hidden = state.tls;
}

function showLogin(message) {
  setNav(false);
  const form = apiForm({ 'aria-label': 'Log in' }, [
    field({ name: 'password', label: 'Admin password', type: 'password', attrs: { autocomplete: 'current-password', required: true } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in')),
  ], (f) => api('POST', 'login', { password: val(f, 'password') }), (data) => {
    signedIn(data);
    if (location.hash.startsWith('#setup=')) history.replaceState(null, '', '/admin/#overview');
    route();
  });
  page('Log in', h('section', { class: 'card' }, form));
  if (message) notice(form, message, 'warn');
  form.querySelector('input').focus();
}

function showSetup(token) {
  setNav(false);
  const form = apiForm({ 'aria-label': 'Set the admin password' }, [
    h('p', {}, 'This appliance has no admin password yet. Choose one (at least 12 characters); this link then stops working.'),
    field({ name: 'token', label: 'Setup token', value: token, attrs: { readonly: true } }),
    field({ name: 'password', label: 'New admin password', type: 'password', attrs: { autocomplete: 'new-password' } }),
    field({ name: 'confirm', label: 'Repeat the password', type: 'password', attrs: { autocomplete: 'new-password' } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Set password and log in')),
  ], async (f) => {
    if (val(f, 'password') !== val(f, 'confirm')) {
      return { ok: false, data: { error: 'the two passwords differ', field: 'confirm' } };
    }
    return api('POST', 'setup', { token: val(f, 'token'), password: val(f, 'password') });
  }, (data) => {
    signedIn(data);
    // The token is spent: drop it from the address bar and history.
    history.replaceState(null, '', '/admin/#overview');
    route();
  });
  page('Set up profilegate', h('section', { class: 'card' }, form));
}

document.getElementById('logout').addEventListener('click', async () => {
  await api('POST', 'logout', {});
  state.csrf = null;
  showLogin('You are logged out.');
});
window.addEventListener('hashchange', route);

// ---------- Overview ----------

const checkPage = { credential: '#endpoint', smtp: '#notifications', recipients: '#notifications', departments: '#departments', tls: null };

function decisionRows(records, onClick) {
  return records.map((r) => {
    const d = r.kind === 'decision';
    const tr = h('tr', { class: onClick ? 'clickable' : null, tabindex: onClick ? '0' : null },
      h('td', {}, r.seq), h('td', {}, fmtTime(r.time)),
      h('td', {}, d ? h('span', { class: 'pill ' + r.decision }, r.decision) : h('span', { class: 'pill' }, 'admin')),
      h('td', {}, d ? (r.user_id || '—') : r.actor),
      h('td', {}, d ? ((r.organization && (r.organization.name || r.organization.id)) || '—') : '—'),
      h('td', {}, d ? [r.reason || r.rule || '', r.claims ? ` (${r.claims.map((c) => c.uri.replace(/^.*\//, '')).join(', ')})` : ''] : r.action));
    if (onClick) {
      tr.addEventListener('click', () => onClick(r));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onClick(r); } });
    }
    return tr;
  });
}

function recordsTable(records, onClick) {
  return h('table', {},
    h('thead', {}, h('tr', {}, ['#', 'Time (UTC)', 'Decision', 'User / actor', 'Organization', 'Reason / change'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, decisionRows(records, onClick)));
}

// ---------- Organizations seen, decisions over time ----------

/** The organizations seen in action calls ([{id, name, last_seen_ms}]); [] when unavailable. */
async function seenOrgs() {
  const r = await api('GET', 'organizations');
  return r.ok ? r.data.organizations : [];
}

/** A datalist for an organization-id field: the organizations seen (named), then `ids` not among them. */
function orgDatalist(id, seen, ids) {
  const known = new Set(seen.map((o) => o.id));
  return h('datalist', { id },
    seen.map((o) => h('option', { value: o.id, label: o.name || null })),
    (ids || []).filter((o) => !known.has(o)).map((o) => h('option', { value: o })));
}

const SVG = 'http://www.w3.org/2000/svg';
/** An SVG element, like h(). */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// Decisions stack in one bar per bucket; e-mail and refused calls stack in a narrow one beside it.
const DECISION_PARTS = [['success', 'SUCCESS'], ['failed', 'FAILED'], ['error', 'ERROR']];
const OTHER_PARTS = [['mail_sent', 'E-mail delivered'], ['mail_failed', 'E-mail failed'], ['refused', 'Refused calls']];

/** The label of a bucket: its hour (24 hours) or its date (30 days), UTC. */
function bucketLabel(b, daily) { return daily ? b.start.slice(0, 10) : b.start.slice(11, 16); }

/** The chart (inline SVG, sized by attributes: the CSP allows no inline style) and the same numbers as a table. */
function activityChart(series, daily) {
  const buckets = daily ? series.days : series.hours;
  const sum = (b, parts) => parts.reduce((n, [k]) => n + b.counts[k], 0);
  const max = Math.max(1, ...buckets.map((b) => Math.max(sum(b, DECISION_PARTS), sum(b, OTHER_PARTS))));
  const W = 720, H = 200, top = 10, bottom = 24, left = 36;
  const slot = (W - left) / buckets.length, plot = H - top - bottom;
  const totals = {};
  for (const [k] of DECISION_PARTS.concat(OTHER_PARTS)) totals[k] = buckets.reduce((n, b) => n + b.counts[k], 0);
  const span = daily ? 'the last 30 days' : 'the last 24 hours';
  const summary = `Decisions over ${span}: ${DECISION_PARTS.map(([k, t]) => `${totals[k]} ${t}`).join(', ')}; `
    + OTHER_PARTS.map(([k, t]) => `${t.toLowerCase()}: ${totals[k]}`).join(', ') + '. The table below has every number.';
  const bars = [];
  buckets.forEach((b, i) => {
    const stack = (parts, x, w) => {
      let y = top + plot;
      for (const [k, t] of parts) {
        const n = b.counts[k];
        if (!n) continue;
        const hgt = Math.max(1, (n / max) * plot);
        y -= hgt;
        bars.push(svg('rect', { class: `bar bar-${k}`, x: x.toFixed(1), y: y.toFixed(1), width: w.toFixed(1), height: hgt.toFixed(1), 'data-count': n },
          svg('title', {}, `${bucketLabel(b, daily)}: ${n} ${t}`)));
      }
    };
    const x = left + i * slot;
    stack(DECISION_PARTS, x + slot * 0.1, slot * 0.55);
    stack(OTHER_PARTS, x + slot * 0.67, slot * 0.23);
  });
  const every = daily ? 5 : 4;
  const labels = buckets.map((b, i) => (i % every === 0 || i === buckets.length - 1)
    ? svg('text', { class: 'axis', x: (left + i * slot + slot / 2).toFixed(1), y: H - 6, 'text-anchor': 'middle' }, bucketLabel(b, daily)) : null);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': summary, id: 'activity-svg' },
    svg('title', {}, summary),
    svg('line', { class: 'axis-line', x1: left, y1: top + plot, x2: W, y2: top + plot }),
    svg('text', { class: 'axis', x: left - 4, y: top + 8, 'text-anchor': 'end' }, max),
    svg('text', { class: 'axis', x: left - 4, y: top + plot, 'text-anchor': 'end' }, 0),
    bars, labels);
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
    DECISION_PARTS.concat(OTHER_PARTS).map(([k, t]) => h('li', {}, h('span', { class: `swatch bar-${k}` }), t)));
  const table = h('details', { id: 'activity-numbers' }, h('summary', {}, 'The numbers'),
    h('table', {},
      h('caption', { class: 'sr-only' }, `Decisions, e-mail and refused calls per ${daily ? 'day' : 'hour'} over ${span} (UTC)`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, daily ? 'Day (UTC)' : 'Hour (UTC)'),
        DECISION_PARTS.concat(OTHER_PARTS).map(([, t]) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, buckets.map((b) => h('tr', {}, h('th', { scope: 'row' }, bucketLabel(b, daily)),
        DECISION_PARTS.concat(OTHER_PARTS).map(([k]) => h('td', { 'data-part': k }, b.counts[k])))))));
  return [chart, legend, table];
}

/** The overview's card: the chart with its 24 hours / 30 days toggle. */
function activityCard(series) {
  const body = h('div', {});
  const buttons = [];
  const show = (daily) => {
    // The numbers stay open when the period changes.
    const open = !!(body.querySelector('details') || {}).open;
    body.replaceChildren(...activityChart(series, daily));
    body.querySelector('details').open = open;
    buttons.forEach((b, i) => b.setAttribute('aria-pressed', String((i === 1) === daily)));
  };
  buttons.push(h('button', { type: 'button', class: 'secondary', id: 'activity-24h', onclick: () => show(false) }, '24 hours'));
  buttons.push(h('button', { type: 'button', class: 'secondary', id: 'activity-30d', onclick: () => show(true) }, '30 days'));
  show(false);
  return h('section', { class: 'card', 'aria-labelledby': 'h-activity' },
    h('h2', { id: 'h-activity' }, 'Decisions over time'),
    h('div', { class: 'actions', role: 'group', 'aria-label': 'Period' }, buttons),
    body);
}

pages.overview = async () => {
  const r = await api('GET', 'overview');
  if (!r.ok) { page('Overview', h('p', { class: 'notice bad' }, r.data.error)); return; }
  const o = r.data;
  const open = o.checklist.filter((c) => !c.done).length;
  page('Overview',
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'h-setup' },
        h('h2', { id: 'h-setup' }, open ? `Setup: ${open} step(s) left` : 'Setup complete'),
        h('ul', { class: 'checklist' }, o.checklist.map((c) => h('li', { 'data-check': c.key, 'data-done': String(c.done) },
          h('span', { class: 'mark ' + (c.done ? 'ok' : 'no'), 'aria-hidden': 'true' }, c.done ? '✓' : '✗'),
          h('strong', {}, c.title), h('span', { class: 'sr-only' }, c.done ? ' (done)' : ' (to do)'),
          c.todo ? h('div', { class: 'muted' }, c.todo, ' ', checkPage[c.key] ? h('a', { href: checkPage[c.key] }, 'Go there') : null) : null)))),
      h('section', { class: 'card', 'aria-labelledby': 'h-today' },
        h('h2', { id: 'h-today' }, 'Decisions today (UTC)'),
        h('div', { class: 'counts' }, ['SUCCESS', 'FAILED', 'ERROR'].map((k) => h('div', { 'data-count': k }, o.today.counts[k] || 0, h('span', {}, k)))),
        o.today.complete ? null : h('p', { class: 'muted' }, 'A busy day: counted up to the scan limit, so these are lower bounds.'),
        h('h2', { class: 'spaced' }, 'Security-team e-mail'),
        h('p', {}, o.email.configured ? `Mode: ${o.email.mode}. Queued: ${o.email.pending}, failed: ${o.email.failed}.` : 'Not configured.'),
        o.email.failed ? h('p', { class: 'notice bad' }, `${o.email.failed} e-mail(s) failed. `, h('a', { href: '#notifications' }, 'See the outbox')) : null,
        o.email.oldest_pending ? h('p', { class: 'muted' }, `Oldest queued since ${fmtTime(o.email.oldest_pending)}.`) : null,
        o.disk && o.disk.low ? h('p', { class: 'notice bad', id: 'overview-disk' }, `The data dir's disk is full: ${Math.floor(o.disk.free_bytes / 1024)} KiB free. Decisions whose record cannot be written are answered ERROR. Free space on the volume; profilegate recovers by itself.`) : null,
        o.department_sync.length ? [
          h('h2', { class: 'spaced' }, 'Department sync'),
          h('ul', { class: 'plain', id: 'overview-sync' }, o.department_sync.map((d) => h('li', {},
            h('a', { href: '#departments' + (d.org ? '?org=' + encodeURIComponent(d.org) : '') }, d.org ? `Organization ${d.org}` : 'Root list'),
            `: last success ${fmtTime(d.last_success)}`, d.last_success ? ` (${fmtAge(d.age_secs)} ago)` : '',
            d.stale ? h('strong', { class: 'error' }, ' STALE') : '',
            d.held ? h('strong', { class: 'error' }, ' — a sync waits for approval') : '',
            d.last_error ? h('div', { class: 'muted' }, `Last attempt failed: ${d.last_error}`) : null))),
        ] : null,
        (o.audit_forward || []).length ? [
          h('h2', { class: 'spaced' }, 'Audit forwarding (SIEM)'),
          h('ul', { class: 'plain', id: 'overview-forward' }, o.audit_forward.map((f) => h('li', {},
            `${f.target} to ${f.destination}: record ${f.cursor} of ${f.durable_head} accepted`,
            f.backlog ? h('strong', { class: 'error' }, ` — ${f.backlog} waiting (oldest ${fmtAge(f.lag_seconds)})`) : '',
            f.last_error ? h('div', { class: 'muted' }, `Last attempt failed: ${f.last_error}`) : null))),
        ] : null)),
    o.series ? activityCard(o.series) : null,
    h('section', { class: 'card', 'aria-labelledby': 'h-latest' },
      h('h2', { id: 'h-latest' }, 'Latest decisions'),
      o.latest.length ? recordsTable(o.latest) : h('p', { class: 'muted' }, 'No decisions yet.')),
    h('p', { class: 'muted' }, `profilegate ${o.version}`));
};

// ---------- Departments ----------

pages.departments = async () => {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const org = params.get('org') || '';
  const r = await api('GET', 'departments' + (org ? '?org=' + encodeURIComponent(org) : ''));
  if (!r.ok) { page('Departments', h('p', { class: 'notice bad' }, r.data.error)); return; }
  const seen = await seenOrgs();
  const names = r.data.names;
  const orgBody = () => (org ? { org } : {});
  const reload = () => pages.departments();

  const listBody = h('tbody', {});
  const drawList = (filter) => {
    const f = filter.toLowerCase();
    listBody.replaceChildren(...names.filter((n) => n.toLowerCase().includes(f)).map((n) => h('tr', {},
      h('td', {}, n),
      h('td', {}, h('button', {
        type: 'button', class: 'danger', 'aria-label': `Remove ${n}`,
        onclick: async () => {
          if (!confirm(`Remove "${n}"? Department changes to it will then be rejected.`)) return;
          const res = await api('POST', 'departments/remove', { names: [n], ...orgBody() });
          if (res.ok) reload(); else alert(res.data.error);
        },
      }, 'Remove')))));
  };
  drawList('');
  const search = h('input', { type: 'search', id: 'dep-search', 'aria-label': 'Search departments', placeholder: 'Search', oninput: (e) => drawList(e.target.value) });

  const orgForm = h('form', { class: 'actions org-picker', onsubmit: (e) => { e.preventDefault(); const v = e.target.elements.org.value.trim(); location.hash = '#departments' + (v ? '?org=' + encodeURIComponent(v) : ''); } },
    h('label', { for: 'org-pick' }, 'Organization'),
    h('input', { id: 'org-pick', name: 'org', list: 'orgs', value: org, placeholder: 'root list (empty) or organization id' }),
    orgDatalist('orgs', seen, r.data.orgs),
    h('button', { type: 'submit', class: 'secondary' }, 'Show'));

  const addForm = apiForm({ 'aria-label': 'Add a department' }, [
    field({ name: 'names', label: 'New department name' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Add')),
  ], (f) => api('POST', 'departments', { names: [val(f, 'names')], ...orgBody() }), () => reload());

  let preview = h('div', {});
  const importForm = apiForm({ 'aria-label': 'Import departments' }, [
    h('label', { for: 'csv-file' }, 'CSV file'),
    h('input', {
      type: 'file', id: 'csv-file', accept: '.csv,text/csv,text/plain',
      onchange: async (e) => { const file = e.target.files[0]; if (file) importForm.querySelector('[name=csv]').value = await file.text(); },
    }),
    field({ name: 'csv', label: 'or paste: one department a line (quote names with commas; header optional)', type: 'textarea', rows: 6 }),
    field({ name: 'replace', label: 'Replace the list (names not in the file are removed)', type: 'checkbox' }),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', value: 'preview' }, 'Preview'),
      h('button', { type: 'submit', value: 'apply', class: 'secondary', hidden: true, 'data-apply': '' }, 'Apply this import')),
    preview,
  ], (f, submitter) => api('POST', 'departments/import', {
    csv: val(f, 'csv'), replace: val(f, 'replace'), apply: !!(submitter && submitter.value === 'apply'), ...orgBody(),
  }), (data, f) => {
    const applyBtn = f.querySelector('[data-apply]');
    const p = data.plan;
    if (data.applied) {
      notice(f, `Applied: ${p.added.length} added, ${p.removed.length} removed.`);
      setTimeout(reload, 600);
      return;
    }
    const next = h('div', { id: 'import-preview' },
      h('p', {}, `Preview: ${p.added.length} to add, ${p.removed.length} to remove, ${p.unchanged} unchanged. Nothing is changed until you apply.`),
      p.added.length ? h('div', {}, h('strong', {}, 'Added: '), p.added.join(', ')) : null,
      p.removed.length ? h('div', {}, h('strong', { class: 'error' }, 'Removed: '), p.removed.join(', ')) : null);
    preview.replaceWith(next);
    preview = next;
    applyBtn.hidden = false;
  });
  importForm.querySelector('[name=csv]').addEventListener('input', () => { importForm.querySelector('[data-apply]').hidden = true; });

  page('Departments',
    h('section', { class: 'card' },
      h('h2', {}, org ? `Departments of organization ${org}` : 'Root department list'),
      h('p', { class: 'muted' }, org
        ? 'Users of this organization are checked against this list (it replaces the root list for them).'
        : 'Used for the root organization, and for every organization without a list of its own.'),
      orgForm,
      h('div', { class: 'actions' }, search,
        h('a', { href: '/admin/api/departments/export' + (org ? '?org=' + encodeURIComponent(org) : ''), download: '' }, 'Export CSV')),
      h('p', { class: 'muted' }, `${names.length} department(s).`),
      h('div', { class: 'deplist' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, ''))), listBody))),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Add'), addForm),
      h('section', { class: 'card' }, h('h2', {}, 'Bulk import'), importForm)),
    await syncCard(org, reload));
};

// ---------- Departments: sync from a company source ----------

const fmtAge = (secs) => (secs < 120 ? `${secs} s` : secs < 7200 ? `${Math.round(secs / 60)} min` : `${Math.round(secs / 3600)} h`);

/** The diff of a sync or a held one: names to add and to remove. */
function syncDiff(d) {
  return h('div', { class: 'sync-diff' },
    h('p', {}, `${d.added.length} to add, ${d.removed.length} to remove, ${d.unchanged} unchanged.`),
    d.added.length ? h('div', {}, h('strong', {}, 'Added: '), h('span', { 'data-added': '' }, d.added.join(', '))) : null,
    d.removed.length ? h('div', {}, h('strong', { class: 'error' }, 'Removed: '), h('span', { 'data-removed': '' }, d.removed.join(', '))) : null);
}

/** The source's form fields for one kind (http or ldap), filled from the stored source. */
function sourceFields(kind, src) {
  const s = src && src.kind === kind ? src : {};
  if (kind === 'ldap') {
    return [
      field({ name: 'url', label: 'URL', value: s.url || '', help: 'ldaps://host[:port], or ldap://host with StartTLS (a clear bind only to this machine).' }),
      field({ name: 'starttls', label: 'StartTLS (for ldap:// URLs)', type: 'checkbox', value: s.starttls }),
      field({ name: 'bind_dn', label: 'Bind DN (Active Directory also takes user@domain)', value: s.bind_dn || '' }),
      field({ name: 'password', label: 'Bind password', type: 'password', value: s.password || '', attrs: { autocomplete: 'new-password' } }),
      field({ name: 'base_dn', label: 'Base DN', value: s.base_dn || '' }),
      field({ name: 'filter', label: 'Filter', value: s.filter || '(objectClass=organizationalUnit)' }),
      field({ name: 'attribute', label: 'Attribute holding the names', value: s.attribute || 'ou', help: 'ou for organizational units, department or departmentNumber for people.' }),
      field({ name: 'page_size', label: 'Page size', type: 'number', value: s.page_size || 500 }),
      field({ name: 'tls_ca', label: 'CA certificate to trust (PEM, optional)', type: 'textarea', rows: 3, value: s.tls_ca_pem || '' }),
    ];
  }
  const auth = (s.auth && s.auth.type) || 'none';
  return [
    field({ name: 'url', label: 'URL', value: s.url || '', help: 'https:// (a clear http:// source only on this machine).' }),
    field({ name: 'format', label: 'Answer format', value: s.format || 'json', options: [['json', 'JSON: names, or objects with a name field'], ['csv', 'CSV']] }),
    field({ name: 'field', label: 'Name field or CSV column (optional)', value: s.field || '' }),
    field({ name: 'auth', label: 'Authentication', value: auth, options: [['none', 'None (or a client certificate only)'], ['bearer', 'Bearer token'], ['basic', 'Basic (user and password)']] }),
    field({ name: 'token', label: 'Bearer token', type: 'password', value: auth === 'bearer' ? s.auth.token : '', attrs: { autocomplete: 'off' } }),
    field({ name: 'username', label: 'Basic user', value: auth === 'basic' ? s.auth.username : '' }),
    field({ name: 'password', label: 'Basic password', type: 'password', value: auth === 'basic' ? s.auth.password : '', attrs: { autocomplete: 'new-password' } }),
    field({ name: 'tls_ca', label: 'CA certificate to trust (PEM, optional)', type: 'textarea', rows: 3, value: s.tls_ca_pem || '' }),
    field({ name: 'client_cert', label: 'Client certificate (PEM, optional: for mutual TLS)', type: 'textarea', rows: 3, value: s.client_cert_pem || '' }),
    field({ name: 'client_key', label: 'Client key (PEM)', type: 'textarea', rows: 3, value: s.client_key_pem || '' }),
  ];
}

/** The source as the API takes it, from the form. */
function sourceBody(f, kind) {
  const opt = (name) => (val(f, name) || '').trim() || null;
  const schedule = {
    every_secs: Math.round(Number(val(f, 'every')) * 60),
    stale_after_secs: Math.round(Number(val(f, 'stale_after')) * 60),
    max_removal_percent: Number(val(f, 'max_removal_percent')),
  };
  if (kind === 'ldap') {
    return { ...schedule, source: {
      kind, url: val(f, 'url').trim(), starttls: val(f, 'starttls'), bind_dn: val(f, 'bind_dn'), password: val(f, 'password'),
      base_dn: val(f, 'base_dn'), filter: val(f, 'filter'), attribute: val(f, 'attribute').trim(),
      page_size: Number(val(f, 'page_size')), tls_ca_pem: opt('tls_ca'),
    } };
  }
  const a = val(f, 'auth');
  const auth = a === 'bearer' ? { type: a, token: val(f, 'token') }
    : a === 'basic' ? { type: a, username: val(f, 'username'), password: val(f, 'password') } : { type: 'none' };
  return { ...schedule, source: {
    kind, url: val(f, 'url').trim(), format: val(f, 'format'), field: opt('field'), auth,
    tls_ca_pem: opt('tls_ca'), client_cert_pem: opt('client_cert'), client_key_pem: opt('client_key'),
  } };
}

/** The Departments page's sync card: status, Sync now, the diff, approval, and the source. */
async function syncCard(org, reload) {
  const orgBody = org ? { org } : {};
  const r = await api('GET', 'departments/source' + (org ? '?org=' + encodeURIComponent(org) : ''));
  if (!r.ok) return h('section', { class: 'card' }, h('p', { class: 'notice bad' }, r.data.error));
  const st = r.data.status;
  const settings = st ? st.settings : null;
  const result = h('div', { id: 'sync-result', role: 'status' });
  const show = (...c) => result.replaceChildren(...c);
  const run = async (mode, btn) => {
    btn.disabled = true;
    show(h('p', { class: 'muted' }, mode === 'dry_run' ? 'Fetching the source…' : 'Syncing…'));
    const res = await api('POST', 'departments/sync', { mode, ...orgBody });
    btn.disabled = false;
    if (!res.ok) { show(h('p', { class: 'notice bad' }, res.data.error)); return; }
    const d = res.data;
    const words = {
      not_modified: 'Not modified since the last sync: nothing to do.', unchanged: 'The source lists exactly the stored names: nothing to do.',
      applied: 'Applied.', held: 'Held for approval: ', would_apply: 'Dry run: this would be applied.', would_hold: 'Dry run: this would be held for approval: ', approved: 'Approved and applied.',
    };
    show(h('p', { class: 'notice' + (d.outcome === 'held' ? ' bad' : '') }, words[d.outcome] || d.outcome, d.reason || ''), syncDiff(d));
    if (['applied', 'held', 'approved'].includes(d.outcome)) setTimeout(reload, 1500);
  };

  const status = st ? h('div', { id: 'sync-status' },
    h('p', {}, h('strong', {}, 'Source: '), st.source),
    h('p', {}, `Last success: ${fmtTime(st.last_success)} `, st.last_success ? `(${fmtAge(st.age_secs)} ago)` : '', st.stale ? h('strong', { class: 'error' }, ' — STALE: decisions use the last good copy') : ''),
    h('p', { class: 'muted' }, `Every ${Math.round(settings.every_secs / 60)} min; next attempt ${fmtTime(st.next_attempt)}. Last change: ${fmtTime(st.last_change)}${st.last_change ? ` (${st.last_added} added, ${st.last_removed} removed)` : ''}.`),
    st.last_error ? h('p', { class: 'notice bad' }, `Last attempt failed (${st.failures} in a row): ${st.last_error}. The list is unchanged.`) : null,
    st.held ? h('div', { class: 'notice bad', id: 'sync-held' },
      h('p', {}, h('strong', {}, `Held since ${fmtTime(st.held.at)}: `), st.held.reason),
      syncDiff(st.held),
      h('div', { class: 'actions' }, h('button', {
        type: 'button', 'data-approve': '',
        onclick: (e) => { if (confirm(`Apply this sync? ${st.held.removed.length} department(s) will be removed.`)) run('approve', e.target); },
      }, 'Approve and apply'))) : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-sync-now': '', onclick: (e) => run('sync', e.target) }, 'Sync now'),
      h('button', { type: 'button', class: 'secondary', 'data-dry-run': '', onclick: (e) => run('dry_run', e.target) }, 'Show the diff (dry run)'),
      h('button', {
        type: 'button', class: 'danger', 'data-source-off': '',
        onclick: async () => {
          if (!confirm('Stop syncing? The list stays as it is and is kept by hand from now on.')) return;
          const res = await api('POST', 'departments/source-remove', orgBody);
          if (res.ok) reload(); else alert(res.data.error);
        },
      }, 'Stop syncing')),
    result) : h('p', { class: 'muted', id: 'sync-status' }, 'This list is kept by hand. Set a source below to keep it in step with the company directory instead.');

  let kind = settings ? settings.source.kind : 'http';
  const kindFields = h('div', {}, sourceFields(kind, settings && settings.source));
  const form = apiForm({ 'aria-label': 'Department source' }, [
    field({
      name: 'kind', label: 'Source', value: kind, options: [['http', 'HTTP(S) API (JSON or CSV)'], ['ldap', 'LDAP / Active Directory']],
      attrs: { onchange: (e) => { kind = e.target.value; kindFields.replaceChildren(...sourceFields(kind, settings && settings.source)); } },
    }),
    kindFields,
    h('div', { class: 'grid' },
      field({ name: 'every', label: 'Sync every (minutes)', type: 'number', value: settings ? settings.every_secs / 60 : 15 }),
      field({ name: 'stale_after', label: 'Mail the security team when older than (minutes)', type: 'number', value: settings ? settings.stale_after_secs / 60 : 60 }),
      field({ name: 'max_removal_percent', label: 'Hold a sync removing more than (%)', type: 'number', value: settings ? settings.max_removal_percent : 20 })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, settings ? 'Save the source' : 'Sync from this source')),
  ], (f) => api('POST', 'departments/source', { settings: sourceBody(f, kind), ...orgBody }), () => reload());

  return h('section', { class: 'card', 'aria-labelledby': 'h-sync' },
    h('h2', { id: 'h-sync' }, 'Sync from the company directory'),
    h('p', { class: 'muted' }, 'Decisions always use the stored list; a sync keeps it in step with the source, applied whole, and a failing source never changes it. A sync that would empty the list or remove more than the set share waits for your approval.'),
    status,
    h('details', { open: !settings }, h('summary', {}, settings ? 'Change the source' : 'Set a source'), form));
}

// ---------- Notifications ----------

pages.notifications = async () => {
  const r = await api('GET', 'notifications');
  if (!r.ok) { page('Notifications', h('p', { class: 'notice bad' }, r.data.error)); return; }
  const n = r.data;
  const s = n.smtp || { port: 587, encryption: 'starttls', timeout_ms: 3000 };
  const reload = () => pages.notifications();

  const recipients = apiForm({ 'aria-label': 'Recipients' }, [
    field({ name: 'recipients', label: 'Security-team addresses, one a line', type: 'textarea', rows: 4, value: n.recipients.join('\n') }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save recipients')),
  ], (f) => api('POST', 'notifications/recipients', { recipients: val(f, 'recipients').split('\n') }), (d, f) => notice(f, 'Saved.'));

  const smtp = apiForm({ 'aria-label': 'SMTP server' }, [
    field({ name: 'host', label: 'Host', value: s.host }),
    field({ name: 'port', label: 'Port', type: 'number', value: s.port }),
    field({ name: 'encryption', label: 'Encryption', value: s.encryption, options: [['starttls', 'STARTTLS (usually port 587)'], ['tls', 'TLS from the start (usually port 465)'], ['none', 'None (a relay on this host)']] }),
    field({ name: 'username', label: 'Username (empty: no login)', value: s.username || '' }),
    field({ name: 'password', label: 'Password', type: 'password', attrs: { autocomplete: 'new-password', placeholder: s.password_set ? 'unchanged (stored, never shown)' : '' } }),
    s.password_set ? field({ name: 'clear_password', label: 'Forget the stored password', type: 'checkbox' }) : null,
    field({ name: 'from', label: 'From address', value: s.from || '' }),
    field({ name: 'timeout_ms', label: 'Timeout (ms, 100–4000)', type: 'number', value: s.timeout_ms }),
    field({ name: 'tls_ca_pem', label: 'Extra CA certificate (PEM), for a relay with a private CA', type: 'textarea', rows: 3, value: s.tls_ca_pem || '' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save SMTP settings')),
  ], (f) => api('POST', 'notifications/smtp', {
    host: val(f, 'host'), port: Number(val(f, 'port')), encryption: val(f, 'encryption'),
    username: val(f, 'username'), password: val(f, 'password') || undefined,
    clear_password: !!val(f, 'clear_password'), from: val(f, 'from'),
    timeout_ms: Number(val(f, 'timeout_ms')), tls_ca_pem: val(f, 'tls_ca_pem'),
  }), (d, f) => { notice(f, 'Saved. Send a test message to check them.'); });

  const test = apiForm({ 'aria-label': 'Send a test e-mail' }, [
    h('p', { class: 'muted' }, n.smtp_tested ? `Last successful test with these settings: ${fmtTime(n.smtp_tested)}.` : 'No test message has gone out with these settings yet.'),
    field({ name: 'to', label: 'Send to (empty: the recipients)', type: 'email' }),
    h('div', { 'data-field': 'test' }, h('p', { class: 'error', role: 'alert', id: 'test-result' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Send test email')),
  ], (f) => api('POST', 'notifications/test', { to: val(f, 'to') || undefined }), (d, f) => notice(f, `Sent to ${d.to.join(', ')}.`));

  const sensitive = apiForm({ 'aria-label': 'Sensitive claims' }, [
    field({ name: 'claims', label: 'Claims whose change is reported, one URI a line', type: 'textarea', rows: 6, value: n.sensitive.join('\n') }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save claims')),
  ], (f) => api('POST', 'notifications/sensitive', { claims: val(f, 'claims').split('\n') }), (d, f) => notice(f, 'Saved.'));

  const mode = apiForm({ 'aria-label': 'Delivery mode' }, [
    h('fieldset', { 'data-field': 'mode' }, h('legend', {}, 'When is the e-mail sent?'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'mode', value: 'blocking', checked: n.mode === 'blocking' }), 'Before answering; if it fails, the update is refused (email_error)'),
      h('br'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'mode', value: 'queued', checked: n.mode === 'queued' }), 'Queued durably with the decision, delivered in the background with retries'),
      h('p', { class: 'error', role: 'alert' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save mode')),
  ], (f) => api('POST', 'notifications/mode', { mode: f.querySelector('[name=mode]:checked').value }), (d, f) => notice(f, 'Saved.'));

  const o = n.outbox;
  const retry = async (id) => {
    const res = await api('POST', 'outbox/retry', id === undefined ? {} : { id });
    if (res.ok) reload(); else alert(res.data.error);
  };
  const outbox = h('section', { class: 'card', 'aria-labelledby': 'h-outbox' },
    h('h2', { id: 'h-outbox' }, 'Outbox'),
    h('p', {}, `${o.pending} waiting, ${o.failed} failed.`, o.oldest_pending ? ` Oldest waiting since ${fmtTime(o.oldest_pending)}.` : ''),
    o.failed ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => retry() }, 'Retry all failed now')) : null,
    o.items.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Id', 'Status', 'Queued', 'Request', 'Attempts', 'Last error', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, o.items.map((it) => h('tr', {},
        h('td', {}, it.id), h('td', {}, it.status), h('td', {}, fmtTime(it.created)), h('td', {}, it.request_id || '—'),
        h('td', {}, it.attempts), h('td', {}, it.last_error || '—'),
        h('td', {}, it.status === 'failed' ? h('button', { type: 'button', class: 'secondary', onclick: () => retry(it.id) }, 'Retry now') : (it.next_attempt ? `next ${fmtTime(it.next_attempt)}` : '')))))) : h('p', { class: 'muted' }, 'Empty.'));

  page('Notifications',
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Recipients'), recipients, h('h2', {}, 'Test'), test),
      h('section', { class: 'card' }, h('h2', {}, 'SMTP server'), smtp)),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Sensitive claims'), sensitive),
      h('section', { class: 'card' }, h('h2', {}, 'Delivery'), mode)),
    outbox);
};

// ---------- Endpoint ----------

pages.endpoint = async () => {
  const r = await api('GET', 'endpoint');
  if (!r.ok) { page('Endpoint', h('p', { class: 'notice bad' }, r.data.error)); return; }
  const e = r.data;
  const reload = () => pages.endpoint();
  const secretBox = h('div', { id: 'new-secret' });

  const showCreated = (d) => {
    const rows = Object.entries(d).filter(([k]) => k !== 'id');
    const secretKey = ['password', 'accessToken', 'value', 'clientSecret'].find((k) => d[k]);
    document.getElementById('new-secret').replaceChildren(h('div', { class: 'secret', role: 'status' },
      h('div', {}, h('strong', {}, `Credential ${d.id} created. `), 'Copy the secret now: it is shown only once and stored only as a hash.',
        h('table', {}, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, h('code', { 'data-prop': k }, v))))))),
      secretKey ? copyButton(() => d[secretKey], 'Copy secret') : null));
  };

  const credRows = e.credentials.map((c) => h('tr', {},
    h('td', {}, h('code', {}, c.id)), h('td', {}, c.type + (c.kind.username ? ` (user ${c.kind.username})` : '') + (c.kind.header ? ` (header ${c.kind.header})` : '')
      + (c.kind.client_id ? ` (client id ${c.kind.client_id}, token endpoint: profilegate)` : '') + (c.kind.type === 'JWT' ? ` (JWT from ${c.kind.issuer}, audience ${c.kind.audience})` : '')),
    h('td', {}, fmtTime(c.created)), h('td', {}, c.last_used ? fmtTime(c.last_used) : 'never'),
    h('td', {},
      c.kind.type === 'JWT' ? null : h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => {
          const body = { type: c.type, username: c.kind.username, header: c.kind.header };
          const res = await api('POST', 'credentials', body);
          if (!res.ok) { alert(res.data.error); return; }
          await reload();
          showCreated(res.data);
          document.getElementById('new-secret').prepend(h('p', {}, `Rotation: enter the new secret in WSO2, check that calls use it ("last used"), then revoke ${c.id}.`));
        },
      }, 'Rotate'), ' ',
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (!confirm(`Revoke ${c.id}? Calls with it are refused from now on.`)) return;
          const res = await api('DELETE', 'credentials/' + encodeURIComponent(c.id));
          if (res.ok) reload(); else alert(res.data.error);
        },
      }, 'Revoke'))));

  const create = apiForm({ 'aria-label': 'Create a credential' }, [
    field({ name: 'type', label: 'Type', options: [['basic', 'Basic (username and password)'], ['bearer', 'Bearer token'], ['api-key', 'API key in a header'],
      ['client-credential', 'Client Credential (OAuth), profilegate as token endpoint'], ['jwt', 'Client Credential (OAuth), your identity provider as token endpoint (JWT)']] }),
    field({ name: 'username', label: 'Username (Basic)', value: 'profilegate' }),
    field({ name: 'header', label: 'Header name (API key)', value: 'x-api-key' }),
    h('p', { class: 'muted' }, 'Client Credential: the identity server fetches an access token from a token endpoint with a client id and secret, then calls with it. With profilegate as token endpoint, profilegate gives the client id, secret and token endpoint. With your identity provider (e.g. WSO2 IS, an application with the client credentials grant and JWT access tokens), give its issuer, the audience (the application\'s client id), an optional scope and its JWKS URL (WSO2 IS: https://<host>:9443/oauth2/token and https://<host>:9443/oauth2/jwks).'),
    field({ name: 'issuer', label: 'Issuer (JWT)', value: '' }),
    field({ name: 'audience', label: 'Audience (JWT)', value: '' }),
    field({ name: 'scope', label: 'Required scope (JWT, optional)', value: '' }),
    field({ name: 'jwks_url', label: 'JWKS URL (JWT, https)', value: '' }),
    field({ name: 'tls_ca_pem', label: 'CA certificate PEM for the JWKS URL (JWT, optional)', type: 'textarea', rows: 3, value: '' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create credential')),
  ], (f) => api('POST', 'credentials', { type: val(f, 'type'), username: val(f, 'username'), header: val(f, 'header'),
    ...(val(f, 'type') === 'jwt' ? { issuer: val(f, 'issuer'), audience: val(f, 'audience'), scope: val(f, 'scope'), jwks_url: val(f, 'jwks_url'), tls_ca_pem: val(f, 'tls_ca_pem') } : {}) }),
  async (d) => { await reload(); showCreated(d); });

  const auth = apiForm({ 'aria-label': 'Authentication' }, [
    field({ name: 'auth', label: 'Callers must authenticate', value: e.auth, options: [['required', 'Yes: a valid credential is required'], ['none', 'No: anyone who can reach the endpoint (not recommended)']] }),
    e.auth === 'none' ? h('p', { class: 'notice bad' }, 'Authentication is OFF.') : null,
    field({ name: 'token_lifetime_secs', label: `Access-token lifetime in seconds (tokens from ${e.token_url})`, value: String(e.token_lifetime_secs) }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save')),
  ], (f) => api('POST', 'endpoint/auth', { auth: val(f, 'auth'), token_lifetime_secs: Number(val(f, 'token_lifetime_secs')) }), () => reload());

  const out = h('div', { id: 'registration' });
  const register = apiForm({ 'aria-label': 'Register in WSO2' }, [
    field({ name: 'name', label: 'Action name', value: e.default_name }),
    field({ name: 'url', label: 'Endpoint URL as the identity server reaches it', value: e.default_url }),
    field({ name: 'credential', label: 'Credential', value: e.credentials.length ? e.credentials[e.credentials.length - 1].id : '', options: e.credentials.length ? e.credentials.map((c) => [c.id, `${c.id} (${c.type})`]) : [['', 'none yet']] }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show the values')),
  ], (f) => api('GET', `endpoint/registration?name=${encodeURIComponent(val(f, 'name'))}&url=${encodeURIComponent(val(f, 'url'))}&credential=${encodeURIComponent(val(f, 'credential') || '')}`),
  (d) => {
    const json = JSON.stringify(d.rest_body, null, 2);
    out.replaceChildren(
      ...d.notes.map((t) => h('p', { class: 'notice warn' }, t)),
      h('h2', {}, 'In the console (Actions → Pre Update Profile)'),
      h('table', {}, h('tbody', {},
        h('tr', {}, h('th', { scope: 'row' }, 'Action name'), h('td', {}, h('code', {}, d.name))),
        h('tr', {}, h('th', { scope: 'row' }, 'Endpoint'), h('td', {}, h('code', {}, d.endpoint_url))),
        h('tr', {}, h('th', { scope: 'row' }, 'Authentication'), h('td', {}, h('code', {}, d.authentication_type))),
        Object.entries(d.properties).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, h('code', {}, v)))),
        h('tr', {}, h('th', { scope: 'row' }, 'Attributes to share'), h('td', {}, d.attributes.map((a) => h('div', {}, h('code', {}, a))))))),
      h('h2', {}, 'With the Action Management REST API'),
      h('p', {}, 'POST this to ', h('code', {}, 'https://<identity-server>/t/<tenant>/api/server/v1/actions/preUpdateProfile'), ' (scope internal_action_mgt_create), then activate it with ', h('code', {}, 'POST …/preUpdateProfile/<id>/activate'), '. Put the secret in place of the placeholder.'),
      h('pre', { id: 'rest-body' }, json),
      h('div', { class: 'actions' }, copyButton(() => json, 'Copy JSON')));
  });

  page('Endpoint',
    h('section', { class: 'card' }, h('h2', {}, 'Credentials'),
      h('p', { class: 'muted' }, 'At most two are active: the one in use and its replacement while you rotate.'),
      secretBox,
      e.credentials.length ? h('table', {},
        h('thead', {}, h('tr', {}, ['Id', 'Type', 'Created', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, credRows)) : h('p', { class: 'notice warn' }, 'No credential yet: every call is refused with 401.')),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'New credential'), create),
      h('section', { class: 'card' }, h('h2', {}, 'Authentication'), auth)),
    h('section', { class: 'card' }, h('h2', {}, 'Register in WSO2'),
      h('p', { class: 'muted' }, 'These values register the pre-update-profile action. The pre-update-password action has its own on the ', h('a', { href: '#password' }, 'Password policy'), ' page.'),
      register, out));
};

// ---------- Audit log ----------

function diffTable(rows) {
  return h('table', { class: 'diff' },
    h('thead', {}, h('tr', {}, ['What', 'Before', 'After'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map(([k, a, b]) => h('tr', {}, h('td', {}, k), h('td', { class: 'old' }, a), h('td', { class: 'new' }, b)))));
}

const show = (v) => (v === undefined || v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The before → after of a record: claim values for decisions, changed settings for admins. */
function recordDetail(r) {
  let rows;
  if (r.kind === 'decision') {
    rows = (r.claims || []).map((c) => [c.uri, c.old === undefined ? '(not shared with the action)' : show(c.old), show(c.new)]);
  } else {
    const before = r.before || {}; const after = r.after || {};
    const flat = (o, p, out) => {
      if (o && typeof o === 'object' && !Array.isArray(o)) Object.entries(o).forEach(([k, v]) => flat(v, p ? `${p}.${k}` : k, out));
      else out[p || '(value)'] = o;
      return out;
    };
    const fb = flat(before, '', {}); const fa = flat(after, '', {});
    rows = [...new Set([...Object.keys(fb), ...Object.keys(fa)])]
      .filter((k) => JSON.stringify(fb[k]) !== JSON.stringify(fa[k]))
      .map((k) => [k, show(fb[k]), show(fa[k])]);
  }
  const { claims, before, after, ...rest } = r;
  return h('div', { id: 'record-detail' },
    h('h2', {}, `Record ${r.seq}`),
    rows.length ? diffTable(rows) : h('p', { class: 'muted' }, 'No before → after values in this record.'),
    h('details', {}, h('summary', {}, 'The whole record'), h('pre', {}, JSON.stringify(rest, null, 2))));
}

// ---------- Audit: retention and archive files ----------

const fmtBytes = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : n < 1073741824 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1073741824).toFixed(2)} GiB`);

/** The retention in words, as the server applies it (service::retention). */
function retentionWords(s) {
  const st = s.settings;
  if (st.keep_days == null && st.keep_records == null) return 'Off: every record stays in the live database.';
  const parts = [];
  if (st.keep_days != null) parts.push(`a month's records are archived once the month ended more than ${st.keep_days} day(s) ago`);
  if (st.keep_records != null) parts.push(`the oldest are archived while more than ${st.keep_records} record(s) are live`);
  return `On: ${parts.join('; and ')}. Nothing younger than a day is archived. The server runs it every hour.`;
}

/** What an archive run did, or (dry) would do. */
function archiveOutcome(o) {
  if (!o.records) return h('p', { class: 'notice' }, o.dry_run ? 'Dry run: nothing would be archived now.' : 'Nothing to archive now.');
  return h('div', {},
    h('p', { class: 'notice' }, o.dry_run
      ? `Dry run: ${o.records} record(s) would go to ${o.files.length} file(s) in ${o.dir}${o.more ? ' in the first pass; more are due after it' : ''}.`
      : `Archived ${o.records} record(s) in ${o.files.length} file(s) to ${o.dir}${o.record_seq ? ` (audit record ${o.record_seq})` : ''}.`),
    h('ul', {}, o.files.map((f) => h('li', {}, `${f.period}: ${f.name}, records ${f.first_seq}..${f.last_seq} (${f.records})`))));
}

/** Every archive file as recorded at its cut, and whether the directory still has it. */
function archivesTable(list) {
  if (!list.length) return h('p', { class: 'muted', id: 'archive-files' }, 'No archive files yet.');
  return h('table', { class: 'archives', id: 'archive-files' },
    h('thead', {}, h('tr', {}, ['Period', 'File', 'Records', 'Count', 'SHA-256', 'File state'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, list.map((a) => h('tr', {},
      h('td', {}, a.file.period), h('td', {}, h('code', {}, a.file.name)),
      h('td', {}, `${a.file.first_seq}..${a.file.last_seq}`), h('td', {}, a.file.records),
      h('td', {}, h('code', { class: 'fp' }, a.file.sha256 || '—')),
      h('td', {}, a.present ? 'in the directory' : h('strong', { class: 'error' }, 'missing from the directory'))))));
}

/** The Audit page's "Retention and archives" card; redrawn in place after each change. */
async function drawRetention(card, outcome) {
  const r = await api('GET', 'audit/retention');
  if (!r.ok) { card.replaceChildren(h('h2', {}, 'Retention and archives'), h('p', { class: 'notice bad' }, r.data.error)); return; }
  const s = r.data;
  const redraw = (o) => drawRetention(card, o);
  const num = (f, name) => { const v = (val(f, name) || '').trim(); return v === '' ? null : Number(v); };
  const form = apiForm({ 'aria-label': 'Audit retention' }, [
    h('div', { class: 'grid' },
      field({ name: 'keep_days', label: 'Keep days (empty: no age limit)', type: 'number', value: s.settings.keep_days ?? '', attrs: { min: 1 } }),
      field({ name: 'keep_records', label: 'Keep records (empty: no count limit; at least 1000)', type: 'number', value: s.settings.keep_records ?? '', attrs: { min: 1000 } })),
    field({ name: 'dir', label: 'Archive directory (absolute path)', value: s.settings.dir || '', help: `Empty: keep the current one (${s.dir}).` }),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Save the retention'),
      h('button', {
        type: 'button', class: 'danger', 'data-retention-off': '',
        onclick: async () => {
          if (!confirm('Switch the retention off? Every record stays live from now on; archive files already written stay.')) return;
          const res = await api('POST', 'audit/retention', { off: true });
          if (res.ok) redraw(); else notice(form, res.data.error, 'bad');
        },
      }, 'Switch off')),
  ], (f) => {
    const dir = (val(f, 'dir') || '').trim();
    return api('POST', 'audit/retention', { keep_days: num(f, 'keep_days'), keep_records: num(f, 'keep_records'), archive_dir: dir === '' ? null : dir });
  }, () => redraw(h('p', { class: 'notice' }, 'Saved.')));

  const result = h('div', { id: 'archive-result', role: 'status' }, outcome || null);
  const run = async (dryRun, btn) => {
    btn.disabled = true;
    result.replaceChildren(h('p', { class: 'muted' }, dryRun ? 'Looking for records to archive…' : 'Archiving…'));
    const res = await api('POST', 'audit/archive', { dry_run: dryRun });
    btn.disabled = false;
    if (!res.ok) { result.replaceChildren(h('p', { class: 'notice bad' }, res.data.error)); return; }
    if (dryRun || !res.data.records) result.replaceChildren(archiveOutcome(res.data));
    else redraw(archiveOutcome(res.data));
  };

  card.replaceChildren(
    h('h2', { id: 'h-retention' }, 'Retention and archives'),
    h('div', { id: 'retention-status' },
      h('p', {}, retentionWords(s)),
      h('p', {}, `${s.live_records} record(s) live; chain head ${s.head}`,
        s.base ? `; archived through record ${s.base.seq}` : '', `. Database size ${fmtBytes(s.db_bytes)}. Archive directory ${s.dir}.`)),
    h('details', { open: s.settings.keep_days == null && s.settings.keep_records == null },
      h('summary', {}, 'Change the retention'), form),
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-archive-now': '', onclick: (e) => run(false, e.target) }, 'Archive now'),
      h('button', { type: 'button', class: 'secondary', 'data-archive-dry': '', onclick: (e) => run(true, e.target) }, 'Dry run')),
    result,
    h('h3', {}, 'Archive files'),
    archivesTable(s.archives),
    h('p', { class: 'muted' }, '`profilegate audit verify --archives DIR` checks the archive files and the live chain as one chain.'));
}

pages.audit = async () => {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const q = new URLSearchParams();
  for (const k of ['user', 'claim', 'decision', 'org', 'from', 'to', 'before']) if (params.get(k)) q.set(k, params.get(k));
  const [r, seen] = await Promise.all([api('GET', 'audit?' + q.toString()), seenOrgs()]);
  const detail = h('div', {});
  const openRecord = (rec) => { const d = recordDetail(rec); detail.replaceChildren(d); d.querySelector('h2').setAttribute('tabindex', '-1'); d.querySelector('h2').focus(); };

  const filters = h('form', {
    'aria-label': 'Filters',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const k of ['user', 'claim', 'decision', 'org', 'from', 'to']) { const v = ev.target.elements[k].value.trim(); if (v) p.set(k, v); }
      location.hash = '#audit' + (p.toString() ? '?' + p.toString() : '');
    },
  }, h('p', { class: 'notice form-notice', role: 'status' }), h('div', { class: 'filters' },
    field({ name: 'user', label: 'User id', value: params.get('user') || '' }),
    field({ name: 'claim', label: 'Claim URI', value: params.get('claim') || '' }),
    field({ name: 'decision', label: 'Decision', value: params.get('decision') || '', options: [['', 'any'], ['SUCCESS', 'SUCCESS'], ['FAILED', 'FAILED'], ['ERROR', 'ERROR'], ['admin', 'admin changes']] }),
    field({ name: 'org', label: 'Organization (id or name)', value: params.get('org') || '', attrs: { list: 'audit-orgs' } }),
    orgDatalist('audit-orgs', seen),
    field({ name: 'from', label: 'From (YYYY-MM-DD or RFC 3339)', value: params.get('from') || '' }),
    field({ name: 'to', label: 'To (inclusive date or RFC 3339)', value: params.get('to') || '' })),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: '#audit' }, 'Clear')));
  if (!r.ok) showError(filters, r.data);

  const verifyOut = h('p', { role: 'status', id: 'verify-result' });
  const verify = h('button', {
    type: 'button', class: 'secondary',
    onclick: async () => {
      verifyOut.className = 'notice'; verifyOut.textContent = 'Verifying…';
      const v = await api('GET', 'audit/verify');
      if (!v.ok) { verifyOut.className = 'notice bad'; verifyOut.textContent = v.data.error; return; }
      verifyOut.className = v.data.ok ? 'notice' : 'notice bad';
      verifyOut.textContent = v.data.ok
        ? `Chain intact: ${v.data.records} record(s) verified.`
        : `Chain BROKEN at record ${v.data.first_bad.seq}: ${v.data.first_bad.problem} (${v.data.records} record(s) before it are intact).`;
    },
  }, 'Verify chain');

  // The chain's anchor outside the host: the public key to keep elsewhere and the latest
  // signed checkpoint, for `profilegate audit verify --checkpoint LINE --public-key KEY`.
  const cp = await api('GET', 'audit/checkpoint');
  const anchorBox = h('section', { class: 'card', id: 'audit-anchor' },
    h('h2', {}, 'Signed checkpoint'),
    cp.ok
      ? h('table', { class: 'copyable' }, h('tbody', {},
        copyRow('Public key', cp.data.public_key, 'anchor-public-key'),
        copyRow('Latest checkpoint', cp.data.line, 'anchor-line')))
      : h('p', { class: 'notice bad' }, cp.data.error),
    h('p', { class: 'muted' }, 'Keep the public key somewhere other than this server. Every security-team e-mail ends with a checkpoint line; `profilegate audit verify --checkpoint LINE --public-key KEY` shows whether the chain still holds it.'));

  // Records archived: the list ends at the base; say so, so that paging back is no surprise.
  const ret = await api('GET', 'audit/retention');
  const base = ret.ok && ret.data.base ? ret.data.base.seq : null;
  const archivedNote = base ? h('p', { class: 'notice warn', id: 'archived-note' }, `Records 1 to ${base} are in the archive files (see Retention and archives below); this list starts at record ${base + 1}.`) : null;
  const retentionBox = h('section', { class: 'card', id: 'audit-retention', 'aria-labelledby': 'h-retention' });
  const records = r.ok ? r.data.records : [];
  const older = r.ok && r.data.next_before ? (() => { const p = new URLSearchParams(params); p.set('before', r.data.next_before); return h('a', { href: '#audit?' + p.toString() }, 'Older records →'); })() : null;
  page('Audit log',
    h('section', { class: 'card' }, filters),
    h('section', { class: 'card' },
      h('div', { class: 'actions' }, verify, h('a', { href: '/admin/api/audit/export', download: '' }, 'Export NDJSON'), params.get('before') ? h('a', { href: '#audit' }, 'Newest') : null, older),
      verifyOut,
      archivedNote,
      records.length ? recordsTable(records, openRecord) : h('p', { class: 'muted' }, 'No matching records.'),
      h('p', { class: 'muted' }, 'Select a record to see its before → after.')),
    h('section', { class: 'card', 'aria-live': 'polite' }, detail),
    anchorBox,
    retentionBox);
  await drawRetention(retentionBox);
};

// ---------- Settings ----------

pages.settings = async () => {
  const r = await api('GET', 'settings');
  if (!r.ok) { page('Settings', h('p', { class: 'notice bad' }, r.data.error)); return; }
  const st = r.data;

  const password = apiForm({ 'aria-label': 'Change the admin password' }, [
    field({ name: 'current', label: 'Current password', type: 'password', attrs: { autocomplete: 'current-password' } }),
    field({ name: 'new', label: 'New password (at least 12 characters)', type: 'password', attrs: { autocomplete: 'new-password' } }),
    field({ name: 'confirm', label: 'Repeat the new password', type: 'password', attrs: { autocomplete: 'new-password' } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Change password')),
  ], async (f) => {
    if (val(f, 'new') !== val(f, 'confirm')) return { ok: false, data: { error: 'the two passwords differ', field: 'confirm' } };
    return api('POST', 'password', { current: val(f, 'current'), new: val(f, 'new') });
  }, (d, f) => { f.reset(); notice(f, 'Changed. Other sessions have been logged out.'); });

  const rules = [
    ['invalid_department', 'Department not in the directory'],
    ['notification_failed', 'Security team could not be notified (blocking mode)'],
    ['invalid_action_type', 'Wrong action type'],
  ];
  const messageFields = (m) => rules.flatMap(([k, label]) => [
    h('h3', {}, label),
    field({ name: `messages.${k}.reason`, label: 'Reason code (failureReason, at most 100 characters)', value: m[k].reason }),
    field({ name: `messages.${k}.description`, label: 'Message the user sees (failureDescription, at most 300 characters)', value: m[k].description }),
  ]);
  const policy = apiForm({ 'aria-label': 'Policy' }, [
    field({ name: 'department_match', label: 'Department match', value: st.department_match, options: [['exact', 'Exact (as typed)'], ['case-insensitive', 'Ignore upper/lower case']] }),
    h('p', { class: 'muted' }, 'Failure messages may use letters, digits, spaces and - _ . ! ? ; : \' ( ) [ ] only: the identity server rejects anything else.'),
    messageFields(st.messages),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Save'),
      h('button', {
        type: 'button', class: 'secondary',
        onclick: (ev) => {
          const f = ev.target.closest('form');
          for (const [k] of rules) for (const part of ['reason', 'description']) f.querySelector(`[name="messages.${k}.${part}"]`).value = st.defaults[k][part];
          notice(f, 'Defaults filled in; save to apply them.', 'warn');
        },
      }, 'Fill in the defaults')),
  ], (f) => {
    const messages = {};
    for (const [k] of rules) messages[k] = { reason: val(f, `messages.${k}.reason`), description: val(f, `messages.${k}.description`) };
    return api('POST', 'settings', { department_match: val(f, 'department_match'), messages });
  }, (d, f) => notice(f, 'Saved. New decisions use these settings.'));

  page('Settings',
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Admin password'), password),
      h('section', { class: 'card' }, h('h2', {}, 'Policy'), policy)));
};

// ---------- Try an event ----------

/** The claims of a pasted event's `event.request.claims`, or [] when it does not parse. */
function eventClaims(text) {
  try { return JSON.parse(text)?.event?.request?.claims || []; } catch (e) { return []; }
}

/** One simulated call: the answer, the rule, the e-mail and the audit record. */
function simulationCard(title, sim) {
  const pre = (v) => h('pre', { class: 'wrap' }, typeof v === 'string' ? v : JSON.stringify(v, null, 2));
  const mail = sim.mail
    ? [h('p', {}, `E-mail (${sim.mail.mode}) to ${sim.mail.recipients.join(', ')}: ${sim.mail.subject}`), pre(sim.mail.body)]
    : [h('p', {}, 'E-mail: none')];
  return h('section', { class: 'card sim-result', 'data-settings': sim.edited ? 'edited' : 'current' },
    h('h2', {}, title),
    h('p', { class: 'sim-decision' }, `${sim.decision} — HTTP ${sim.answer.status} at the ${sim.endpoint} endpoint`),
    pre(sim.answer.body),
    h('p', { class: 'sim-contract' }, sim.answer.contract_problems.length
      ? 'The identity server would refuse this answer: ' + sim.answer.contract_problems.join('; ')
      : 'The identity server accepts this answer.'),
    h('p', { class: 'sim-rule' }, `Rule: ${sim.rule || '—'}${sim.detail ? ' (' + sim.detail + ')' : ''}`),
    mail,
    h('h3', {}, sim.audit ? `Audit record (would be #${sim.next_seq})` : 'Audit record: none'),
    sim.audit ? pre(sim.audit) : null,
    h('ul', { class: 'muted' }, sim.notes.map((n) => h('li', {}, n))));
}

pages.simulate = async () => {
  const [samples, deps, notes, st, pw] = await Promise.all([
    api('GET', 'simulate/samples'), api('GET', 'departments'), api('GET', 'notifications'),
    api('GET', 'settings'), api('GET', 'password/policy')]);
  if (!samples.ok) { page('Try an event', h('p', { class: 'notice bad' }, samples.data.error)); return; }
  const list = samples.data.samples;
  const claims = h('div', { class: 'sim-claims' });
  const results = h('div', { class: 'grid sim-results' });
  const drawClaims = (form) => {
    claims.replaceChildren(...eventClaims(val(form, 'event')).map((c, i) => field({
      name: `claim.${i}`, label: c.uri,
      value: typeof c.value === 'string' ? c.value : JSON.stringify(c.value),
    })));
  };
  const edits = h('fieldset', { class: 'sim-edits', hidden: true },
    h('legend', {}, 'Settings as edited here (not saved)'),
    field({ name: 'overrides.departments', label: 'Departments of the root organization (one a line)', type: 'textarea', value: (deps.data?.names || []).join('\n') }),
    field({ name: 'overrides.sensitive', label: 'Sensitive claims (one URI a line)', type: 'textarea', value: (notes.data?.sensitive || []).join('\n') }),
    field({ name: 'overrides.messages', label: 'Profile failure messages (JSON)', type: 'textarea', rows: 8, value: JSON.stringify(st.data?.messages || {}, null, 2) }),
    field({ name: 'overrides.password_rules', label: 'Password rules of the event\'s organization (JSON)', type: 'textarea', rows: 8, value: JSON.stringify(pw.data?.rules || {}, null, 2) }));
  const lines = (form, name) => val(form, name).split('\n').map((l) => l.trim()).filter((l) => l);
  const overrides = (form) => {
    const o = { departments: { names: lines(form, 'overrides.departments') }, sensitive: lines(form, 'overrides.sensitive') };
    for (const k of ['messages', 'password_rules']) {
      try { o[k] = JSON.parse(val(form, `overrides.${k}`)); } catch (e) {
        return { error: { error: 'not valid JSON: ' + e.message, field: `overrides.${k}` } };
      }
    }
    return { o };
  };
  /** The pasted event with the claims as edited in the form. */
  const edited = (form) => {
    const text = val(form, 'event');
    let ev;
    try { ev = JSON.parse(text); } catch (e) { return text; }
    const cs = ev?.event?.request?.claims;
    if (!Array.isArray(cs)) return text;
    cs.forEach((c, i) => {
      const v = val(form, `claim.${i}`);
      if (v === undefined) return;
      if (v.startsWith('[')) { try { c.value = JSON.parse(v); return; } catch (e) { /* as text */ } }
      c.value = v;
    });
    return JSON.stringify(ev);
  };
  const form = apiForm({ 'aria-label': 'Try an event' }, [
    field({ name: 'sample', label: 'Sample event', value: '', options: [['', 'Paste your own below'], ...list.map((s) => [s.id, s.label])] }),
    field({ name: 'event', label: 'Event (the request body the identity server sends)', type: 'textarea', rows: 12 }),
    field({ name: 'endpoint', label: 'Endpoint', value: '', options: [['', 'From its actionType'], ['profile', 'Profile (/action)'], ['password', 'Password (/password-action)']] }),
    h('h3', {}, 'Claims'), claims,
    field({ name: 'compare', label: 'Compare current settings with settings as edited here (not saved)', type: 'checkbox' }),
    edits,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Try it')),
  ], async (f) => {
    results.replaceChildren();
    const base = { event: edited(f) };
    if (val(f, 'endpoint')) base.endpoint = val(f, 'endpoint');
    const current = await api('POST', 'simulate', base);
    if (!current.ok) return current;
    const cards = [simulationCard('Current settings', current.data)];
    if (val(f, 'compare')) {
      const o = overrides(f);
      if (o.error) return { ok: false, data: o.error };
      const other = await api('POST', 'simulate', { ...base, overrides: o.o });
      if (!other.ok) return other;
      cards.push(simulationCard('Settings as edited (not saved)', other.data));
    }
    results.replaceChildren(...cards);
    return { ok: true, data: null };
  }, (d, f) => notice(f, 'Simulated: nothing was written, sent or counted.'));
  form.querySelector('[name="sample"]').addEventListener('change', (ev) => {
    const s = list.find((x) => x.id === ev.target.value);
    if (s) form.querySelector('[name="event"]').value = s.event;
    drawClaims(form);
  });
  form.querySelector('[name="event"]').addEventListener('change', () => drawClaims(form));
  form.querySelector('[name="compare"]').addEventListener('change', (ev) => { edits.hidden = !ev.target.checked; });
  page('Try an event',
    h('p', { class: 'muted' }, 'A dry run through the action endpoints\' own decision: what the identity server would get back, which rule decided, the e-mail and the audit record. Nothing is written, sent or counted.'),
    h('section', { class: 'card' }, form), results);
};

// ---------- Password policy ----------

const pwMessageLabels = [
  ['too_short', 'Too short'], ['too_long', 'Too long'], ['common', 'Common password'],
  ['repetitive', 'Repetitive'], ['sequential', 'Sequential or keyboard row'],
  ['context_word', 'Name, e-mail or organization'], ['breached', 'Found in a breach'],
  ['breach_unavailable', 'Breach check unavailable (online check set to refuse)'],
];

const pwRuleNames = {
  min_length: 'minimum length', max_length: 'maximum length', common: 'common passwords',
  context_word: 'context words', context_contains: 'contains a context word',
  repetitive: 'repetitive', sequential: 'sequential', breached: 'breached passwords',
  breach_unavailable: 'breach check unavailable',
};
const ruleName = (r) => pwRuleNames[r] || r;

/** A value with its copy button, as a table row. */
function copyRow(label, value, id) {
  return h('tr', {}, h('th', { scope: 'row' }, label),
    h('td', {}, h('code', { id: id || null }, value)),
    h('td', {}, copyButton(() => value, 'Copy')));
}

/** A key's certificate: PEM and base64 of the PEM, each with a copy button. */
function keyCertificate(x) {
  return h('div', { class: 'keycert', role: 'status' },
    h('p', {}, h('strong', {}, `Certificate of key ${x.id}`), ` (RSA ${x.bits}, SHA-256 ${x.fingerprint})`),
    h('h3', {}, 'PEM'),
    h('pre', { id: 'key-pem' }, x.certificate_pem),
    h('div', { class: 'actions' }, copyButton(() => x.certificate_pem, 'Copy PEM')),
    h('h3', {}, 'Base64 of the PEM (passwordSharing.certificate in the REST API)'),
    h('pre', { id: 'key-base64' }, x.certificate_base64),
    h('div', { class: 'actions' }, copyButton(() => x.certificate_base64, 'Copy base64')));
}

pages.password = async () => {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const org = (params.get('org') || '').trim();
  const [pr, kr, cr, br] = await Promise.all([api('GET', 'password/policy'), api('GET', 'password/keys'), api('GET', 'credentials'), api('GET', 'password/breached')]);
  const failed = [pr, kr, cr, br].find((x) => !x.ok);
  if (failed) { page('Password policy', h('p', { class: 'notice bad' }, failed.data.error)); return; }
  const p = pr.data;
  const seen = await seenOrgs();
  const own = org ? p.orgs[org] : p.root;
  const rules = own || p.root;
  const reload = () => pages.password();
  const orgBody = () => (org ? { org } : {});

  // The rules: the root's, or one organization's own (starting from the root's when it has none).
  const orgForm = h('form', { class: 'actions org-picker', onsubmit: (e) => { e.preventDefault(); const v = e.target.elements.org.value.trim(); location.hash = '#password' + (v ? '?org=' + encodeURIComponent(v) : ''); } },
    h('label', { for: 'pw-org-pick' }, 'Organization'),
    h('input', { id: 'pw-org-pick', name: 'org', list: 'pw-orgs', value: org, placeholder: 'root (empty) or organization id' }),
    orgDatalist('pw-orgs', seen, Object.keys(p.orgs)),
    h('button', { type: 'submit', class: 'secondary' }, 'Show'));

  const fillRules = (f, r) => {
    const set = (name, v) => { const el = f.querySelector(`[name="${name}"]`); if (el.type === 'checkbox') el.checked = !!v; else el.value = v; };
    for (const k of ['factor_mode', 'min_length', 'max_length', 'common_passwords', 'patterns', 'context_words', 'context_contains', 'breached']) set(k, r[k]);
    set('extra_words', r.extra_words.join('\n'));
    for (const [k] of pwMessageLabels) for (const part of ['reason', 'description']) set(`messages.${k}.${part}`, r.messages[k][part]);
  };
  const rulesForm = apiForm({ 'aria-label': 'Password rules' }, [
    field({ name: 'factor_mode', label: 'The password is', value: rules.factor_mode, options: [['single-factor', 'the only factor (NIST minimum 15)'], ['mfa', 'one factor of MFA (NIST minimum 8)']] }),
    field({ name: 'min_length', label: 'Minimum length (characters, counted as Unicode code points)', type: 'number', value: rules.min_length }),
    field({ name: 'max_length', label: 'Maximum length (64 to 1024; longer passwords are refused, never cut)', type: 'number', value: rules.max_length }),
    field({ name: 'common_passwords', label: 'Refuse common passwords (the bundled list)', type: 'checkbox', value: rules.common_passwords }),
    field({ name: 'patterns', label: 'Refuse repetitive and sequential passwords (aaaa, abcabc, 12345, qwerty)', type: 'checkbox', value: rules.patterns }),
    field({ name: 'context_words', label: "Refuse the user's names, user name, e-mail, the organization's and the product's names", type: 'checkbox', value: rules.context_words }),
    field({ name: 'context_contains', label: 'Stricter: refuse a password that contains such a word (4 or more characters)', type: 'checkbox', value: rules.context_contains }),
    field({ name: 'breached', label: 'Refuse passwords found in a breach (the imported list, and the online check when on)', type: 'checkbox', value: rules.breached }),
    field({ name: 'extra_words', label: 'More words to refuse (brand or product names), one a line', type: 'textarea', rows: 3, value: rules.extra_words.join('\n') }),
    h('details', {}, h('summary', {}, 'Messages the user sees'),
      h('p', { class: 'muted' }, 'Letters, digits, spaces and - _ . ! ? ; : \' ( ) [ ] only: the identity server rejects anything else. [min] and [max] become the numbers in force.'),
      pwMessageLabels.map(([k, label]) => [
        h('h3', {}, label),
        field({ name: `messages.${k}.reason`, label: 'Reason code', value: rules.messages[k].reason }),
        field({ name: `messages.${k}.description`, label: 'Message', value: rules.messages[k].description }),
      ])),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, org ? 'Save the rules of this organization' : 'Save the root rules'),
      h('button', { type: 'button', class: 'secondary', onclick: (ev) => { const f = ev.target.closest('form'); fillRules(f, p.defaults); notice(f, 'Defaults filled in; save to apply them.', 'warn'); } }, 'Fill in the defaults'),
      org && own ? h('button', {
        type: 'button', class: 'danger', id: 'pw-remove-org',
        onclick: async (ev) => {
          const f = ev.target.closest('form');
          if (!confirm(`Remove the own rules of ${org}? It then uses the root rules.`)) return;
          clearErrors(f);
          const res = await api('POST', 'password/policy/remove', { org });
          if (res.ok) reload(); else showError(f, res.data);
        },
      }, 'Remove own rules') : null),
  ], async (f) => {
    const messages = {};
    for (const [k] of pwMessageLabels) messages[k] = { reason: val(f, `messages.${k}.reason`), description: val(f, `messages.${k}.description`) };
    for (const n of ['min_length', 'max_length']) {
      if (!/^\d{1,6}$/.test(val(f, n).trim())) return { ok: false, data: { error: 'enter a whole number', field: n } };
    }
    const num = (n) => Number(val(f, n).trim());
    const res = await api('POST', 'password/policy', {
      ...orgBody(),
      rules: {
        factor_mode: val(f, 'factor_mode'), min_length: num('min_length'), max_length: num('max_length'),
        common_passwords: val(f, 'common_passwords'), patterns: val(f, 'patterns'),
        context_words: val(f, 'context_words'), context_contains: val(f, 'context_contains'),
        breached: val(f, 'breached'),
        extra_words: val(f, 'extra_words').split('\n').map((w) => w.trim()).filter((w) => w),
        messages,
      },
    });
    // A refused message is inside the closed list: open it so the reason shows.
    if (!res.ok && (res.data.field || '').startsWith('messages.')) f.querySelector('details').open = true;
    return res;
  }, async (d, f) => {
    if (org && !own) { await reload(); notice(document.querySelector('form[aria-label="Password rules"]'), 'Saved. New password changes use these rules.'); return; }
    notice(f, 'Saved. New password changes use these rules.');
  });

  const mail = apiForm({ 'aria-label': 'Security-team e-mail' }, [
    h('fieldset', { 'data-field': 'notify' }, h('legend', {}, 'Mail the security team about password changes'),
      [['none', 'Never'], ['admin-initiated', 'When an administrator or an application changed the password'], ['all', 'Every password change']].map(([v, t]) => [
        h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'notify', value: v, checked: p.notify === v }), t), h('br')]),
      h('p', { class: 'error', role: 'alert' })),
    h('p', { class: 'muted' }, 'Through the recipients, SMTP server and delivery mode of the Notifications page.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save')),
  ], (f) => api('POST', 'password/notify', { notify: (f.querySelector('[name=notify]:checked') || {}).value }), (d, f) => notice(f, 'Saved.'));

  const on = p.online;
  const online = apiForm({ 'aria-label': 'Online breach check' }, [
    field({ name: 'enabled', label: 'Also ask an online range API (off by default)', type: 'checkbox', value: on.enabled }),
    field({ name: 'url', label: 'Range URL (the first 5 hex digits of the SHA-1 are appended)', value: on.url, attrs: { placeholder: 'https://range.example/range/' } }),
    field({ name: 'timeout_ms', label: 'Timeout (50 to 1000 ms; the identity server waits 5 s in all)', type: 'number', value: on.timeout_ms }),
    field({ name: 'fail_closed', label: 'Refuse the password when the source does not answer in time (otherwise accept it and note it in the audit log)', type: 'checkbox', value: on.fail_closed }),
    h('p', { class: 'muted' }, 'Asked only for a password every other rule accepted, with Add-Padding; only the hash prefix leaves this machine (k-anonymity). A HASH-form password cannot be checked.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save')),
  ], (f) => {
    if (!/^\d{1,6}$/.test(val(f, 'timeout_ms').trim())) return { ok: false, data: { error: 'enter a whole number of milliseconds', field: 'timeout_ms' } };
    return api('POST', 'password/online', { enabled: val(f, 'enabled'), url: val(f, 'url').trim(), timeout_ms: Number(val(f, 'timeout_ms').trim()), fail_closed: val(f, 'fail_closed') });
  }, (d, f) => notice(f, d.enabled ? 'Saved: the online check is on.' : 'Saved: the online check is off.'));

  // The offline filter: what is in use, and an upload to replace it.
  const filterInfo = (i) => (i
    ? `${i.entries.toLocaleString('en')} hashes (seen at least ${i.min_count} times) from ${i.source_name}, imported ${fmtTime(i.created)}; ${(i.file_bytes / 1048576).toFixed(1)} MiB, ${i.bytes_per_entry.toFixed(2)} bytes a hash, about 1 in ${Math.round(1 / i.false_positive_rate).toLocaleString('en')} unbreached passwords refused by mistake.`
    : 'No list imported: the rule is listed as not checked.');
  const filterStatus = h('p', { id: 'breached-status' }, filterInfo(br.data.loaded));
  const importForm = apiForm({ 'aria-label': 'Import a breached-password list' }, [
    field({ name: 'file', label: 'Pwned Passwords file (SHA1HEX:COUNT lines, or bare SHA-1 hashes), up to 8 GiB', type: 'file', attrs: { accept: '.txt,text/plain' } }),
    field({ name: 'min_count', label: 'Leave out hashes seen fewer times than', type: 'number', value: '1' }),
    h('p', { class: 'muted' }, 'The list in use stays until the new one is complete; a damaged file changes nothing. For the whole Pwned Passwords list, run profilegate password breached import FILE on the machine.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Import')),
  ], (f) => {
    const file = f.querySelector('[name=file]').files[0];
    if (!file) return { ok: false, data: { error: 'choose a file', field: 'file' } };
    if (!/^\d{1,9}$/.test(val(f, 'min_count').trim())) return { ok: false, data: { error: 'enter a whole number', field: 'min_count' } };
    notice(f, 'Uploading and importing…', 'warn');
    return upload('password/breached?' + new URLSearchParams({ min_count: val(f, 'min_count').trim(), name: file.name }).toString(), file);
  }, (d, f) => {
    filterStatus.textContent = filterInfo(d.imported);
    notice(f, `Imported ${d.imported.entries.toLocaleString('en')} hashes; in use now.`);
  });

  const tryOut = h('div', { id: 'try-result', 'aria-live': 'polite' });
  const tryForm = apiForm({ 'aria-label': 'Try a password' }, [
    field({ name: 'password', label: 'Password', type: 'password', attrs: { autocomplete: 'off' } }),
    field({ name: 'org', label: 'Organization (empty: root rules)', value: org, attrs: { list: 'pw-orgs' } }),
    h('details', {}, h('summary', {}, 'As this user (for the context-word rules)'),
      h('div', { class: 'filters' },
        field({ name: 'username', label: 'User name' }),
        field({ name: 'email', label: 'E-mail' }),
        field({ name: 'given_name', label: 'Given name' }),
        field({ name: 'family_name', label: 'Family name' }),
        field({ name: 'organization_name', label: 'Organization name' }))),
    h('p', { class: 'muted' }, 'Nothing is stored, logged or written to the audit log. The imported breached list is part of a try; the online check is not.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Try')),
    tryOut,
  ], (f) => {
    const context = {};
    for (const k of ['username', 'email', 'given_name', 'family_name', 'organization_name']) if (val(f, k)) context[k] = val(f, k);
    tryOut.replaceChildren();
    return api('POST', 'password/try', { password: val(f, 'password'), org: val(f, 'org') || undefined, context });
  }, (d) => {
    const whose = d.org ? (d.own ? `the rules of ${d.org}` : `the root rules (${d.org} has none of its own)`) : 'the root rules';
    tryOut.replaceChildren(
      d.accepted
        ? h('p', { class: 'notice', 'data-outcome': 'accepted' }, `Accepted by ${whose}.`)
        : h('div', { class: 'notice bad', 'data-outcome': 'rejected' },
          h('p', {}, 'Refused by the rule ', h('strong', { 'data-rule': d.rule }, ruleName(d.rule)), ` of ${whose}.`),
          h('p', {}, 'The user would see: ', h('q', {}, d.description), ' ', h('span', { class: 'muted' }, `(${d.reason})`))),
      h('p', { class: 'muted' }, `Rules checked: ${d.applied.map(ruleName).join(', ') || 'none'}.`,
        d.unchecked.length ? ` Not checked: ${d.unchecked.map(ruleName).join(', ')}.` : ''));
  });

  // Keys: generate, show the certificate (PEM and base64), retire.
  const certBox = h('div', { id: 'key-cert' });
  const showCert = (x) => { certBox.replaceChildren(keyCertificate(x)); };
  const keys = kr.data.keys;
  const active = keys.filter((k) => !k.retired);
  const keyRows = keys.map((k) => h('tr', { 'data-key': k.id },
    h('td', {}, h('code', {}, k.id)), h('td', {}, k.bits), h('td', {}, h('code', { class: 'fp' }, k.fingerprint)),
    h('td', {}, fmtTime(k.created)), h('td', {}, k.retired ? `retired ${fmtTime(k.retired)}` : 'active'),
    h('td', {}, k.retired ? null : [
      h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => {
          const res = await api('GET', 'password/keys/' + encodeURIComponent(k.id));
          if (res.ok) showCert(res.data); else alert(res.data.error);
        },
      }, 'Certificate'), ' ',
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (!confirm(`Retire key ${k.id}? Its private key is erased: passwords WSO2 encrypts to its certificate can no longer be read, and those changes are refused.`)) return;
          const res = await api('POST', 'password/keys/' + encodeURIComponent(k.id) + '/retire');
          if (res.ok) reload(); else alert(res.data.error);
        },
      }, 'Retire')])));
  const generate = apiForm({ 'aria-label': 'Generate a key' }, [
    field({ name: 'bits', label: 'RSA key size', value: '3072', options: [['3072', '3072 bits (recommended)'], ['2048', '2048 bits']] }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Generate key')),
  ], (f) => { notice(f, 'Generating… (3072 bits can take a few seconds)', 'warn'); return api('POST', 'password/keys', { bits: Number(val(f, 'bits')) }); },
  async (d) => { await reload(); document.getElementById('key-cert').replaceChildren(keyCertificate(d.export)); });

  // Registration values: console fields and the REST body, with passwordSharing.
  const regOut = h('div', { id: 'pw-registration' });
  const creds = cr.data.credentials;
  const register = apiForm({ 'aria-label': 'Register the password action in WSO2' }, [
    field({ name: 'name', label: 'Action name', value: 'profilegate-password' }),
    field({ name: 'url', label: 'Endpoint URL as the identity server reaches it', value: location.origin + '/actions/pre-update-password' }),
    field({ name: 'credential', label: 'Credential', value: creds.length ? creds[creds.length - 1].id : '', options: creds.length ? creds.map((c) => [c.id, `${c.id} (${c.type})`]) : [['', 'none yet']] }),
    field({ name: 'format', label: 'Password sharing format', value: 'PLAIN_TEXT', options: [['PLAIN_TEXT', 'PLAIN_TEXT, encrypted to the certificate (recommended)'], ['SHA256_HASHED', 'SHA256_HASHED (exact-match checks only)']] }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show the values')),
  ], (f) => api('GET', 'password/registration?' + new URLSearchParams({ name: val(f, 'name'), url: val(f, 'url'), credential: val(f, 'credential') || '', format: val(f, 'format') }).toString()),
  (d) => {
    const json = JSON.stringify(d.rest_body, null, 2);
    const ps = d.passwordSharing;
    regOut.replaceChildren(
      ...d.notes.map((t) => h('p', { class: 'notice warn' }, t)),
      h('h2', {}, 'In the console (Actions → Pre Update Password)'),
      h('table', { class: 'copyable' }, h('tbody', {},
        copyRow('Action name', d.name),
        copyRow('Endpoint', d.endpoint_url, 'pw-reg-url'),
        copyRow('Authentication', d.authentication_type),
        Object.entries(d.properties).map(([k, v]) => copyRow(k, v)),
        copyRow('Password sharing format', ps.format, 'pw-reg-format'),
        ps.certificate ? copyRow(`Certificate (key ${d.certificate_key_id})`, ps.certificate, 'pw-reg-cert') : null)),
      h('h2', {}, 'With the Action Management REST API'),
      h('p', {}, 'POST this to ', h('code', {}, 'https://<identity-server>/t/<tenant>/api/server/v1/actions/preUpdatePassword'), ', then activate it with ', h('code', {}, 'POST …/preUpdatePassword/<id>/activate'), '. Put the secret in place of the placeholder.'),
      h('pre', { id: 'pw-rest-body' }, json),
      h('div', { class: 'actions' }, copyButton(() => json, 'Copy JSON')));
  });

  page('Password policy',
    h('section', { class: 'card' },
      h('h2', {}, org ? `Rules of organization ${org}` : 'Root rules'),
      h('p', { class: 'muted', id: 'pw-rules-whose' }, org
        ? (own ? 'This organization has rules of its own.' : 'This organization uses the root rules; saving here gives it rules of its own.')
        : 'Used for the root organization, and for every organization without rules of its own.'),
      orgForm, rulesForm),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Try a password'), tryForm),
      h('section', { class: 'card' }, h('h2', {}, 'Security-team e-mail'), mail)),
    h('div', { id: 'password-breached', class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Breached passwords'),
        h('p', { class: 'muted' }, `The rule is ${rules.breached ? 'on' : 'off'} for these rules (see above). Only PLAIN_TEXT and encrypted passwords can be checked.`),
        filterStatus, importForm),
      h('section', { class: 'card' }, h('h2', {}, 'Online breach check'), online)),
    h('section', { class: 'card' }, h('h2', {}, 'Password-sharing keys'),
      h('p', { class: 'muted' }, 'WSO2 encrypts the new password to the certificate of a key generated here (JWE); only this server can read it. Private keys never leave the data directory.'),
      h('p', { class: 'muted' }, `Rotation: at most ${kr.data.max_active} keys are active. Generate the new key, give WSO2 its certificate, check that password changes still pass, then retire the old key.`),
      keys.length ? h('table', {},
        h('thead', {}, h('tr', {}, ['Id', 'Bits', 'SHA-256 fingerprint', 'Created', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, keyRows)) : h('p', { class: 'notice warn' }, 'No key yet: without a certificate WSO2 sends passwords unencrypted.'),
      active.length >= kr.data.max_active ? h('p', { class: 'muted' }, 'Two keys are active: retire one before generating another.') : null,
      generate, certBox),
    h('section', { class: 'card' }, h('h2', {}, 'Register in WSO2'),
      h('p', { class: 'muted' }, 'PLAIN_TEXT with the certificate is recommended: every rule applies and the password crosses the network encrypted. With SHA256_HASHED only exact-match checks are possible (the common-password list and context words); length, patterns and the stricter contains rule cannot be checked.'),
      register, regOut));
};

route();
