//! The admin UI in a real browser: Debian's chromium driven through chromedriver by
//! fantoccini, against the real server started in-process.
//!
//! Locally these tests skip (with a message) when chromedriver is not installed; with
//! `REQUIRE_BROWSER=1` (as `.ci/run` sets) a missing browser is a failure. Set
//! `PG_SCREENSHOTS=DIR` to keep a PNG of each page the flows visit.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::support::mail::MailServer;
use crate::support::*;

const PASSWORD: &str = "a long admin password";

/// Sets the admin password (`admin set-password`) in `dir`, as an admin does before the UI.
fn set_admin_password(dir: &DataDir) {
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver's log command: `POST /session/{id}/se/log` with `{"type": "browser"}` answers
/// the browser console's entries since the last call (and forgets them). The session must ask
/// for them with the capability `goog:loggingPrefs: {browser: ALL}`. Each entry has `level`
/// (`SEVERE` for errors, `WARNING`, `INFO`, `DEBUG`), `source` (`security` for a
/// Content-Security-Policy violation, `javascript` for an uncaught exception, `network` for a
/// failed load, `console-api` for `console.*`) and `message`.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (hyper::Method, Option<String>) {
        (
            hyper::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// Whether a console error is an expected one (`source: network`):
/// - the admin API refusing a request, which the page shows next to the form's field (and the
///   tests check that message). Chromium logs every answer of 400 and above to a `fetch` as an
///   error, e.g. `http://127.0.0.1:PORT/admin/api/login - Failed to load resource: the server
///   responded with a status of 401 (Unauthorized)`. Not expected: any other address, and the
///   statuses the API gives only for a mistake in the page or a fault of the server (404,
///   405, 500). 502 is the answer to a test e-mail the SMTP server did not take.
///
/// The page names an empty icon, so the browser asks for no `/favicon.ico`.
fn expected_error(entry: &Value) -> bool {
    const REFUSALS: [u16; 7] = [400, 401, 403, 409, 413, 429, 502];
    let msg = entry["message"].as_str().unwrap_or_default();
    let Some((url, rest)) = msg.split_once(" - ") else {
        return false;
    };
    let Some(status) = rest
        .strip_prefix("Failed to load resource: the server responded with a status of ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return false;
    };
    let path = url.split_once("://").map_or("", |(_, r)| r);
    let path = path.find('/').map_or("", |i| &path[i..]);
    entry["source"] == "network" && path.starts_with("/admin/api/") && REFUSALS.contains(&status)
}

/// chromedriver and a browser session; both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: Option<PathBuf>,
}

impl Drop for Browser {
    /// Ends chromedriver and every browser process it started, also when a test failed
    /// before closing its session (then nothing else ends them). chromedriver leads its own
    /// process group, which its browser processes inherit; the group is signalled directly
    /// (an earlier version ran `kill -KILL -PGID`, which in this sandbox ended the shell
    /// running the tests as well).
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            // Never a negative or special id: -1 would mean every process we may signal.
            if pgid > 1 {
                // SAFETY: kill(2) reads no memory of ours; the group is chromedriver's own.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless chromium; `None` (test skipped) when they are not
    /// installed and `REQUIRE_BROWSER` is not set.
    async fn start() -> Option<Browser> {
        let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        if !std::path::Path::new(&driver_bin).exists() {
            assert!(
                !required,
                "REQUIRE_BROWSER=1 but {driver_bin} is missing: apt-get install -y chromium chromium-driver"
            );
            eprintln!("SKIPPED: {driver_bin} is not installed (set REQUIRE_BROWSER=1 to make this a failure)");
            return None;
        }
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            // Its own process group, for Drop to end with its browser.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1366,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into()), "args": args }),
        );
        // The console, for `assert_console_clean` (read with `BrowserLog`).
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        // chromedriver takes a moment to listen.
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                        shots: std::env::var_os("PG_SCREENSHOTS").map(PathBuf::from),
                    })
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot start a browser session: {last:?}");
    }

    /// Loads a page, after checking the console of the page it leaves.
    async fn goto(&self, url: &str) {
        self.assert_console_clean(&format!("before going to {url}"))
            .await;
        self.client.goto(url).await.expect("goto");
    }

    /// The browser console's entries since the last call.
    async fn console(&self) -> Vec<Value> {
        // A round trip through the page first: what it logged before answering has reached
        // chromedriver when the log is read.
        self.client
            .execute("return document.readyState;", vec![])
            .await
            .expect("script");
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver's browser log (POST /session/{id}/se/log)");
        match log {
            Value::Array(entries) => entries,
            other => panic!("the browser log is not a list: {other}"),
        }
    }

    /// Fails the test on any error or warning in the browser console since the last check: a
    /// Content-Security-Policy violation, an uncaught exception, a `console.error` or
    /// `console.warn`, a failed load; all but the few expected ones (see [`expected_error`]).
    /// Chromium's `DEBUG` advice (`[DOM] Input elements should have autocomplete
    /// attributes`) does not count.
    async fn assert_console_clean(&self, when: &str) {
        let errors: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .filter(|e| !expected_error(e))
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or("?").to_string();
                format!("[{} {}] {}", field("level"), field("source"), e["message"])
            })
            .collect();
        if !errors.is_empty() {
            self.shot("console-error").await;
        }
        assert!(
            errors.is_empty(),
            "browser console errors or warnings ({when}):\n{}",
            errors.join("\n")
        );
    }

    /// Opens the admin UI at `url` and logs in with the tests' password (the login itself,
    /// its errors and the keyboard path are `login_and_failure_messages`'s).
    async fn log_in(&self, url: &str) {
        self.goto(&format!("{url}/admin/")).await;
        self.text_contains("h1", "Log in").await;
        self.fill("form", "password", PASSWORD).await;
        self.click("form button[type=submit]").await;
        self.text_contains("h1", "Overview").await;
    }

    /// Opens a page from the menu, waits for its title and checks the console.
    async fn open(&self, link: &str, title: &str) {
        self.click(&format!("nav a[href='#{link}']")).await;
        self.text_contains("h1", title).await;
        self.assert_console_clean(&format!("on the {title} page"))
            .await;
    }

    /// Waits (up to 10 s) for an element.
    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Waits (up to 10 s) until the element's text contains `want`; returns the text.
    async fn text_contains(&self, css: &str, want: &str) -> String {
        self.text_where(css, &format!("contained {want:?}"), |t| t.contains(want))
            .await
    }

    /// Waits (up to 10 s) until the element's text passes `ok` (`what` says how, for the
    /// failure); returns the text.
    async fn text_where(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if ok(&t) {
                        return t;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.shot("timeout").await;
        panic!("{css} never {what}; last text: {last:?}");
    }

    /// Replaces the value of a field (by its name) and returns the element.
    async fn fill(&self, form: &str, name: &str, value: &str) -> Element {
        let el = self.find(&format!("{form} [name=\"{name}\"]")).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
        el
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The server's message shown next to a field of a form.
    async fn field_error(&self, form: &str, field: &str, want: &str) -> String {
        self.text_contains(&format!("{form} [data-field=\"{field}\"] .error"), want)
            .await
    }

    /// Form controls on the page without a label (by `<label for>`, a wrapping label, or
    /// aria-label): each would be unusable with a screen reader.
    async fn unlabelled(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return [...document.querySelectorAll('input, select, textarea')]\
                   .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))\
                   .map(e => e.outerHTML);",
                vec![],
            )
            .await
            .expect("script");
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Visits every page from the menu and checks that each control has a label.
    async fn every_page_is_labelled(&self) {
        for (link, title) in [
            ("overview", "Overview"),
            ("departments", "Departments"),
            ("notifications", "Notifications"),
            ("endpoint", "Endpoint"),
            ("password", "Password policy"),
            ("simulate", "Try an event"),
            ("audit", "Audit log"),
            ("settings", "Settings"),
        ] {
            self.open(link, title).await;
            let missing = self.unlabelled().await;
            assert!(
                missing.is_empty(),
                "{title}: controls without a label: {missing:?}"
            );
        }
    }

    /// A property of an element's computed style.
    async fn computed(&self, css: &str, prop: &str) -> String {
        self.find(css).await;
        let v = self
            .client
            .execute(
                "return getComputedStyle(document.querySelector(arguments[0]))\
                   .getPropertyValue(arguments[1]);",
                vec![json!(css), json!(prop)],
            )
            .await
            .expect("script");
        v.as_str().unwrap_or_default().to_string()
    }

    /// Nothing stored became markup on this page: no payload ran (`window.__xss`), and the
    /// page has no image, no script but app.js and no inline event handler (the payloads
    /// would create them even where the Content-Security-Policy stops them from running).
    async fn assert_no_injected_markup(&self, page: &str) {
        let v = self
            .client
            .execute(
                "return { xss: typeof window.__xss, \
                   imgs: document.querySelectorAll('img').length, \
                   scripts: [...document.scripts].map(s => s.getAttribute('src')), \
                   handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]\
                     .filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)) };",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(
            v,
            json!({ "xss": "undefined", "imgs": 0, "scripts": ["app.js"], "handlers": [] }),
            "{page}: stored text became markup"
        );
    }

    async fn shot(&self, name: &str) {
        if let Some(dir) = &self.shots {
            let _ = std::fs::create_dir_all(dir);
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::write(dir.join(format!("{name}.png")), png);
            }
        }
    }

    /// Checks the console a last time and ends the session.
    async fn close(self) {
        self.assert_console_clean("at the end of the test").await;
        let _ = self.client.clone().close().await;
    }
}

