//! SIEM forwarding against collectors the tests run: a syslog receiver (octet-counted RFC
//! 5424 over TCP, plain and TLS) and an HTTP collector taking JSON lines, which can answer
//! 503 or be down. The server is the real one, on a real data dir.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{
    cli, cli_with_input, dept, forwarding_thread_nices, post, profile_event, stdout, tls, Auth,
    DataDir, Server,
};

/// What a collector received: (seq, hash, the record's bytes as sent).
type Received = Arc<Mutex<Vec<(u64, String, Vec<u8>)>>>;

/// An HTTP collector: one POST a connection, JSON lines in, `status` out (200 unless told).
struct Collector {
    port: u16,
    status: Arc<AtomicU16>,
    got: Received,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Collector {
    async fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut c = Collector {
            port,
            status: Arc::new(AtomicU16::new(200)),
            got: Arc::default(),
            task: None,
        };
        c.serve(listener);
        c
    }

    fn serve(&mut self, listener: TcpListener) {
        let status = self.status.clone();
        let got = self.got.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let status = status.clone();
                let got = got.clone();
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut s).await else {
                        return;
                    };
                    assert!(head.starts_with("POST /in "), "{head}");
                    assert!(head
                        .to_ascii_lowercase()
                        .contains("authorization: bearer s3cret"));
                    let code = status.load(Ordering::SeqCst);
                    if code == 200 {
                        let mut g = got.lock();
                        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                            g.push(parse_line(line));
                        }
                    }
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        }));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/in", self.port)
    }

    /// Stops listening: connections are refused.
    fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

/// Reads one HTTP/1.1 request with a content-length body.
async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[end..end + len].to_vec()))
}

/// A JSON line `{"seq":N,"hash":"…","record":{…}}`: its seq and hash, and the record's bytes
/// exactly as sent (everything after `"record":` but the closing brace).
fn parse_line(line: &[u8]) -> (u64, String, Vec<u8>) {
    let v: Value = serde_json::from_slice(line).unwrap();
    let at = line.windows(9).position(|w| w == b"\"record\":").unwrap() + 9;
    let raw = line[at..line.len() - 1].to_vec();
    (
        v["seq"].as_u64().unwrap(),
        v["hash"].as_str().unwrap().to_string(),
        raw,
    )
}

/// Every record arrived once, in order, from `first`, each with the hash of its bytes and its
/// own seq inside.
fn assert_in_order(got: &[(u64, String, Vec<u8>)], first: u64, last: u64) {
    let seqs: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>());
    for (seq, hash, raw) in got {
        assert_eq!(hex::encode(Sha256::digest(raw)), *hash, "record {seq}");
        let v: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(v["seq"].as_u64(), Some(*seq));
    }
}

