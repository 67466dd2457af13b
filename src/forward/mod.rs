//! Forwarding every audit record to a SIEM, once it is durable: RFC 5424 syslog over TCP or
//! TLS, and/or POSTs of JSON lines to an HTTP collector.
//!
//! One task per target, apart from the action path: it never slows or fails an action call.
//! The tasks run on a thread of their own at background priority ([`Forwarding`]).
//! Guarantees: **at least once, in order**. Each target's cursor (the last record its
//! collector accepted) is kept in sled beside the chain and moved only after a batch was
//! accepted, so a restart or an outage resumes where it stopped; a crash between acceptance
//! and the cursor's write sends those records again. Only records at or below the store's
//! durable mark are read, so nothing a crash could take back is ever sent. A batch holds at
//! most [`wire::MAX_BATCH`] records; failures back off from 1 s to 60 s.
//!
//! Syslog over TCP has no acknowledgement: a batch counts as accepted once written and
//! flushed. A connection the collector closed is noticed before the next write (and then
//! re-opened), but records written into a connection that dies right after can be lost in
//! the collector's hands; the HTTP target, acknowledged per batch, has no such gap.

pub mod wire;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::model::{HttpTarget, Settings, SyslogTarget};
use crate::store::forward_cursors::ForwardCursor;
use crate::store::{now_unix_ms, Store, StoreError};

/// How long a connect, a batch's write or a POST may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the task looks without a wake-up (settings changed, a missed signal).
const TICK: Duration = Duration::from_secs(1);
/// After a wake-up, how long to let more records gather: under load the committer makes
/// many small durable batches, and one send each would cost a connection per batch.
const GATHER: Duration = Duration::from_millis(100);

/// A forwarding target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Syslog,
    Http,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Syslog, Target::Http];

    /// Its name in settings, cursors, metrics and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Target::Syslog => "syslog",
            Target::Http => "http",
        }
    }

    /// Where it sends to, when it is switched on.
    pub fn destination(self, s: &Settings) -> Option<String> {
        match self {
            Target::Syslog => s.audit_forward.syslog.as_ref().map(|t| {
                format!(
                    "{}://{}:{}",
                    if t.tls { "syslog+tls" } else { "syslog" },
                    t.host,
                    t.port
                )
            }),
            Target::Http => s.audit_forward.http.as_ref().map(|t| t.url.clone()),
        }
    }
}

/// Why a batch was not accepted. Texts name the problem, never a token.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not connect to {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("sending failed: {0}")]
    Send(String),
    #[error("timed out after {} s", SEND_TIMEOUT.as_secs())]
    Timeout,
    #[error("the collector answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Http(#[from] crate::outbound::FetchError),
}

/// Counters of one target since the server started (for `/metrics` and the status).
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failures: AtomicU64,
}

/// Every target's counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub syslog: Counters,
    pub http: Counters,
}

impl Stats {
    pub fn of(&self, target: Target) -> &Counters {
        match target {
            Target::Syslog => &self.syslog,
            Target::Http => &self.http,
        }
    }
}

/// A byte stream to a syslog collector, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open way to the target, kept while its settings stay the same.
enum Link {
    Syslog(SyslogTarget, Box<dyn Stream>),
    Http(HttpTarget, tokio_rustls::TlsConnector),
}

/// What one step did.
enum Step {
    Sent(u64),
    /// Switched on, nothing new.
    Idle,
    /// Switched off: nothing to wait for but the settings.
    Off,
}

/// One record read for sending: seq, hash (hex), stored JSON.
type Record = (u64, String, Vec<u8>);