/// First start: the setup link sets the password; then import departments with a preview,
/// create a credential and read its secret from the page, call the action endpoint with it,
/// and find the decision (and its before -> after) on the audit page.
#[tokio::test(flavor = "multi_thread")]
async fn setup_import_credential_action_and_audit() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let token = "setup-token-for-the-test";
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some(token.into()),
            ..Default::default()
        },
    )
    .await;

    // A wrong token is refused next to the token field, and sets nothing.
    b.goto(&format!("{}/admin/#setup=wrong", srv.url)).await;
    b.fill("form", "password", PASSWORD).await;
    b.fill("form", "confirm", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "token", "not valid").await;

    // The printed link: a short password is refused next to its field, then a good one works.
    b.goto(&format!("{}/admin/#setup={token}", srv.url)).await;
    b.client.refresh().await.expect("reload");
    b.fill("form", "password", "short").await;
    b.fill("form", "confirm", "short").await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "password", "at least 12").await;
    b.fill("form", "password", PASSWORD).await;
    b.fill("form", "confirm", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.text_contains("h1", "Overview").await;
    let setup = b.text_contains("main", "step(s) left").await;
    assert!(setup.contains("Departments loaded"), "{setup}");
    b.shot("overview").await;
    // The token is spent and gone from the address bar.
    let here = b.client.current_url().await.expect("url");
    assert!(!here.as_str().contains(token), "{here}");

    // Departments: paste a CSV, preview, apply.
    b.open("departments", "Departments").await;
    // The organization picker's look, from app.css (once an inline style the CSP blocked).
    assert_eq!(
        b.computed("form.org-picker > label", "margin-top").await,
        "0px"
    );
    assert_eq!(b.computed("#org-pick", "max-width").await, "330px"); // 22em at 15px
    let import = "form[aria-label='Import departments']";
    b.fill(import, "csv", "department\nHR\n\"R&D, Europe\"\nFinance")
        .await;
    b.click(&format!("{import} button[value=preview]")).await;
    let preview = b.text_contains("#import-preview", "3 to add").await;
    assert!(preview.contains("R&D, Europe"), "{preview}");
    // Nothing is applied by the preview.
    assert!(b
        .find("main")
        .await
        .text()
        .await
        .unwrap()
        .contains("0 department(s)"));
    b.click(&format!("{import} button[value=apply]")).await;
    b.text_contains("main", "3 department(s)").await;
    b.shot("departments").await;
    // A bad line is refused next to the CSV field, naming the line.
    b.fill(import, "csv", "HR\nA,B").await;
    b.click(&format!("{import} button[value=preview]")).await;
    b.field_error(import, "csv", "line 2").await;

    // Endpoint: create a Basic credential; the secret is on the page once.
    b.open("endpoint", "Endpoint").await;
    let create = "form[aria-label='Create a credential']";
    b.fill(create, "username", "wso2").await;
    b.click(&format!("{create} button[type=submit]")).await;
    let secret = b
        .find("#new-secret code[data-prop=password]")
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("pg_"), "{secret}");
    b.shot("endpoint").await;
    // The registration panel gives the REST body with this credential's type and username.
    b.click("form[aria-label='Register in WSO2'] button[type=submit]")
        .await;
    let body = b.text_contains("#rest-body", "BASIC").await;
    let body: serde_json::Value = serde_json::from_str(&body).expect("REST body is JSON");
    assert_eq!(
        body["endpoint"]["authentication"]["properties"]["username"],
        "wso2"
    );
    assert!(body["endpoint"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/actions/pre-update-profile"));

    // The identity server calls with the credential from the page.
    let auth = Auth::Basic("wso2".into(), secret);
    let ev = profile_event(Some("ui-req-1"), dept(json!("Finance")));
    let r = post(&srv.action_url(), &auth, ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    let ev = profile_event(Some("ui-req-2"), dept(json!("Sales")));
    let r = post(&srv.action_url(), &auth, ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED");

    // Audit: filter to FAILED decisions, open the record, see the department's new value.
    b.open("audit", "Audit log").await;
    let filters = "form[aria-label='Filters']";
    let decision = b.find(&format!("{filters} [name=decision]")).await;
    decision
        .select_by_value("FAILED")
        .await
        .expect("select FAILED");
    b.click(&format!("{filters} button[type=submit]")).await;
    // The filtered table replaces the whole one.
    b.text_where("main table", "held only FAILED decisions", |t| {
        t.contains("FAILED") && !t.contains("SUCCESS")
    })
    .await;
    b.click("main table tbody tr.clickable").await;
    let detail = b.text_contains("#record-detail", "Sales").await;
    assert!(
        detail.contains("http://wso2.org/claims/department"),
        "{detail}"
    );
    b.shot("audit").await;
    // An unreadable time is refused next to its filter.
    b.fill(filters, "from", "yesterday").await;
    b.click(&format!("{filters} button[type=submit]")).await;
    b.field_error(filters, "from", "not a time").await;
    // The chain verifies from the page.
    b.click("a[href='#audit']").await;
    b.click("main button.secondary").await;
    b.text_contains("#verify-result", "Chain intact").await;
    // The signed checkpoint box: the public key and the latest checkpoint line.
    let pk = b
        .text_where("#anchor-public-key", "a public key", |t| t.len() == 44)
        .await;
    let line = b
        .text_contains("#anchor-line", "Audit checkpoint: pg1 seq=")
        .await;
    // The same as the CLI gets it through the server's control socket.
    let d = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&d, &["audit", "checkpoint", "--json"]))
        .await
        .unwrap();
    let served: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(served["public_key"], pk.as_str(), "{}", stderr(&o));
    assert_eq!(served["line"], line.as_str());

    b.close().await;
    srv.stop().await;
}

/// Login errors and the settings page: a wrong password is shown next to its field; a failure
/// message the identity server would reject is refused next to the field that holds it; a
/// valid one is saved and is what the next FAILED answer says; logging out ends the session.
#[tokio::test(flavor = "multi_thread")]
async fn login_and_failure_messages() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let cred = dir.standard();
    set_admin_password(&dir);
    let srv = Server::start(&dir.path).await;

    b.goto(&format!("{}/admin", srv.url)).await;
    b.text_contains("h1", "Log in").await;
    b.fill("form", "password", "not the password").await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "password", "wrong password").await;
    // Keyboard only: the password and Enter.
    b.fill(
        "form",
        "password",
        &format!("{PASSWORD}{}", char::from(fantoccini::key::Key::Enter)),
    )
    .await;
    b.text_contains("h1", "Overview").await;
    // Plain HTTP: every page carries the warning banner.
    let banner = b.find("#insecure").await;
    assert!(banner.is_displayed().await.unwrap());
    assert!(banner.text().await.unwrap().contains("Plain HTTP"));
    b.every_page_is_labelled().await;

    b.open("settings", "Settings").await;
    let policy = "form[aria-label='Policy']";
    let desc = "messages.invalid_department.description";
    b.fill(policy, desc, "Department <b>unknown</b>").await;
    b.click(&format!("{policy} button[type=submit]")).await;
    let e = b.field_error(policy, desc, "rejects").await;
    assert!(e.contains("'<'"), "{e}");
    b.shot("settings-error").await;
    b.fill(policy, desc, "Pick a department from the HR list.")
        .await;
    b.click(&format!("{policy} button[type=submit]")).await;
    b.text_contains(&format!("{policy} .form-notice"), "Saved")
        .await;

    let ev = profile_event(Some("msg-1"), dept(json!("Nowhere")));
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED");
    assert_eq!(
        r.json["failureDescription"],
        "Pick a department from the HR list."
    );

    // The password form checks the current password on the server.
    let pw = "form[aria-label='Change the admin password']";
    b.fill(pw, "current", "wrong wrong wrong").await;
    b.fill(pw, "new", "another long password").await;
    b.fill(pw, "confirm", "another long password").await;
    b.click(&format!("{pw} button[type=submit]")).await;
    b.field_error(pw, "current", "wrong").await;

    b.click("#logout").await;
    b.text_contains("h1", "Log in").await;
    // The session is gone on the server too: an API call from the page's origin is refused.
    b.goto(&format!("{}/admin/api/overview", srv.url)).await;
    let body = b.find("body").await.text().await.unwrap();
    assert!(body.contains("log in first"), "{body}");

    b.close().await;
    srv.stop().await;
}