/// `audit forward status --json` (through the running server when there is one).
fn status(dir: &std::path::Path) -> Vec<Value> {
    let o = cli(dir, &["audit", "forward", "status", "--json"]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    serde_json::from_str::<Value>(&stdout(&o))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `audit forward http --url URL --token-stdin` with the collector's token (through the running
/// server when there is one).
fn forward_http(dir: &std::path::Path, url: &str) -> std::process::Output {
    cli_with_input(
        dir,
        &["audit", "forward", "http", "--url", url, "--token-stdin"],
        Some("s3cret\n"),
    )
}

/// Polls `f` every 100 ms for up to `secs` seconds.
async fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn decisions(srv: &Server, auth: &Auth, n: usize, tag: &str) {
    for i in 0..n {
        let ev = profile_event(Some(&format!("{tag}-{i}")), dept(Value::from("HR")));
        let r = post(&srv.action_url(), auth, ev.to_string()).await;
        assert_eq!(r.status, 200);
    }
}

/// Backlog 0 and the collector holds up to the durable head; returns (started_after, head).
async fn drained(dir: &std::path::Path, got: &Received) -> (u64, u64) {
    let mut out = (0, 0);
    wait_for(60, "the backlog to drain", || {
        let s = status(dir);
        let t = &s[0];
        let head = t["durable_head"].as_u64().unwrap();
        out = (t["started_after"].as_u64().unwrap(), head);
        t["backlog"] == 0 && got.lock().last().map(|r| r.0) == Some(head)
    })
    .await;
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn http_forwarding_survives_an_outage_and_a_restart_in_order() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let mut collector = Collector::start().await;
    let o = forward_http(&dir.path, &collector.url());
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    assert!(
        stdout(&o).contains("starting after record"),
        "{}",
        stdout(&o)
    );
    // The token is masked in the audit record of the change.
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(!export.contains("s3cret") && export.contains("********"));

    crate::support::admin::set_password(&dir);
    let srv = Server::start(&dir.path).await;
    decisions(&srv, &auth, 20, "a").await;
    let (first, head) = drained(&dir.path, &collector.got).await;
    assert_in_order(&collector.got.lock(), first + 1, head);

    // Down: refused connections; records queue and the status says why.
    collector.down();
    decisions(&srv, &auth, 10, "b").await;
    wait_for(30, "a noted failure", || {
        let s = status(&dir.path);
        s[0]["backlog"].as_u64().unwrap() >= 10
            && s[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("connect"))
    })
    .await;
    // Back, but answering 503: still queued.
    collector.status.store(503, Ordering::SeqCst);
    collector.up().await;
    wait_for(30, "a 503 noted", || {
        status(&dir.path)[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503"))
    })
    .await;
    let s = status(&dir.path);
    assert!(s[0]["failures"].as_u64().unwrap() >= 2, "{s:?}");
    assert!(s[0]["backlog"].as_u64().unwrap() >= 10, "{s:?}");
    // The same in /metrics and the admin overview.
    let text = reqwest::get(format!("{}/metrics", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |name: &str| -> u64 {
        let prefix = format!("{name}{{target=\"http\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    };
    assert!(sample("profilegate_audit_forward_backlog") >= 10);
    assert!(sample("profilegate_audit_forward_failures_total") >= 2);
    assert!(sample("profilegate_audit_forward_sent_total") >= 20);
    sample("profilegate_audit_forward_lag_seconds");
    let admin = crate::support::admin::Admin::new(&srv.url).await;
    let (st, v) = admin.get("/admin/api/overview").await;
    assert_eq!(st, 200, "{v}");
    let fwd = &v["audit_forward"][0];
    assert_eq!(fwd["target"], "http");
    assert!(fwd["backlog"].as_u64().unwrap() >= 10, "{v}");
    assert!(
        fwd["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{v}"
    );
    collector.status.store(200, Ordering::SeqCst);
    let (_, head) = drained(&dir.path, &collector.got).await;
    assert_in_order(&collector.got.lock(), first + 1, head);
    assert!(status(&dir.path)[0]["last_error"].is_null());

    // A graceful restart resumes from the cursor: nothing again, nothing missing.
    srv.stop().await;
    let srv = Server::start(&dir.path).await;
    decisions(&srv, &auth, 5, "c").await;
    let (_, head) = drained(&dir.path, &collector.got).await;
    assert_in_order(&collector.got.lock(), first + 1, head);
    srv.stop().await;
}

/// A syslog receiver: octet-counted frames off each connection, parsed as RFC 5424.
async fn syslog_receiver(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let (up, rx) = tokio::sync::watch::channel(false);
    let g = got.clone();
    tokio::spawn(async move {
        // Never down: the sender lives as long as the receiver accepts.
        let _up = up;
        accept_syslog(listener, tls, g, rx).await;
    });
    (port, got)
}

/// Accepts syslog connections until `down` turns true, which also closes every connection.
async fn accept_syslog(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    got: Received,
    down: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut stop = down.clone();
        let (s, _) = tokio::select! {
            r = listener.accept() => match r { Ok(c) => c, Err(_) => return },
            _ = stop.wait_for(|d| *d) => return,
        };
        let got = got.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let serve = async {
                match tls {
                    None => read_frames(s, got).await,
                    Some(cfg) => {
                        let s = tokio_rustls::TlsAcceptor::from(cfg)
                            .accept(s)
                            .await
                            .unwrap();
                        read_frames(s, got).await;
                    }
                }
            };
            tokio::select! {
                () = serve => {}
                _ = stop.wait_for(|d| *d) => {}
            }
        });
    }
}

async fn read_frames<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, got: Received) {
    let re = regex::Regex::new(
        r#"^<110>1 \S+ \S+ profilegate \d+ audit \[pg@32473 seq="(\d+)" hash="([0-9a-f]{64})"\] (\{.*\})$"#,
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Take every complete frame: `LEN SP MSG`.
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() < sp + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            buf.drain(..sp + 1 + len);
            let c = re
                .captures(&msg)
                .unwrap_or_else(|| panic!("not RFC 5424: {msg}"));
            got.lock().push((
                c[1].parse().unwrap(),
                c[2].to_string(),
                c[3].as_bytes().to_vec(),
            ));
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn syslog_case(tls_on: bool) {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let certs = tempfile::tempdir().unwrap();
    let (port, got) = if tls_on {
        let (cert, key, ca) = tls::generate(certs.path());
        std::fs::write(certs.path().join("ca.pem"), ca).unwrap();
        let loaded = profilegate::http::tls::load(&cert, &key).unwrap();
        syslog_receiver(Some(loaded.config)).await
    } else {
        syslog_receiver(None).await
    };
    let port_s = port.to_string();
    let ca_path = certs.path().join("ca.pem");
    let mut args = vec![
        "audit",
        "forward",
        "syslog",
        "--host",
        "localhost",
        "--port",
        &port_s,
    ];
    if tls_on {
        args.extend(["--tls", "--tls-ca", ca_path.to_str().unwrap()]);
    }
    args.push("--from-start");
    let o = cli(&dir.path, &args);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let srv = Server::start(&dir.path).await;
    decisions(&srv, &auth, 30, "s").await;
    let (first, head) = drained(&dir.path, &got).await;
    assert_eq!(first, 0, "--from-start sends from the first record");
    assert_in_order(&got.lock(), 1, head);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_forwarding_sends_octet_counted_rfc5424_in_order() {
    syslog_case(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_forwarding_over_tls_trusts_the_given_ca() {
    syslog_case(true).await;
}

/// The real binary killed with SIGKILL mid-stream, three times: after the last restart the
/// collector holds every record from the start, in order, each identical to the chain's;
/// records come again only right after a kill (at most one rewind a kill).
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_loses_nothing_and_repeats_only_across_the_kill() {
    use crate::support::{banner_addr, spawn_serve, stop_child};
    const KILLS: usize = 3;
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let collector = Collector::start().await;
    let o = forward_http(&dir.path, &collector.url());
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    for round in 0..=KILLS {
        let (child, out, err) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
        assert!(out.contains("Admin UI:"), "{out}\n{err}");
        let url = format!("http://{}/actions/pre-update-profile", banner_addr(&out));
        // Four clients post decisions until the kill (or 60 each in the last round).
        let clients: Vec<_> = (0..4)
            .map(|c| {
                let url = url.clone();
                let auth = auth.clone();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    for i in 0..60 {
                        let ev = profile_event(
                            Some(&format!("k{round}-{c}-{i}")),
                            dept(Value::from("HR")),
                        );
                        // Requests cut by the kill fail: what matters is what was recorded.
                        let mut rb = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("X-WSO2-API-Version", "v1");
                        if let Auth::Basic(u, p) = &auth {
                            rb = rb.basic_auth(u, Some(p));
                        }
                        let _ = rb.body(ev.to_string()).send().await;
                    }
                })
            })
            .collect();
        if round < KILLS {
            tokio::time::sleep(Duration::from_millis(300 + 200 * round as u64)).await;
            let mut child = child;
            child.kill().unwrap();
            let _ = child.wait();
            for c in clients {
                c.abort();
            }
        } else {
            for c in clients {
                c.await.unwrap();
            }
            drained(&dir.path, &collector.got).await;
            stop_child(child);
        }
    }
    let got = collector.got.lock().clone();
    // Every record of the final chain after the start, none it lacks, same bytes' hash.
    let chain: Vec<(u64, String)> = dir.with_store(|s| {
        s.audit_raw_iter(1)
            .map(|r| r.map(|(seq, hash, _)| (seq, hash)).unwrap())
            .collect()
    });
    let first = got[0].0;
    let mut max = first - 1;
    // A rewind: the stream goes back after reaching its furthest record (a resend).
    let mut rewinds = 0;
    for (i, (seq, hash, raw)) in got.iter().enumerate() {
        assert!(*seq <= max + 1, "record {} skipped", max + 1);
        if *seq <= max && got[i - 1].0 == max {
            rewinds += 1;
        }
        max = max.max(*seq);
        assert_eq!(hex::encode(Sha256::digest(raw)), *hash);
        let (_, stored) = &chain[usize::try_from(*seq - 1).unwrap()];
        assert_eq!(stored, hash, "record {seq} differs from the chain's");
    }
    assert_eq!(
        max,
        chain.last().unwrap().0,
        "the collector has the whole chain"
    );
    eprintln!(
        "forwarded {} records ({} sent, {rewinds} resends) over {KILLS} kills",
        chain.len(),
        got.len()
    );
    assert!(rewinds <= KILLS, "{rewinds} resends for {KILLS} kills");
}

/// The CLI without a server: refusals name their field, status reads the cursor, `off`
/// switches a target off and forgets where it stood.
#[test]
fn the_cli_refuses_bad_targets_and_switches_off() {
    let dir = DataDir::new();
    dir.standard();
    let o = cli(
        &dir.path,
        &[
            "audit",
            "forward",
            "http",
            "--url",
            "http://siem.example/in",
        ],
    );
    assert!(!o.status.success());
    assert!(
        crate::support::stderr(&o).contains("https://"),
        "{}",
        crate::support::stderr(&o)
    );
    let o = cli(
        &dir.path,
        &["audit", "forward", "syslog", "--host", "", "--port", "514"],
    );
    assert!(!o.status.success());
    assert!(stdout(&cli(&dir.path, &["audit", "forward", "status"])).contains("off"));

    let o = cli(
        &dir.path,
        &[
            "audit",
            "forward",
            "syslog",
            "--host",
            "127.0.0.1",
            "--port",
            "6514",
        ],
    );
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let s = status(&dir.path);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["target"], "syslog");
    assert_eq!(s[0]["destination"], "syslog://127.0.0.1:6514");
    // Started at the head: only the change's own record waits.
    assert_eq!(s[0]["backlog"], 1, "{s:?}");
    assert!(s[0]["sent"].is_null());
    let text = stdout(&cli(&dir.path, &["audit", "forward", "status"]));
    assert!(
        text.contains("backlog 1") && text.contains("last error: none"),
        "{text}"
    );

    let o = cli(&dir.path, &["audit", "forward", "off", "http"]);
    assert!(!o.status.success(), "http was not on");
    let o = cli(&dir.path, &["audit", "forward", "off"]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    assert!(stdout(&o).contains("forwarding to syslog is off"));
    assert!(status(&dir.path).is_empty());
}

/// The syslog collector goes away (its connection closed, then refused) and comes back on
/// the same port: the records written meanwhile queue, then arrive in order, none missing.
#[tokio::test(flavor = "multi_thread")]
async fn syslog_forwarding_reconnects_after_the_collector_was_down() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let (down, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(accept_syslog(listener, None, got.clone(), rx));
    let port_s = port.to_string();
    let o = cli(
        &dir.path,
        &[
            "audit",
            "forward",
            "syslog",
            "--host",
            "127.0.0.1",
            "--port",
            &port_s,
        ],
    );
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let srv = Server::start(&dir.path).await;
    decisions(&srv, &auth, 10, "u").await;
    let (first, _) = drained(&dir.path, &got).await;

    down.send_replace(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    decisions(&srv, &auth, 10, "d").await;
    wait_for(30, "a noted failure", || {
        let s = status(&dir.path);
        s[0]["backlog"].as_u64().unwrap() >= 10 && s[0]["last_error"].is_string()
    })
    .await;

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let (_up, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(accept_syslog(listener, None, got.clone(), rx));
    let (_, head) = drained(&dir.path, &got).await;
    assert_in_order(&got.lock(), first + 1, head);
    srv.stop().await;
}

/// Switched on and off while the server runs: the CLI goes through its control socket (the
/// data dir is the server's), and the forwarders pick the change up without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn forwarding_is_switched_on_and_off_through_the_running_server() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let collector = Collector::start().await;
    let srv = Server::start_with_control(&dir.path).await;
    decisions(&srv, &auth, 3, "before").await;
    let o = forward_http(&dir.path, &collector.url());
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        crate::support::stderr(&o)
    );
    assert!(
        stdout(&o).contains("starting after record"),
        "{}",
        stdout(&o)
    );
    decisions(&srv, &auth, 10, "on").await;
    let (first, head) = drained(&dir.path, &collector.got).await;
    assert!(
        first >= 3,
        "it starts after the records before it was switched on"
    );
    // The forwarders run at background priority: they never take the CPU from an action.
    let nices = forwarding_thread_nices("self");
    assert!(!nices.is_empty(), "no forwarding thread in this process");
    assert!(nices.iter().all(|n| *n == 19), "{nices:?}");
    assert_in_order(&collector.got.lock(), first + 1, head);

    // A refusal comes back from the server, naming the problem.
    let o = cli(
        &dir.path,
        &["audit", "forward", "http", "--url", "http://example.com/in"],
    );
    assert!(!o.status.success());
    assert!(
        crate::support::stderr(&o).contains("https://"),
        "{}",
        crate::support::stderr(&o)
    );

    let o = cli(&dir.path, &["audit", "forward", "off"]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    assert!(
        stdout(&o).contains("forwarding to http is off"),
        "{}",
        stdout(&o)
    );
    assert!(status(&dir.path).is_empty());
    let sent = collector.got.lock().len();
    decisions(&srv, &auth, 5, "off").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(collector.got.lock().len(), sent, "nothing is sent once off");
    srv.stop().await;
}