/// The forwarders, running on their own thread at background priority.
///
/// Why a thread of its own: "it never slows an action call". On the server's runtime the
/// forwarders' reading, encoding and sending competed with the action path for the same
/// cores (about 7 % of the CPU at full load; 14 % of the action's throughput when the action
/// ran with and without forwarding in the same minutes, 6 % at nice 19). At nice 19
/// the kernel gives them what the action path leaves; under a load that saturates every core
/// they fall behind (the backlog is durable, shown in `/metrics`) and catch up when it eases.
pub struct Forwarding {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarding {
    /// Starts forwarding to every target that is, or later gets, switched on.
    pub fn start(store: Arc<Store>, stats: Arc<Stats>) -> std::io::Result<Forwarding> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("profilegate-forward".into())
            .spawn(move || {
                background_priority();
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    // The blocking pool (record reads) runs at the same priority.
                    .thread_name("profilegate-forward")
                    .on_thread_start(background_priority)
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "audit forwarding could not start");
                        return;
                    }
                };
                rt.block_on(async move {
                    let work = futures_util::future::join_all(
                        Target::ALL.map(|t| run(store.clone(), t, stats.clone())),
                    );
                    tokio::select! {
                        _ = work => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Forwarding {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the forwarders and waits for the thread (as dropping does).
    pub fn stop(self) {}
}

impl Drop for Forwarding {
    /// Stops the forwarders (a batch in flight is sent again after a restart) and waits for
    /// the thread.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Lowers the calling thread's scheduling priority to the lowest (nice 19): the thread only
/// gets the CPU the action path does not use, apart from a small share under full load.
fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's id; no memory of ours is passed.
        let ret =
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
        if ret != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not lower the audit forwarding's priority"
            );
        }
    }
}

/// Runs until dropped: forwards to `target` whenever it is switched on.
async fn run(store: Arc<Store>, target: Target, stats: Arc<Stats>) {
    let mut durable = store.watch_durable();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut link: Option<Link> = None;
    let mut failures = 0u32;
    loop {
        match step(&store, target, &host, &mut link).await {
            Ok(Step::Sent(n)) => {
                failures = 0;
                stats.of(target).sent.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Step::Idle) => {
                tokio::select! {
                    _ = durable.changed() => tokio::time::sleep(GATHER).await,
                    () = tokio::time::sleep(TICK) => {}
                }
            }
            // Not woken by every commit while off: the action path's CPU is the scarce one.
            Ok(Step::Off) => tokio::time::sleep(TICK).await,
            Err(e) => {
                failures = failures.saturating_add(1);
                stats.of(target).failures.fetch_add(1, Ordering::Relaxed);
                link = None;
                tracing::warn!(target = target.name(), error = %e, "audit forwarding failed; will retry");
                note_failure(&store, target, &e);
                tokio::time::sleep(wire::backoff(failures)).await;
            }
        }
    }
}

/// Keeps the failure with the cursor, where `audit forward status` finds it.
fn note_failure(store: &Store, target: Target, e: &ForwardError) {
    let res = store.forward_cursor(target.name()).and_then(|c| {
        let Some(mut c) = c else { return Ok(()) };
        c.last_error = Some(e.to_string());
        c.last_error_at = Some(now_unix_ms());
        store.set_forward_cursor(target.name(), &c)
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not note the forwarding failure");
    }
}

/// Sends the next batch, if forwarding is on and there is one.
async fn step(
    store: &Arc<Store>,
    target: Target,
    host: &str,
    link: &mut Option<Link>,
) -> Result<Step, ForwardError> {
    let settings = store.settings();
    if target.destination(&settings).is_none() {
        *link = None;
        return Ok(Step::Off);
    }
    let durable = store.durable_seq();
    let cursor = match store.forward_cursor(target.name())? {
        Some(c) => c,
        None => {
            // Switched on without the use case (settings restored): start at the head.
            let c = ForwardCursor {
                seq: durable,
                started_after: durable,
                ..ForwardCursor::default()
            };
            store.set_forward_cursor(target.name(), &c)?;
            c
        }
    };
    if cursor.seq >= durable {
        return Ok(Step::Idle);
    }
    let until = durable.min(cursor.seq + wire::MAX_BATCH as u64);
    let batch = read_batch(store.clone(), cursor.seq + 1, until).await?;
    let Some(last) = batch.last().map(|r| r.0) else {
        return Ok(Step::Idle);
    };
    match target {
        Target::Syslog => {
            let Some(t) = settings.audit_forward.syslog.as_ref() else {
                return Ok(Step::Off);
            };
            send_syslog(t, host, link, &batch).await?;
        }
        Target::Http => {
            let Some(t) = settings.audit_forward.http.as_ref() else {
                return Ok(Step::Off);
            };
            send_http(t, link, &batch).await?;
        }
    }
    // Accepted: the cursor moves on and its failure note goes.
    let moved = ForwardCursor {
        seq: last,
        started_after: cursor.started_after,
        ..ForwardCursor::default()
    };
    // Switched off or placed anew while this batch was in flight: the new cursor stands.
    store.advance_forward_cursor(target.name(), &cursor, &moved)?;
    Ok(Step::Sent(batch.len() as u64))
}

/// Reads records `from..=until` off the runtime's threads.
async fn read_batch(store: Arc<Store>, from: u64, until: u64) -> Result<Vec<Record>, ForwardError> {
    tokio::task::spawn_blocking(move || {
        store
            .audit_raw_iter(from)
            .take_while(|r| r.as_ref().map_or(true, |(seq, _, _)| *seq <= until))
            .collect::<Result<Vec<_>, StoreError>>()
    })
    .await
    .map_err(|e| ForwardError::Send(format!("the reading task failed: {e}")))?
    .map_err(ForwardError::from)
}

/// The record's own time, for the syslog TIMESTAMP.
fn record_time(body: &[u8]) -> Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct TimeView<'a> {
        #[serde(borrow)]
        time: Cow<'a, str>,
    }
    serde_json::from_slice::<TimeView<'_>>(body).map_or(Cow::Borrowed("-"), |v| v.time)
}