/// The password policy page: a rule change saved and still there after a reload, a refused
/// value with the reason next to its field, a weak password tried and its failing rule shown,
/// a key generated and its certificate shown, and the registration values carrying it.
#[tokio::test(flavor = "multi_thread")]
async fn password_policy_page() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    dir.standard();
    set_admin_password(&dir);
    let srv = Server::start(&dir.path).await;
    b.log_in(&srv.url).await;
    b.open("password", "Password policy").await;
    // The breached-password panel's place is there, separate from the other sections.
    b.find("main > #password-breached").await;

    // A refused value: the server's reason next to the field.
    let rules = "form[aria-label='Password rules']";
    b.fill(rules, "min_length", "10").await;
    b.click(&format!("{rules} button[type=submit]")).await;
    b.field_error(rules, "min_length", "at least 15").await;
    b.shot("password-rules-error").await;
    // A message outside the identity server's charset: shown next to that message.
    b.fill(rules, "min_length", "18").await;
    b.click(&format!("{rules} details summary")).await;
    let desc = "messages.common.description";
    b.fill(rules, desc, "Too common, sorry").await;
    b.click(&format!("{rules} button[type=submit]")).await;
    b.field_error(rules, desc, "','").await;
    b.fill(rules, desc, "Too common. Choose another one.").await;
    b.click(&format!("{rules} button[type=submit]")).await;
    b.text_contains(&format!("{rules} .form-notice"), "Saved")
        .await;
    // Saved: another page and back shows it, and the server has it.
    b.open("overview", "Overview").await;
    b.open("password", "Password policy").await;
    let min = b
        .find(&format!("{rules} [name=min_length]"))
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(min.as_deref(), Some("18"));

    // A weak password: the failing rule and the text the user would see.
    let try_form = "form[aria-label='Try a password']";
    b.fill(try_form, "password", "short").await;
    b.click(&format!("{try_form} button[type=submit]")).await;
    let t = b.text_contains("#try-result", "minimum length").await;
    assert!(t.contains("Use at least 18 characters"), "{t}");
    b.fill(try_form, "password", "12345678900987654321").await;
    b.click(&format!("{try_form} button[type=submit]")).await;
    let t = b.text_contains("#try-result", "common passwords").await;
    assert!(t.contains("Too common. Choose another one."), "{t}");
    b.fill(try_form, "password", "violet hammock sunrise").await;
    b.click(&format!("{try_form} button[type=submit]")).await;
    b.text_contains("#try-result", "Accepted").await;

    // A breached list uploaded: in use at once, and the try names the rule.
    let list = dir.path.parent().unwrap().join("pwned-top.txt");
    std::fs::write(
        &list,
        format!(
            "{}:40\n",
            profilegate::online_breach::sha1_hex("violet hammock sunrise").as_str()
        ),
    )
    .unwrap();
    let import = "form[aria-label='Import a breached-password list']";
    b.find(&format!("{import} [name=file]"))
        .await
        .send_keys(list.to_str().unwrap())
        .await
        .expect("choose the file");
    b.click(&format!("{import} button[type=submit]")).await;
    b.text_contains(&format!("{import} .form-notice"), "in use now")
        .await;
    b.text_contains("#breached-status", "pwned-top.txt").await;
    b.fill(try_form, "password", "violet hammock sunrise").await;
    b.click(&format!("{try_form} button[type=submit]")).await;
    b.text_contains("#try-result", "breached passwords").await;

    // The online breach check: switched on without a URL, the reason next to the URL.
    let online = "form[aria-label='Online breach check']";
    b.click(&format!("{online} [name=enabled]")).await;
    b.click(&format!("{online} button[type=submit]")).await;
    b.field_error(online, "url", "range URL").await;
    b.fill(online, "url", "http://127.0.0.1:9/range/").await;
    b.fill(online, "timeout_ms", "300").await;
    b.click(&format!("{online} button[type=submit]")).await;
    b.text_contains(&format!("{online} .form-notice"), "is on")
        .await;

    // A key: generated, its certificate shown as PEM and base64 of the PEM.
    let gen = "form[aria-label='Generate a key']";
    b.find(&format!("{gen} [name=bits]"))
        .await
        .select_by_value("2048")
        .await
        .expect("select 2048");
    b.click(&format!("{gen} button[type=submit]")).await;
    b.text_contains("#key-pem", "-----BEGIN CERTIFICATE-----")
        .await;
    let b64 = b.text_contains("#key-base64", "LS0tLS1CRUdJTi").await;
    b.text_contains("table [data-key]", "active").await;
    b.shot("password-key").await;

    // The registration values carry that certificate.
    let reg = "form[aria-label='Register the password action in WSO2']";
    b.click(&format!("{reg} button[type=submit]")).await;
    let cert = b.text_contains("#pw-reg-cert", "LS0tLS1CRUdJTi").await;
    assert_eq!(cert.trim(), b64.trim());
    b.text_contains("#pw-reg-format", "PLAIN_TEXT").await;
    // The notes are drawn as notes (plain HTTP here), not as an object's name.
    b.text_contains("#pw-registration .notice", "plain HTTP")
        .await;
    let panel = b.find("#pw-registration").await.text().await.unwrap();
    assert!(!panel.contains("[object "), "{panel}");
    let body = b.text_contains("#pw-rest-body", "passwordSharing").await;
    assert!(body.contains("/actions/pre-update-password"), "{body}");
    assert!(
        b.unlabelled().await.is_empty(),
        "{:?}",
        b.unlabelled().await
    );

    // An organization's own rules: chosen, saved, used by a try, then removed (confirmed).
    let org = "10084a8d-113f-4211-a0d5-efe36b082211";
    b.fill("form.org-picker", "org", org).await;
    b.click("form.org-picker button[type=submit]").await;
    b.text_contains("h2", &format!("Rules of organization {org}"))
        .await;
    b.text_contains("#pw-rules-whose", "uses the root rules")
        .await;
    b.fill(rules, "min_length", "25").await;
    b.click(&format!("{rules} button[type=submit]")).await;
    b.text_contains("#pw-rules-whose", "rules of its own").await;
    b.text_contains(&format!("{rules} .form-notice"), "Saved")
        .await;
    b.fill(try_form, "password", "violet hammock sunrise").await;
    b.click(&format!("{try_form} button[type=submit]")).await;
    let t = b.text_contains("#try-result", "minimum length").await;
    assert!(t.contains(&format!("the rules of {org}")), "{t}");
    b.click("#pw-remove-org").await;
    b.client.accept_alert().await.expect("confirm the removal");
    b.text_contains("#pw-rules-whose", "uses the root rules")
        .await;

    b.close().await;
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["password", "policy", "show"]));
    assert!(export.contains("18"), "{export}");
}

