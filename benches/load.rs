//! Load benchmark: the server in-process on a temporary data dir, driven over real HTTP by
//! keep-alive connections. Prints requests/s and p50/p99 latency for `GET /healthz` (the
//! baseline: HTTP and the runtime alone) and for the action endpoint with the seed payload,
//! a valid department, a Basic credential and the durable audit on; and their ratio; with each,
//! the CPU time (client and server together) per request, which a noisy neighbour disturbs
//! less than requests/s. Then the same action with the security-team e-mail on, against an
//! in-process SMTP server (mailin), (c) in blocking mode and (d) in queued mode. The
//! in-process server logs as the binary does by default (level info), into a sink.
//!
//!     cargo bench --bench load
//!
//! Settings (environment): PG_BENCH_CONNS (default 64), PG_BENCH_SECS per scenario (default 10),
//! PG_BENCH_WARMUP_SECS (default 2), PG_BENCH_ONLY=action (skip the baseline, for profiling),
//! PG_BENCH_ONLY=ratio (only the baseline and the action, for comparing builds),
//! PG_BENCH_RECORDS (default 1000000; 0 skips scenario e), PG_BENCH_BURST=0 (scenario e without
//! its burst case), PG_BENCH_FORWARD=1 ((b) with every record forwarded to an HTTP collector in
//! this process, and (b0), the action with forwarding off, in the same slices),
//! PG_BENCH_AUTH=jwt (the action calls authenticate with a provider's RS256 JWT,
//! as WSO2 IS issues them, checked against a JWKS this process serves over TLS, instead of Basic).
//!
//! Scenario (e) builds a data dir with that many audit records, starts the release binary on
//! it as a separate process, and reports its start-up time (spawn to first /healthz answer),
//! its resident memory after start-up, and its peak resident memory (VmHWM) after a load run.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use profilegate::model::{DeliveryMode, Encryption, SmtpSettings};
use profilegate::service::credentials::{create_now, NewCredential};
use profilegate::store::Store;

/// The allocator of the `profilegate` binary (see src/main.rs): the server runs in this
/// process, so this is what it allocates with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SEED: &str = include_str!("../../shared/fixtures/seed-usecase-profile.json");

#[derive(Clone)]
enum Scenario {
    Health,
    /// `tag` keeps request ids unique across scenarios (one data dir, so a repeated id would be
    /// replayed from the idempotency index instead of decided).
    Action {
        auth: String,
        tag: String,
    },
    /// The password action with one of these `updatingCredential` values (JSON), in turn.
    Password {
        auth: String,
        tag: String,
        credentials: Arc<Vec<String>>,
    },
}

/// The password action's v1.1 sample (a user's reset).
const PASSWORD_SAMPLE: &str = include_str!("../tests/fixtures/password/v1.1-user-reset-plain.json");
/// A password every default rule accepts.
const GOOD_PASSWORD: &str = "amber kettle across the meadow";

struct Outcome {
    requests: u64,
    errors: u64,
    /// The first unexpected answer, to say what the errors were.
    first_error: Option<String>,
    secs: f64,
    latencies_us: Vec<u32>,
    /// CPU time this process (client and server) used while recording, in µs.
    cpu_us: u64,
}