async fn connect_syslog(t: &SyslogTarget) -> Result<Box<dyn Stream>, ForwardError> {
    let connect_err = |detail: String| ForwardError::Connect {
        target: format!("{}:{}", t.host, t.port),
        detail,
    };
    let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    if !t.tls {
        return Ok(Box::new(tcp));
    }
    let tls = crate::outbound::tls_connector(t.tls_ca_pem.as_deref())?;
    let name = rustls::pki_types::ServerName::try_from(t.host.trim_matches(['[', ']']).to_string())
        .map_err(|e| connect_err(e.to_string()))?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| connect_err(format!("TLS: {e}")))?;
    Ok(Box::new(stream))
}

async fn send_syslog(
    t: &SyslogTarget,
    host: &str,
    link: &mut Option<Link>,
    batch: &[Record],
) -> Result<(), ForwardError> {
    let pid = std::process::id();
    let mut frames = Vec::new();
    for (seq, hash, body) in batch {
        let msg = wire::syslog_message(*seq, hash, &record_time(body), host, pid, body);
        wire::octet_frame(&msg, &mut frames);
    }
    let fut = async {
        // A connection the collector closed reads as its end: open a new one.
        let alive = match link {
            Some(Link::Syslog(have, stream)) if have == t => {
                let mut probe = [0u8; 64];
                !matches!(stream.read(&mut probe).now_or_never(), Some(Ok(0) | Err(_)))
            }
            _ => false,
        };
        if !alive {
            *link = Some(Link::Syslog(t.clone(), connect_syslog(t).await?));
        }
        let Some(Link::Syslog(_, stream)) = link else {
            return Err(ForwardError::Send("no connection".into()));
        };
        stream
            .write_all(&frames)
            .await
            .map_err(|e| ForwardError::Send(e.to_string()))?;
        stream
            .flush()
            .await
            .map_err(|e| ForwardError::Send(e.to_string()))
    };
    tokio::time::timeout(SEND_TIMEOUT, fut)
        .await
        .map_err(|_| ForwardError::Timeout)?
}

async fn send_http(
    t: &HttpTarget,
    link: &mut Option<Link>,
    batch: &[Record],
) -> Result<(), ForwardError> {
    let tls = match link {
        Some(Link::Http(have, tls)) if have == t => tls.clone(),
        _ => {
            let tls = crate::outbound::tls_connector(t.tls_ca_pem.as_deref())?;
            *link = Some(Link::Http(t.clone(), tls.clone()));
            tls
        }
    };
    let mut body = Vec::new();
    for (seq, hash, record) in batch {
        wire::json_line(*seq, hash, record, &mut body);
    }
    let bearer = t.token.as_ref().map(|tok| format!("Bearer {tok}"));
    let mut headers = vec![("content-type", "application/x-ndjson")];
    if let Some(b) = bearer.as_deref() {
        headers.push(("authorization", b));
    }
    let status = crate::outbound::post(
        &tls,
        &crate::outbound::Post {
            url: &t.url,
            headers: &headers,
            body: Bytes::from(body),
            timeout: SEND_TIMEOUT,
        },
    )
    .await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ForwardError::Status(status))
    }
}