/// Notifications: SMTP set from the page, a test message reaches a real mail server and the
/// checklist counts it; a server that is not there gives the exact failure next to the button.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_settings_and_test_message() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let mail = MailServer::start();
    let dir = DataDir::new();
    dir.standard();
    set_admin_password(&dir);
    let srv = Server::start(&dir.path).await;
    b.log_in(&srv.url).await;
    b.open("notifications", "Notifications").await;

    let rcpt = "form[aria-label='Recipients']";
    b.fill(rcpt, "recipients", "secops@example.com\nnot an address")
        .await;
    b.click(&format!("{rcpt} button[type=submit]")).await;
    b.field_error(rcpt, "recipients", "not an e-mail address")
        .await;
    b.fill(rcpt, "recipients", "secops@example.com").await;
    b.click(&format!("{rcpt} button[type=submit]")).await;
    b.text_contains(&format!("{rcpt} .form-notice"), "Saved")
        .await;

    let smtp = "form[aria-label='SMTP server']";
    // A port with nothing behind it first.
    let dead = free_port();
    b.fill(smtp, "host", "127.0.0.1").await;
    b.fill(smtp, "port", &dead.to_string()).await;
    b.find(&format!("{smtp} [name=encryption]"))
        .await
        .select_by_value("none")
        .await
        .expect("select");
    b.fill(smtp, "from", "profilegate@example.com").await;
    b.fill(smtp, "timeout_ms", "99999").await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.field_error(smtp, "timeout_ms", "between 100 and 4000")
        .await;
    b.fill(smtp, "timeout_ms", "2000").await;
    // A password in clear to a server off this host: the API's reason, next to the choice.
    b.fill(smtp, "host", "mail.example.com").await;
    b.fill(smtp, "username", "mailer").await;
    b.fill(smtp, "password", "not-in-clear-please").await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    let e = b.field_error(smtp, "encryption", "starttls").await;
    assert!(e.contains("tls (usually port 465)"), "{e}");
    b.fill(smtp, "host", "127.0.0.1").await;
    b.fill(smtp, "username", "").await;
    b.fill(smtp, "password", "").await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.text_contains(&format!("{smtp} .form-notice"), "Saved")
        .await;

    let test = "form[aria-label='Send a test e-mail']";
    b.click(&format!("{test} button[type=submit]")).await;
    let e = b.field_error(test, "test", "NOT sent").await;
    assert!(e.contains("connection refused"), "{e}");
    b.shot("notifications-error").await;

    // Now the real mail server.
    b.fill(smtp, "port", &mail.addr.port().to_string()).await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.text_contains(&format!("{smtp} .form-notice"), "Saved")
        .await;
    b.click(&format!("{test} button[type=submit]")).await;
    b.text_contains(
        &format!("{test} .form-notice"),
        "Sent to secops@example.com",
    )
    .await;
    let got = mail.mails();
    assert_eq!(got.len(), 1);
    assert!(got[0].text().contains("test message"), "{}", got[0].data);

    b.click("nav a[href='#overview']").await;
    b.text_contains("[data-check=smtp]", "SMTP server set and tested")
        .await;
    let done = b
        .find("[data-check=smtp]")
        .await
        .attr("data-done")
        .await
        .unwrap();
    assert_eq!(done.as_deref(), Some("true"));

    b.close().await;
    srv.stop().await;
}

