//! Load benchmark: the server in-process on a temporary data dir, driven over real HTTP by
//! keep-alive connections. Prints requests/s and p50/p99 latency for `GET /healthz` (the
//! baseline: HTTP and the runtime alone) and for the action endpoint with the seed payload,
//! a valid department, a Basic credential and the durable audit on; and their ratio.
//!
//!     cargo bench --bench load
//!
//! Settings (environment): PG_BENCH_CONNS (default 64), PG_BENCH_SECS per scenario (default 10),
//! PG_BENCH_WARMUP_SECS (default 2), PG_BENCH_ONLY=action (skip the baseline, for profiling).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use profilegate::auth::{create_credential, NewCredential};
use profilegate::store::Store;

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
    Action { auth: String },
}

struct Outcome {
    requests: u64,
    errors: u64,
    secs: f64,
    latencies_us: Vec<u32>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
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
) -> (u64, u64, Vec<u32>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    // The body is the seed payload with a unique requestId; split once so that building a
    // request costs the client a concatenation, not a JSON serialization.
    let mut seed: serde_json::Value = serde_json::from_str(SEED).expect("seed json");
    seed["requestId"] = "@RID@".into();
    let template = seed.to_string();
    let (head, tail) = template.split_once("@RID@").expect("placeholder");
    let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let req = match &scenario {
            Scenario::Health => Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new())),
            Scenario::Action { auth } => {
                let body = format!("{head}bench-{conn_no}-{i}{tail}");
                Request::post("/actions/pre-update-profile")
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
                status == 200
                    && (matches!(scenario, Scenario::Health)
                        || body.as_ref() == br#"{"actionStatus":"SUCCESS"}"#)
            }
            Err(_) => false,
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
    (ok, errors, lat)
}

async fn run(
    addr: SocketAddr,
    scenario: Scenario,
    conns: usize,
    warmup: Duration,
    secs: Duration,
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
    tokio::time::sleep(secs).await;
    record.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome {
        requests: 0,
        errors: 0,
        secs: elapsed,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        let (ok, errors, lat) = t.await.expect("connection task");
        out.requests += ok;
        out.errors += errors;
        out.latencies_us.extend(lat);
    }
    out.latencies_us.sort_unstable();
    out
}

fn main() {
    let conns = env_u64("PG_BENCH_CONNS", 64) as usize;
    let secs = Duration::from_secs(env_u64("PG_BENCH_SECS", 10));
    let warmup = Duration::from_secs(env_u64("PG_BENCH_WARMUP_SECS", 2));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let auth = {
        let store = Store::open(&dir).expect("store");
        store
            .add_departments("bench", None, &["HR", "Engineering"])
            .expect("departments");
        let c = create_credential(
            &store,
            "bench",
            &NewCredential::Basic {
                username: "wso2".into(),
            },
        )
        .expect("credential");
        store.flush().expect("flush");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("wso2:{}", c.secret))
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = Store::open(&dir).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(profilegate::run(store, listener, async move {
            let _ = rx.await;
        }));
        println!("profilegate load benchmark: {conns} connections, {}s per scenario after {}s warm-up, {} cores", secs.as_secs(), warmup.as_secs(), std::thread::available_parallelism().map_or(0, |n| n.get()));
        println!("{:<44} {:>10} {:>9} {:>9} {:>7}", "scenario", "req/s", "p50 ms", "p99 ms", "errors");
        // PG_BENCH_ONLY=action skips the baseline (for profiling the action path alone).
        let only_action = std::env::var("PG_BENCH_ONLY").is_ok_and(|v| v == "action");
        let health = if only_action {
            Outcome { requests: 0, errors: 0, secs: 1.0, latencies_us: Vec::new() }
        } else {
            run(addr, Scenario::Health, conns, warmup, secs).await
        };
        let report = |name: &str, o: &Outcome| println!("{:<44} {:>10.0} {:>9.2} {:>9.2} {:>7}", name, o.rps(), o.pct(0.50), o.pct(0.99), o.errors);
        report("(a) GET /healthz", &health);
        let action = run(addr, Scenario::Action { auth }, conns, warmup, secs).await;
        report("(b) action, seed payload, durable audit", &action);
        println!("ratio (b)/(a): {:.2}", action.rps() / health.rps());
        let _ = tx.send(());
        server.await.expect("server task").expect("server");
    });
}