impl Outcome {
    fn empty() -> Outcome {
        Outcome {
            requests: 0,
            errors: 0,
            first_error: None,
            secs: 0.0,
            latencies_us: Vec::new(),
            cpu_us: 0,
        }
    }
    /// Adds another slice of the same scenario.
    fn add(&mut self, o: Outcome) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.first_error = self.first_error.take().or(o.first_error);
        self.secs += o.secs;
        self.latencies_us.extend(o.latencies_us);
        self.latencies_us.sort_unstable();
        self.cpu_us += o.cpu_us;
    }
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    /// CPU time (client and server together) per request, in µs: less sensitive to a
    /// neighbour's noise than requests/s.
    fn cpu_per_req(&self) -> f64 {
        self.cpu_us as f64 / self.requests.max(1) as f64
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

async fn connection(
    addr: SocketAddr,
    scenario: Scenario,
    conn_no: usize,
    stop: Arc<AtomicBool>,
    record: Arc<AtomicBool>,
) -> (u64, u64, Vec<u32>, Option<String>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut first_error: Option<String> = None;
    // The body is the seed payload with a unique requestId; split once so that building a
    // request costs the client a concatenation, not a JSON serialization.
    let mut seed: serde_json::Value = serde_json::from_str(SEED).expect("seed json");
    seed["requestId"] = "@RID@".into();
    let template = seed.to_string();
    let (head, tail) = template.split_once("@RID@").expect("placeholder");
    let mut sample: serde_json::Value = serde_json::from_str(PASSWORD_SAMPLE).expect("sample");
    sample["requestId"] = "@RID@".into();
    sample["event"]["user"]["updatingCredential"] = "@CRED@".into();
    // serde_json orders keys, so the credential (under `event`) comes before `requestId`.
    let sample = sample.to_string();
    let (p_head, rest) = sample.split_once("\"@CRED@\"").expect("placeholder");
    let (p_mid, p_tail) = rest.split_once("\"@RID@\"").expect("placeholder");
    let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let req = match &scenario {
            Scenario::Health => Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new())),
            Scenario::Action { auth, tag } => {
                let body = format!("{head}bench-{tag}-{conn_no}-{i}{tail}");
                Request::post("/actions/pre-update-profile")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .header("authorization", auth.as_str())
                    .body(Full::new(Bytes::from(body)))
            }
            Scenario::Password {
                auth,
                tag,
                credentials,
            } => {
                let cred = &credentials[i as usize % credentials.len()];
                let body = format!("{p_head}{cred}{p_mid}\"bench-{tag}-{conn_no}-{i}\"{p_tail}");
                Request::post("/actions/pre-update-password")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .header("authorization", auth.as_str())
                    .body(Full::new(Bytes::from(body)))
            }
        }
        .expect("request");
        let t = Instant::now();
        let good = match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let good = status == 200
                    && (matches!(scenario, Scenario::Health)
                        || body.as_ref() == br#"{"actionStatus":"SUCCESS"}"#);
                if !good && first_error.is_none() {
                    first_error = Some(format!("{status} {}", String::from_utf8_lossy(&body)));
                }
                good
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(e.to_string());
                }
                false
            }
        };
        if record.load(Ordering::Relaxed) {
            lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
            if good {
                ok += 1;
            } else {
                errors += 1;
            }
        }
    }
    (ok, errors, lat, first_error)
}

async fn run(
    addr: SocketAddr,
    scenario: Scenario,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    server_pid: Option<u32>,
) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let record = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            tokio::spawn(connection(
                addr,
                scenario.clone(),
                c,
                stop.clone(),
                record.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(warmup).await;
    record.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let cpu_before = process_cpu_us(server_pid);
    tokio::time::sleep(secs).await;
    record.store(false, Ordering::Relaxed);
    let cpu_us = process_cpu_us(server_pid).saturating_sub(cpu_before);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome {
        requests: 0,
        errors: 0,
        first_error: None,
        secs: elapsed,
        latencies_us: Vec::new(),
        cpu_us,
    };
    for t in tasks {
        let (ok, errors, lat, err) = t.await.expect("connection task");
        if out.first_error.is_none() {
            out.first_error = err;
        }
        out.requests += ok;
        out.errors += errors;
        out.latencies_us.extend(lat);
    }
    out.latencies_us.sort_unstable();
    out
}

/// User and system CPU time of this process and of the server's, when it runs as its own
/// process, so far, in µs.
fn process_cpu_us(server: Option<u32>) -> u64 {
    proc_cpu_us("self") + server.map_or(0, |pid| proc_cpu_us(&pid.to_string()))
}

/// User and system CPU time of a process so far, in µs (from /proc/PID/stat, in clock
/// ticks of 10 ms: fine over a run of seconds).
fn proc_cpu_us(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start at ")".
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10_000)
        })
        .unwrap_or(0)
}