/// Stored text an attacker may choose: the identity server passes user ids, organization and
/// tenant names and claim values through unchecked, and department names come from files.
const XSS: [&str; 2] = [
    "<img src=x onerror=window.__xss=1>",
    "\"><script>window.__xss=1</script>",
];

/// Markup in stored text is shown as text on every page and never becomes elements: department
/// names (root list and an organization's, whose id is markup too) from the CLI; claim values,
/// user ids, organization and tenant names from action requests, in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn stored_markup_is_shown_as_text() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let cred = dir.standard();
    set_admin_password(&dir);
    let o = cli(&dir.path, &["departments", "add", XSS[0], XSS[1]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["departments", "add", "--org", XSS[1], XSS[0]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let srv = Server::start(&dir.path).await;

    // In the organization XSS[1], whose own list has XSS[0]: allowed.
    let mut ev = profile_event(Some("xss-1"), dept(json!(XSS[0])));
    ev["event"]["user"]["id"] = XSS[0].into();
    ev["event"]["organization"] = json!({ "id": XSS[1], "name": XSS[0] });
    ev["event"]["tenant"]["name"] = XSS[1].into();
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    // In the root organization, a value no list has: refused.
    let unknown = format!("{} unknown", XSS[1]);
    let mut ev = profile_event(Some("xss-2"), dept(json!(unknown)));
    ev["event"]["user"]["id"] = XSS[1].into();
    ev["event"]["user"]["organization"] = json!({ "id": "o-2", "name": XSS[1] });
    ev["event"]["tenant"]["name"] = XSS[0].into();
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED", "{:?}", r.json);

    b.log_in(&srv.url).await;

    // Overview: the latest decisions, with user ids and the organization name.
    b.open("overview", "Overview").await;
    // (The chart's table of numbers comes first on the page, closed.)
    let latest = b
        .text_contains("section[aria-labelledby='h-latest'] table", XSS[0])
        .await;
    assert!(latest.contains(XSS[1]), "{latest}");
    b.assert_no_injected_markup("Overview").await;

    // Departments: the root list, then the organization's (its id in the heading).
    b.open("departments", "Departments").await;
    let list = b.text_contains("main table", XSS[0]).await;
    assert!(list.contains(XSS[1]), "{list}");
    b.assert_no_injected_markup("Departments").await;
    b.fill("form.org-picker", "org", XSS[1]).await;
    b.click("form.org-picker button[type=submit]").await;
    b.text_contains(
        "main h2",
        &format!("Departments of organization {}", XSS[1]),
    )
    .await;
    let list = b.text_contains("main table", XSS[0]).await;
    assert!(!list.contains(XSS[1]), "{list}");
    b.assert_no_injected_markup("Departments of the organization")
        .await;

    b.open("notifications", "Notifications").await;
    b.assert_no_injected_markup("Notifications").await;
    b.open("endpoint", "Endpoint").await;
    b.assert_no_injected_markup("Endpoint").await;

    // Audit: both decisions; filtered by a user id that is markup; the claim value and the
    // tenant name in the record's detail.
    b.open("audit", "Audit log").await;
    let table = b.text_contains("main table", XSS[0]).await;
    assert!(table.contains(XSS[1]), "{table}");
    b.assert_no_injected_markup("Audit log").await;
    let filters = "form[aria-label='Filters']";
    b.fill(filters, "user", XSS[1]).await;
    b.click(&format!("{filters} button[type=submit]")).await;
    // The filtered table replaces the whole one.
    b.text_where("main table", "held only the FAILED decision", |t| {
        t.contains(XSS[1]) && t.contains("FAILED") && !t.contains("SUCCESS")
    })
    .await;
    b.click("main table tbody tr.clickable").await;
    let detail = b.text_contains("#record-detail table", &unknown).await;
    assert!(detail.contains(DEPT), "{detail}");
    b.click("#record-detail summary").await;
    // The whole record as JSON: the tenant name (XSS[0]) and the user's organization name.
    let whole = b.text_contains("#record-detail pre", XSS[0]).await;
    assert!(
        whole.contains(r#""name": "\"><script>window.__xss=1</script>""#),
        "{whole}"
    );
    b.assert_no_injected_markup("Audit record").await;

    b.open("settings", "Settings").await;
    b.assert_no_injected_markup("Settings").await;

    b.close().await;
    srv.stop().await;
}

/// The UI never parses a string as HTML, and sets no inline style (the page's CSP,
/// `style-src 'self'`, blocks those): checked in the source, since the browser tests visit
/// only some of its paths.
#[test]
fn ui_source_builds_no_markup_from_strings_and_no_inline_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let js = std::fs::read_to_string(dir.join("app.js")).unwrap();
    for bad in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "createContextualFragment",
        "DOMParser",
        "srcdoc",
        "javascript:",
        "eval(",
        "Function(",
        "cssText",
        ".style",
        "style:",
        "'style'",
    ] {
        assert!(!js.contains(bad), "static/app.js uses {bad:?}");
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let tags = regex::Regex::new(r"<[^>]*>").unwrap();
    let inline =
        regex::Regex::new(r#"(?i)^<(style|script(\s[^>]*)?>)|\s(style|on\w+)\s*="#).unwrap();
    for tag in tags.find_iter(&html) {
        let tag = tag.as_str();
        let external_script = tag.starts_with("<script src=");
        assert!(
            external_script || !inline.is_match(tag),
            "static/index.html: inline style or script in {tag}"
        );
    }
}

/// The processes below `root` (children, their children, ...), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // The parent is the second field after the command name, which may hold spaces.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if let Some(ppid) = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// A test that fails mid-session (a panic, then its runtime is gone) leaves no browser
/// process behind: chromedriver runs in its own process group, ended whole on drop.
#[test]
fn a_failed_browser_test_leaves_no_browser_behind() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<Vec<u32>>));
    let seen2 = seen.clone();
    let failed = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let Some(b) = Browser::start().await else {
                return;
            };
            b.goto("about:blank").await;
            *seen2.lock().unwrap() = Some(descendants(b.driver.id()));
            panic!("a simulated test failure with the browser open");
        })
    })
    .join()
    .is_err();
    let Some(browser) = seen.lock().unwrap().clone() else {
        return; // skipped: no chromedriver here
    };
    assert!(failed, "the simulated failure happened");
    assert!(!browser.is_empty(), "chromium ran under chromedriver");
    // Running, that is: a zombie has ended (and here nobody may reap it).
    let alive = |pids: &[u32]| -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                    let state = s.rsplit_once(')').map_or("", |(_, rest)| rest.trim_start());
                    !state.starts_with('Z') && !state.starts_with('X')
                })
            })
            .collect()
    };
    for _ in 0..100 {
        if alive(&browser).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Clean up before failing, so one failure does not leave them either.
    for p in alive(&browser) {
        let _ = Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    panic!("browser processes left behind: {:?}", alive(&browser));
}

/// The Departments page's sync: a clear URL refused next to its field, a source set, the dry
/// run's diff, a sync held for approval and approved, "Sync now" applying a change, and the
/// overview naming the synced list.
#[tokio::test(flavor = "multi_thread")]
async fn department_sync_from_the_page() {
    use crate::support::source::{ok, Source};
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    dir.standard(); // HR, Engineering, "R&D, Europe"
    set_admin_password(&dir);
    // Two of the three stored names are gone from the source: more than 20%, so held.
    let src = Source::start("/hr/departments", None).await;
    src.set(ok(
        "application/json",
        r#"[{"name": "HR"}, {"name": "Finance"}]"#,
    ));
    let srv = Server::start(&dir.path).await;
    b.log_in(&srv.url).await;
    b.open("departments", "Departments").await;
    b.text_contains("#sync-status", "kept by hand").await;

    let form = "form[aria-label='Department source']";
    b.fill(form, "url", "http://hr.example/departments").await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.field_error(form, "url", "https://").await;
    b.fill(form, "url", &src.url).await;
    b.fill(form, "field", "name").await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.text_contains("#sync-status", &src.url).await;
    assert!(
        b.unlabelled().await.is_empty(),
        "{:?}",
        b.unlabelled().await
    );

    b.click("[data-dry-run]").await;
    let diff = b.text_contains("#sync-result", "would be held").await;
    assert!(
        diff.contains("Engineering, R&D, Europe") && diff.contains("Finance"),
        "{diff}"
    );
    b.text_contains("main", "3 department(s)").await;
    b.shot("departments-sync-dry-run").await;

    // Held (by this click, or already by the schedule), shown with its diff, then approved.
    b.click("[data-sync-now]").await;
    b.text_contains("#sync-result", "Held for approval").await;
    b.text_contains("#sync-held", "Removed: Engineering, R&D, Europe")
        .await;
    b.text_contains("main", "3 department(s)").await;
    b.click("[data-approve]").await;
    b.client.accept_alert().await.expect("confirm the approval");
    b.text_contains("#sync-result", "Approved and applied")
        .await;
    b.text_contains("main", "2 department(s)").await;

    // A new name at the source: "Sync now" applies it.
    src.set(ok(
        "application/json",
        r#"[{"name": "HR"}, {"name": "Finance"}, {"name": "Legal"}]"#,
    ));
    b.text_contains("#sync-status", "Last success").await;
    b.click("[data-sync-now]").await;
    b.text_contains("#sync-result", "Applied").await;
    b.text_contains("main", "3 department(s)").await;
    b.assert_console_clean("after the syncs").await;

    b.open("overview", "Overview").await;
    b.text_contains("#overview-sync", "Root list: last success")
        .await;
    b.close().await;
    srv.stop().await;
    assert_eq!(
        dir.with_store(|s| s.list_departments(None).unwrap()),
        ["Finance", "HR", "Legal"]
    );
}

/// The Audit page's retention: a relative directory refused next to its field, a retention
/// set and described, a dry run naming the month's file, "Archive now" moving it, and the
/// archive files table listing it with its SHA-256; the records list then says where the
/// older records are.
#[tokio::test(flavor = "multi_thread")]
async fn audit_retention_and_archives_from_the_page() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    // 20 batches of two records from a month long ended, first in the chain.
    dir.with_store(|s| crate::support::audit::append_days_ago(s, 100, 20));
    dir.standard();
    set_admin_password(&dir);
    let arch = dir.path.parent().unwrap().join("archives");
    let srv = Server::start(&dir.path).await;
    b.log_in(&srv.url).await;
    b.open("audit", "Audit log").await;
    b.text_contains("#retention-status", "Off: every record stays")
        .await;
    b.text_contains("#archive-files", "No archive files yet")
        .await;

    let form = "form[aria-label='Audit retention']";
    b.fill(form, "keep_days", "30").await;
    b.fill(form, "dir", "relative/archives").await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.field_error(form, "dir", "absolute path").await;
    b.fill(form, "dir", arch.to_str().unwrap()).await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.text_contains("#retention-status", "more than 30 day(s) ago")
        .await;
    b.text_contains("#retention-status", arch.to_str().unwrap())
        .await;

    b.click("[data-archive-dry]").await;
    let dry = b
        .text_contains(
            "#archive-result",
            "Dry run: 40 record(s) would go to 1 file(s)",
        )
        .await;
    assert!(dry.contains("records 1..40 (40)"), "{dry}");
    assert!(!arch.exists(), "a dry run wrote nothing");
    b.shot("audit-retention-dry-run").await;

    b.click("[data-archive-now]").await;
    b.text_contains("#archive-result", "Archived 40 record(s) in 1 file(s)")
        .await;
    b.text_contains("#retention-status", "archived through record 40")
        .await;
    let table = b.text_contains("#archive-files", "1..40").await;
    let name = std::fs::read_dir(&arch)
        .unwrap()
        .next()
        .expect("an archive file")
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(arch.join(&name)).unwrap(),
        ))
    };
    assert!(
        table.contains(&name) && table.contains(&sha),
        "{name} {sha} not in {table}"
    );
    assert!(!table.contains("missing"), "{table}");
    b.shot("audit-retention-archived").await;

    // The records list says where records 1 to 40 went; a file gone from the directory is
    // marked.
    std::fs::rename(arch.join(&name), dir.path.parent().unwrap().join(&name)).unwrap();
    b.open("overview", "Overview").await;
    b.open("audit", "Audit log").await;
    b.text_contains("#archived-note", "Records 1 to 40 are in the archive files")
        .await;
    b.text_contains("#archive-files", "missing from the directory")
        .await;
    assert!(
        b.unlabelled().await.is_empty(),
        "{:?}",
        b.unlabelled().await
    );
    b.close().await;
    srv.stop().await;
}

/// The `profilegate_audit_records` gauge: how many records the chain holds.
async fn audit_records(url: &str) -> String {
    let m = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .find(|l| l.starts_with("profilegate_audit_records"))
        .unwrap_or_default()
        .to_string()
}

/// "Try an event": a bundled sample with a claim edited in the form, tried under the current
/// settings and under a department list edited on the page (not saved); a refused edit shown
/// next to its field; nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn try_an_event_page() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    dir.standard();
    set_admin_password(&dir);
    let srv = Server::start(&dir.path).await;
    b.log_in(&srv.url).await;
    let records = audit_records(&srv.url).await;
    assert!(!records.is_empty());

    b.every_page_is_labelled().await;
    b.open("simulate", "Try an event").await;
    let form = "form[aria-label='Try an event']";
    b.find(&format!("{form} [name=\"sample\"]"))
        .await
        .select_by_value("seed-usecase-profile")
        .await
        .expect("pick the sample");
    // The seed's first claim is its department, HR: edited to one not in the directory.
    b.fill(form, "claim.0", "Nowhere").await;
    let submit = format!("{form} button[type=submit]");
    b.click(&submit).await;
    let current = ".sim-result[data-settings='current']";
    b.text_contains(&format!("{current} .sim-decision"), "FAILED")
        .await;
    b.text_contains(&format!("{current} .sim-rule"), "invalid_department")
        .await;
    b.text_contains(&format!("{current} .sim-contract"), "accepts")
        .await;

    b.click(&format!("{form} [name=\"compare\"]")).await;
    b.fill(form, "overrides.departments", "HR\nNowhere").await;
    b.click(&submit).await;
    let edited = ".sim-result[data-settings='edited']";
    b.text_contains(&format!("{edited} .sim-decision"), "SUCCESS")
        .await;
    b.text_contains(&format!("{current} .sim-decision"), "FAILED")
        .await;
    b.shot("simulate").await;

    b.fill(form, "overrides.sensitive", "not a uri").await;
    b.click(&submit).await;
    b.field_error(form, "overrides.sensitive", "is not a claim URI")
        .await;
    b.assert_console_clean("after the simulations").await;
    assert_eq!(audit_records(&srv.url).await, records, "nothing written");
    b.close().await;
    srv.stop().await;
}