/// An in-process SMTP server that accepts and counts messages.
#[derive(Clone)]
struct Sink(Arc<std::sync::atomic::AtomicU64>);

impl mailin_embedded::Handler for Sink {
    fn data_end(&mut self) -> mailin_embedded::Response {
        self.0.fetch_add(1, Ordering::Relaxed);
        mailin_embedded::response::OK
    }
}

fn start_smtp() -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind smtp");
    let addr = listener.local_addr().expect("smtp addr");
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut server = mailin_embedded::Server::new(Sink(count.clone()));
    server
        .with_name("bench")
        // mailin serves one connection per thread; profilegate may open one per concurrent send.
        .with_num_threads(128)
        .with_ssl(mailin_embedded::SslConfig::None)
        .expect("smtp config")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (addr, count)
}

/// A running server on the benchmark's data dir.
struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), profilegate::ServeError>>,
}

async fn start(dir: &std::path::Path, configure: impl FnOnce(&Store)) -> Running {
    let store = Store::open(dir).expect("store");
    configure(&store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(profilegate::run(store, listener, async move {
        let _ = rx.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server");
    }
}

fn main() {
    profilegate::disable_huge_pages();
    // The server logs as the binary does by default (level info, text, the request id on an
    // action's lines), into a sink: what logging costs the request path is measured, the
    // terminal stays readable.
    profilegate::logfmt::init(std::io::sink, "info", false, false);
    let conns = env_u64("PG_BENCH_CONNS", 64) as usize;
    let secs = Duration::from_secs(env_u64("PG_BENCH_SECS", 10));
    let warmup = Duration::from_secs(env_u64("PG_BENCH_WARMUP_SECS", 2));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let auth = {
        let (store, secret) = standard_store(&dir);
        drop(store);
        basic_header(&secret)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let jwt = std::env::var("PG_BENCH_AUTH").is_ok_and(|v| v == "jwt");
    let auth = if jwt {
        rt.block_on(jwt_auth::setup(&dir))
    } else {
        auth
    };
    rt.block_on(async move {
        if jwt {
            println!("authentication: Bearer JWT (RS256) checked against a JWKS served over TLS");
        }
        println!("profilegate load benchmark: {conns} connections, {}s per scenario after {}s warm-up, {} cores", secs.as_secs(), warmup.as_secs(), std::thread::available_parallelism().map_or(0, |n| n.get()));
        println!("{:<44} {:>10} {:>9} {:>9} {:>7} {:>12}", "scenario", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/req");
        let report = |name: &str, o: &Outcome| {
            println!("{:<44} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>12.1}", name, o.rps(), o.pct(0.50), o.pct(0.99), o.errors, o.cpu_per_req());
            if let Some(e) = &o.first_error {
                println!("    first error: {e}");
            }
        };
        // PG_BENCH_ONLY=action skips the baseline and the e-mail scenarios (for profiling);
        // PG_BENCH_ONLY=health only (a) (for profiling); PG_BENCH_ONLY=ratio runs only (a) and
        // (b); PG_BENCH_ONLY=big runs only scenario (e).
        let only = std::env::var("PG_BENCH_ONLY").unwrap_or_default();
        let only_action = only == "action";
        if only == "big" {
            big_store(env_u64("PG_BENCH_RECORDS", 1_000_000), conns, warmup, secs, &report).await;
            return;
        }
        if only == "password" {
            password_scenarios(&dir, &auth, conns, warmup, secs, &report).await;
            return;
        }

        // (a) and (b) run in alternating slices (PG_BENCH_SLICES, default 5; the time split
        // among them; each slice's new connections warm up for a fifth of the warm-up, the
        // first for all of it), so both see the same machine: on this shared VM the speed
        // drifts by 15 % and more over minutes, and measuring one scenario after the other
        // put that drift into their ratio.
        // PG_BENCH_FORWARD=1: (b) with every record also forwarded to an HTTP collector in
        // this process (the SIEM forwarding's cost on the action path), and (b0), the same
        // action with forwarding off, in the same slices: the pair shows the cost.
        let sink = if env_u64("PG_BENCH_FORWARD", 0) != 0 { Some(start_sink().await) } else { None };
        let srv = start(&dir, |_| {}).await;
        let slices = env_u64("PG_BENCH_SLICES", 5).max(1) as u32;
        let (mut health, mut action, mut unforwarded) = (Outcome::empty(), Outcome::empty(), Outcome::empty());
        let mut slice_ratios = Vec::new();
        let mut catch_up = Vec::new();
        let action_run = |tag: String, warm| run(srv.addr, Scenario::Action { auth: auth.clone(), tag }, conns, warm, secs / slices, None);
        for slice in 0..slices {
            let warm = if slice == 0 { warmup } else { warmup / slices };
            let h = if only_action {
                Outcome::empty()
            } else {
                run(srv.addr, Scenario::Health, conns, warm, secs / slices, None).await
            };
            if let Some((addr, _)) = &sink {
                let b0 = action_run(format!("b0{slice}"), warm).await;
                unforwarded.add(b0);
                forward_to(&dir, Some(*addr));
            }
            let a = if only == "health" { Outcome::empty() } else { action_run(format!("b{slice}"), warm).await };
            if sink.is_some() {
                // The backlog the load left, and how long the forwarder took to clear it
                // (outside the measured time), before it is switched off.
                let backlog = forward_backlog(&dir);
                let t = Instant::now();
                while forward_backlog(&dir) > 0 && t.elapsed() < Duration::from_secs(60) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                catch_up.push(format!("{backlog} in {:.1} s", t.elapsed().as_secs_f64()));
                forward_to(&dir, None);
            }
            slice_ratios.push(format!("{:.2}", a.rps() / h.rps()));
            health.add(h);
            action.add(a);
        }
        if !only_action {
            report("(a) GET /healthz", &health);
        }
        if sink.is_some() {
            report("(b0) action, forwarding off", &unforwarded);
            println!("ratio (b0)/(a): {:.2}", unforwarded.rps() / health.rps());
            report("(b) action, every record forwarded", &action);
        } else {
            report("(b) action, seed payload, durable audit", &action);
        }
        println!("ratio (b)/(a): {:.2} (slices: {})", action.rps() / health.rps(), slice_ratios.join(" "));
        if let Some((_, lines)) = &sink {
            println!(
                "    forwarded to the collector: {} records (every record of (b), warm-up included); backlog at the end of each slice and its catch-up: {}",
                lines.load(Ordering::Relaxed),
                catch_up.join(", ")
            );
        }
        srv.stop().await;
        if only_action || only == "ratio" || only == "health" {
            return;
        }

        // The seed payload changes e-mail, mobile and department: every request is mailed.
        let (smtp, received) = start_smtp();
        for (label, mode, tag) in [
            ("(c) action + e-mail, blocking", DeliveryMode::Blocking, "c".to_string()),
            ("(d) action + e-mail, queued", DeliveryMode::Queued, "d".to_string()),
        ] {
            let before = received.load(Ordering::Relaxed);
            let srv = start(&dir, |s| {
                s.update_settings("bench", "notify", |st| {
                    st.notify.smtp = Some(SmtpSettings {
                        host: smtp.ip().to_string(),
                        port: smtp.port(),
                        encryption: Encryption::None,
                        username: None,
                        password: None,
                        from: "profilegate@bench.test".into(),
                        timeout_ms: 3000,
                        tls_ca_pem: None,
                    });
                    st.notify.recipients = vec!["security@bench.test".into()];
                    st.notify.mode = mode;
                })
                .expect("settings");
            })
            .await;
            let o = run(srv.addr, Scenario::Action { auth: auth.clone(), tag }, conns, warmup, secs, None).await;
            report(label, &o);
            srv.stop().await;
            let pending = Store::open(&dir).ok().and_then(|s| s.outbox_pending_count().ok()).unwrap_or(0);
            println!(
                "    e-mails accepted by the SMTP server: {}; still queued at shutdown: {pending}",
                received.load(Ordering::Relaxed) - before
            );
        }
        password_scenarios(&dir, &auth, conns, warmup, secs, &report).await;
        let records = env_u64("PG_BENCH_RECORDS", 1_000_000);
        if records > 0 {
            big_store(records, conns, warmup, secs, &report).await;
        }
    });
}

/// Scenarios (f)-(h): the password action with a PLAIN_TEXT credential and with JWEs for an
/// RSA-2048 and an RSA-3072 key (one key active at a time: the ring tries the newest first),
/// each in slices alternating with (a) so the ratio to healthz comes from the same minutes.
async fn password_scenarios(
    dir: &std::path::Path,
    auth: &str,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    report: &dyn Fn(&str, &Outcome),
) {
    use profilegate::keys::{seal, KeySize, PasswordKey};
    let payload =
        serde_json::json!({"type": "PASSWORD", "format": "PLAIN_TEXT", "value": GOOD_PASSWORD})
            .to_string();
    let plain = Arc::new(vec![payload.clone()]);
    let mut old_key: Option<String> = None;
    let phases = [
        ("(f) password action, PLAIN_TEXT", None, "f"),
        (
            "(g) password action, JWE RSA-2048",
            Some(KeySize::Rsa2048),
            "g",
        ),
        (
            "(h) password action, JWE RSA-3072",
            Some(KeySize::Rsa3072),
            "h",
        ),
    ];
    for (label, size, tag) in phases {
        let mut creds = plain.clone();
        let store = Store::open(dir).expect("store");
        if let Some(size) = size {
            let key = PasswordKey::generate(size).expect("key");
            if let Some(id) = old_key.take() {
                store.retire_password_key("bench", &id).expect("retire");
            }
            store.add_password_key("bench", &key).expect("add key");
            old_key = Some(key.id().to_string());
            // 64 distinct tokens (each opened anew: nothing caches a token).
            creds = Arc::new(
                (0..64)
                    .map(|_| {
                        serde_json::Value::String(seal(&key, &payload).expect("seal")).to_string()
                    })
                    .collect(),
            );
        }
        store.flush().expect("flush");
        drop(store);
        let srv = start(dir, |_| {}).await;
        let slices = env_u64("PG_BENCH_SLICES", 5).max(1) as u32;
        let (mut health, mut action) = (Outcome::empty(), Outcome::empty());
        for slice in 0..slices {
            let warm = if slice == 0 { warmup } else { warmup / slices };
            health.add(run(srv.addr, Scenario::Health, conns, warm, secs / slices, None).await);
            let scenario = Scenario::Password {
                auth: auth.to_string(),
                tag: format!("{tag}{slice}"),
                credentials: creds.clone(),
            };
            action.add(run(srv.addr, scenario, conns, warm, secs / slices, None).await);
        }
        report("    (a) GET /healthz, same minutes", &health);
        report(label, &action);
        println!("    ratio to (a): {:.2}", action.rps() / health.rps());
        srv.stop().await;
    }
}

/// Switches HTTP forwarding on, to `addr`, from the chain's head.
/// Switches forwarding to the collector at `addr` on (after the chain's head), or off, in
/// the running server on `dir`, through its control socket as `audit forward` does.
fn forward_to(dir: &std::path::Path, addr: Option<SocketAddr>) {
    use profilegate::service::forward::Request;
    let req = match addr {
        Some(addr) => Request::Http {
            target: profilegate::model::HttpTarget {
                url: format!("http://{addr}/in"),
                token: Some("bench".into()),
                tls_ca_pem: None,
            },
            from_start: false,
        },
        None => Request::Off { target: None },
    };
    let req = serde_json::to_value(&req).expect("request");
    let answer =
        profilegate::control::request_json(dir, "audit-forward", &req).expect("control socket");
    assert!(answer.contains("\"ok\""), "audit-forward: {answer}");
}

/// Records on disk that the running server on `dir` has not yet forwarded.
fn forward_backlog(dir: &std::path::Path) -> u64 {
    let answer =
        profilegate::control::request_line(dir, "audit-forward-status").expect("control socket");
    let v: serde_json::Value = serde_json::from_str(answer.trim()).expect("status");
    v["ok"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(|t| t["backlog"].as_u64())
        .unwrap_or(0)
}

/// An HTTP collector in this process: reads each POST (content-length body), counts its JSON
/// lines, answers 200 and closes. A real collector runs on another machine; this one shares
/// the benchmark's two cores, so it does as little as it can: one buffer per connection,
/// read into without zeroing, newlines counted in a loop the compiler vectorizes.
async fn start_sink() -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let lines = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = lines.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
                let body_start = loop {
                    if !read_more(&mut s, &mut buf).await {
                        return;
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let len: usize = String::from_utf8_lossy(&buf[..body_start])
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < body_start + len {
                    if !read_more(&mut s, &mut buf).await {
                        return;
                    }
                }
                let n = buf[body_start..body_start + len]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                count.fetch_add(n as u64, Ordering::Relaxed);
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, lines)
}

/// Reads what is there onto the end of `buf` (growing it, never zeroing); false at the end
/// of the stream or on an error.
async fn read_more(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    if buf.capacity() - buf.len() < 64 * 1024 {
        buf.reserve(1 << 20);
    }
    matches!(s.read_buf(buf).await, Ok(n) if n > 0)
}

/// A data dir with the benchmark's departments and a Basic credential; the store and the
/// credential's secret.
fn standard_store(dir: &std::path::Path) -> (Store, String) {
    let store = Store::open(dir).expect("store");
    store
        .add_departments("bench", None, &["HR", "Engineering"])
        .expect("departments");
    let c = create_now(
        &store,
        "bench",
        &NewCredential::Basic {
            username: "wso2".into(),
        },
    )
    .expect("credential");
    store.flush().expect("flush");
    (store, c.secret)
}

/// The Authorization header for the benchmark's credential.
fn basic_header(secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("wso2:{secret}"))
    )
}

/// A field of /proc/PID/status in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| {
                    l.strip_prefix(field)
                        .map(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
}

/// Scenario (e): start-up and memory of the release binary over a large audit log.
async fn big_store(
    records: u64,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    report: &dyn Fn(&str, &Outcome),
) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("big");
    let built = Instant::now();
    let basic = {
        let (store, secret) = standard_store(&dir);
        let id = secret.split('_').nth(1).unwrap_or("").to_string();
        let mut n = 0u64;
        while n < records {
            let batch: Vec<Vec<u8>> = (n..(n + 256).min(records))
                .map(|i| support::decision_record(i, &id))
                .collect();
            // Each decision's request key, as the server stores it for retries after a
            // restart (the same key as the record's idempotency_key).
            let keys: Vec<(usize, [u8; 16])> = (0..batch.len())
                .map(|j| (j, support::bench_key(n + j as u64).to_be_bytes()))
                .collect();
            n += batch.len() as u64;
            store.append_batch(&batch, &keys, &[]).expect("append");
        }
        store.flush().expect("flush");
        drop(store);
        basic_header(&secret)
    };
    let size_mb = support::dir_size(&dir) as f64 / 1e6;
    println!(
        "(e) {records} audit records written in {:.1} s ({size_mb:.0} MB on disk); the release binary on them:",
        built.elapsed().as_secs_f64()
    );
    // Just written, every record is inside the idempotency window: the start-up re-indexes
    // all of them (a burst of that size within two minutes, the worst case). PG_BENCH_BURST=0
    // skips it (with ten million records it is not a case that happens).
    if env_u64("PG_BENCH_BURST", 1) != 0 {
        start_and_measure(
            &dir,
            "records within the retry window",
            &basic,
            conns,
            warmup,
            secs,
            report,
        )
        .await;
    }
    // The usual case: the records are older than the window.
    {
        let store = Store::open(&dir).expect("store");
        store
            .update_settings("bench", "idempotency", |s| s.idempotency_window_secs = 0)
            .expect("settings");
        store.flush().expect("flush");
    }
    start_and_measure(
        &dir,
        "records older than the retry window",
        &basic,
        conns,
        warmup,
        secs,
        report,
    )
    .await;
}

/// Starts the release binary on `dir`, times its start-up, loads it, reports its memory.
async fn start_and_measure(
    dir: &std::path::Path,
    label: &str,
    basic: &str,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    report: &dyn Fn(&str, &Outcome),
) {
    let started = Instant::now();
    let (child, addr) = support::spawn_server(dir);
    let pid = child.id();
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            if buf.starts_with(b"HTTP/1.1 200") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let startup = started.elapsed();
    let rss_idle = proc_kb(pid, "VmRSS:");
    println!(
        "  {label}: start-up {:.0} ms (spawn to first /healthz answer), RSS after start-up {:.1} MB",
        startup.as_secs_f64() * 1000.0,
        rss_idle as f64 / 1024.0
    );
    let o = run(
        addr,
        Scenario::Action {
            auth: basic.to_string(),
            tag: "e".into(),
        },
        conns,
        warmup,
        secs,
        Some(pid),
    )
    .await;
    report("    action under load on that data dir", &o);
    println!(
        "    peak RSS (VmHWM) {:.1} MB",
        proc_kb(pid, "VmHWM:") as f64 / 1024.0
    );
    support::stop_server(child);
}

/// PG_BENCH_AUTH=jwt: a `jwt` credential whose key set this process serves over TLS (a test CA
/// the credential trusts), and one RS256 token for every call, as the identity server reuses
/// the token it fetched from its provider until it expires.
/// The RSA signing key the integration tests use too.
#[path = "../tests/it/support/jwt_keys.rs"]
mod jwt_keys;

mod jwt_auth {
    use std::sync::Arc;

    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, Header};
    use profilegate::model::credentials::JwtIssuer;
    use profilegate::service::credentials::{create_now, NewCredential};
    use profilegate::store::Store;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ISSUER: &str = "https://idp.bench:9443/oauth2/token";
    const AUDIENCE: &str = "profilegate-bench";

    /// Returns the Authorization header the calls carry.
    pub async fn setup(dir: &std::path::Path) -> String {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(
            ca_params,
            rcgen::KeyPair::generate().expect("key"),
        )
        .expect("CA");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("leaf")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(format!("{}{}", leaf.pem(), ca.pem()).as_bytes())
                .map(|c| c.expect("cert"))
                .collect();
        let key = PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).expect("key");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("TLS");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let signing = crate::jwt_keys::rsa2048();
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).expect("jwk");
        jwk.common.key_id = Some("bench-1".into());
        let body = serde_json::json!({ "keys": [jwk] }).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, body) = (acceptor.clone(), body.clone());
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });

        let store = Store::open(dir).expect("store");
        create_now(
            &store,
            "bench",
            &NewCredential::Jwt(JwtIssuer {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                scope: Some("profilegate".into()),
                jwks_url: format!("https://localhost:{port}/oauth2/jwks"),
                tls_ca_pem: Some(ca.pem()),
            }),
        )
        .expect("jwt credential");
        store.flush().expect("flush");
        drop(store);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("bench-1".into());
        let claims = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": AUDIENCE,
            "scope": "profilegate", "iat": now, "exp": now + 3600});
        let token = jsonwebtoken::encode(&header, &claims, &signing).expect("token");
        format!("Bearer {token}")
    }
}