/// The overview's chart from real decisions: SUCCESS, FAILED and a refused call through the
/// action endpoint draw bars in the SVG, its accessible name and table carry the numbers, the
/// toggle shows 30 days; the organization of those calls is offered on the department and
/// audit pages.
#[tokio::test(flavor = "multi_thread")]
async fn overview_chart_and_seen_organizations() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let cred = dir.standard();
    set_admin_password(&dir);
    let srv = Server::start(&dir.path).await;
    for (id, value, want) in [
        ("ch-1", "HR", "SUCCESS"),
        ("ch-2", "Engineering", "SUCCESS"),
        ("ch-3", "Nowhere", "FAILED"),
    ] {
        let mut ev = profile_event(Some(id), dept(json!(value)));
        ev["event"]["organization"] = json!({"id": "org-chart", "name": "Chart Org"});
        let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
        assert_eq!(r.json["actionStatus"], want, "{id}");
    }
    let r = post(
        &srv.action_url(),
        &Auth::None,
        profile_event(Some("ch-4"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.status, 401);

    b.log_in(&srv.url).await;
    let svg = b.find("svg#activity-svg[role='img']").await;
    let label = svg.attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(
        label.contains("2 SUCCESS")
            && label.contains("1 FAILED")
            && label.contains("refused calls: 1"),
        "{label}"
    );
    // Bars for each outcome seen, with the counts they stand for; sums over the buckets
    // (the test may run across an hour boundary).
    let sums = |sel: &'static str| {
        let c = b.client.clone();
        async move {
            c.execute(
                "return [...document.querySelectorAll(arguments[0])]\
                   .reduce((n, e) => n + Number(e.getAttribute('data-count') || e.textContent), 0);",
                vec![json!(sel)],
            )
            .await
            .expect("script")
        }
    };
    assert_eq!(sums("#activity-svg rect.bar-success").await, json!(2));
    assert_eq!(sums("#activity-svg rect.bar-failed").await, json!(1));
    assert_eq!(sums("#activity-svg rect.bar-refused").await, json!(1));
    assert_eq!(sums("#activity-svg rect.bar-error").await, json!(0));
    let height: f64 = b
        .find("#activity-svg rect.bar-success")
        .await
        .attr("height")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(height > 1.0, "a bar has a height: {height}");
    // The same numbers as a table, for screen readers and whoever wants them.
    b.click("#activity-numbers summary").await;
    assert_eq!(
        sums("#activity-numbers td[data-part='success']").await,
        json!(2)
    );
    assert_eq!(
        sums("#activity-numbers td[data-part='failed']").await,
        json!(1)
    );
    assert_eq!(
        sums("#activity-numbers td[data-part='refused']").await,
        json!(1)
    );
    let rows = b
        .client
        .execute(
            "return document.querySelectorAll('#activity-numbers tbody tr').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rows, json!(24));
    b.click("#activity-30d").await;
    b.text_contains("#activity-numbers thead", "Day (UTC)")
        .await;
    let rows = b
        .client
        .execute(
            "return document.querySelectorAll('#activity-numbers tbody tr').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rows, json!(30));
    assert_eq!(
        b.find("#activity-30d")
            .await
            .attr("aria-pressed")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(sums("#activity-svg rect.bar-success").await, json!(2));
    b.shot("overview-chart").await;
    b.assert_console_clean("on the overview with its chart")
        .await;

    // The organization seen is offered where one is typed.
    b.open("departments", "Departments").await;
    let opt = b
        .find("#org-pick[list='orgs'] ~ datalist#orgs option[value='org-chart']")
        .await;
    assert_eq!(
        opt.attr("label").await.unwrap().as_deref(),
        Some("Chart Org")
    );
    b.open("audit", "Audit").await;
    b.find("form[aria-label='Filters'] input[name='org'][list='audit-orgs']")
        .await;
    b.find("datalist#audit-orgs option[value='org-chart']")
        .await;
    b.every_page_is_labelled().await;

    b.close().await;
    srv.stop().await;
}
