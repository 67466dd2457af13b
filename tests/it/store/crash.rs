//! Crash consistency: the server is killed with SIGKILL at random moments under concurrent
//! load (queued e-mail, a real SMTP server), restarted on the same data dir each time, and
//! then checked: it always starts; every acknowledged decision has its audit record;
//! `audit verify` passes; every acknowledged e-mail arrives, and no request id gets a second
//! notification. One thing SMTP cannot avoid: a process killed after the mail server accepted
//! a message and before its note of that is on disk sends the message again after the
//! restart. Such a copy is identical (same Message-ID, so mail systems can drop it), and the
//! test checks that every copy is of that kind and that a kill leaves no more of them than
//! the outbox worker sends at once.
//!
//! Runs the binary in `PG_CRASH_BIN` (e.g. a release build), else this build's binary.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::mail::MailServer;
use crate::support::*;

/// Kills per run. Whether a restart needs the commit journal depends on where sled's own log
/// stood at the kill: sled writes it to the file by itself too (its flusher, every 500 ms),
/// and what is in the file survives a SIGKILL. So a run goes on killing, up to `MAX_ROUNDS`,
/// until a restart has needed the journal, and that path is tested every time.
const ROUNDS: usize = 5;
const MAX_ROUNDS: usize = 12;

fn abs_diff(a: Instant, b: Instant) -> Duration {
    a.saturating_duration_since(b)
        .max(b.saturating_duration_since(a))
}
const CLIENTS: usize = 4;

fn binary() -> String {
    std::env::var("PG_CRASH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_profilegate").into())
}

/// Runs a command of the binary under test; it must succeed.
fn run(dir: &std::path::Path, args: &[&str], input: Option<&str>) -> String {
    let o = cli_bin(&binary(), dir, args, input);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// A tiny deterministic generator for the kill delays (the seed is printed on failure).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

fn event(id: &str) -> String {
    profile_event(
        Some(id),
        json!([
            {"uri": "http://wso2.org/claims/department", "value": "Engineering"},
            {"uri": "http://wso2.org/claims/emailaddress", "value": format!("{id}@example.com")}
        ]),
    )
    .to_string()
}

/// Whether a finished server's log says its start-up applied records from the commit
/// journal (acknowledged, not yet in sled's log when the previous process was killed).
fn recovered_from_journal(child: &mut std::process::Child) -> bool {
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut log);
    }
    log.contains("recovered acknowledged records from the commit journal")
}

/// The request id and Message-ID of a received mail.
fn ids_of(data: &str) -> (Option<String>, Option<String>) {
    let text = data.replace("=\r\n", "");
    let rid = text
        .lines()
        .find_map(|l| l.strip_prefix("Request id:"))
        .map(|v| v.trim().to_string());
    let mid = text
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID:"))
        .map(|v| v.trim().to_string());
    (rid, mid)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_under_load_loses_nothing() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let p = dir.path.as_path();
    run(p, &["departments", "add", "HR", "Engineering"], None);
    let cred: Value = serde_json::from_str(&run(
        p,
        &["credentials", "create", "--type", "bearer", "--json"],
        None,
    ))
    .unwrap();
    let auth = Auth::Bearer(cred["accessToken"].as_str().unwrap().to_string());
    let port = mail.addr.port().to_string();
    run(
        p,
        &[
            "notify",
            "smtp",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "none",
            "--from",
            "pg@example.com",
        ],
        None,
    );
    run(p, &["notify", "recipients", "add", "soc@example.com"], None);
    run(p, &["notify", "mode", "queued"], None);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut unanswered: Vec<String> = Vec::new();
    let mut sent_total = 0usize;
    let mut kills: Vec<Instant> = Vec::new();
    // When each killed process was started: what it sent arrived between its start and the
    // next one's.
    let mut starts: Vec<Instant> = Vec::new();
    // Restarts that found acknowledged records only in the commit journal (not yet in
    // sled's log) and applied them: the path that makes those acknowledgements safe.
    let mut journal_recoveries = 0;
    let mut round = 0;
    // The last kill's effect is seen by the next start (the final run, or one more round).
    while round < ROUNDS || (journal_recoveries == 0 && round < MAX_ROUNDS) {
        starts.push(Instant::now());
        let (mut child, out, err) =
            spawn_serve_bin(&binary(), p, &[], &["--listen", "127.0.0.1:0"], &[]);
        assert!(
            out.contains("serving on"),
            "round {round} (seed {seed}): no clean start: {out}{err}"
        );
        let url = format!("http://{}/actions/pre-update-profile", banner_addr(&out));
        eprintln!(
            "crash round {round}: serving, {} retries first",
            unanswered.len()
        );
        // First the retries of what got no answer last time (as the identity server would),
        // then new requests, from several clients at once, until the kill.
        let acked_before = acked.lock().unwrap().len();
        let queue: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(std::mem::take(&mut unanswered)));
        let lost: Arc<Mutex<Vec<String>>> = Arc::default();
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (url, auth, queue, lost, acked, counter, stop) = (
                url.clone(),
                auth.clone(),
                queue.clone(),
                lost.clone(),
                acked.clone(),
                counter.clone(),
                stop.clone(),
            );
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = queue.lock().unwrap().pop().unwrap_or_else(|| {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        format!("crash-{round}-{c}-{n}")
                    });
                    let Auth::Bearer(t) = &auth else {
                        unreachable!()
                    };
                    let r = http
                        .post(&url)
                        .bearer_auth(t)
                        .header("content-type", "application/json")
                        .body(event(&id))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) if r.status() == 200 => r
                            .json::<Value>()
                            .await
                            .is_ok_and(|v| v["actionStatus"] == "SUCCESS"),
                        _ => false,
                    };
                    if ok {
                        acked.lock().unwrap().insert(id);
                    } else {
                        lost.lock().unwrap().push(id);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        // The kill comes at a random moment once the server is answering (a slow or busy
        // machine can take longer than the delay to check the first secret; a kill before any
        // answer would test nothing).
        let answering = Instant::now();
        while acked.lock().unwrap().len() == acked_before
            && answering.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.next(200, 800))).await;
        let _ = std::process::Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        kills.push(Instant::now());
        let _ = child.wait();
        if round > 0 && recovered_from_journal(&mut child) {
            journal_recoveries += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        sent_total += counter.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "crash round {round}: killed; {} acknowledged so far",
            acked.lock().unwrap().len()
        );
        unanswered = lost.lock().unwrap().clone();
        unanswered.extend(queue.lock().unwrap().drain(..));
        round += 1;
    }

    // A last, clean run: the retries, then the outbox drains.
    let final_start = Instant::now();
    let (mut child, out, err) =
        spawn_serve_bin(&binary(), p, &[], &["--listen", "127.0.0.1:0"], &[]);
    assert!(
        out.contains("serving on"),
        "final start (seed {seed}): {out}{err}"
    );
    let base = format!("http://{}", banner_addr(&out));
    for id in &unanswered {
        let r = post(
            &format!("{base}/actions/pre-update-profile"),
            &auth,
            event(id),
        )
        .await;
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{id}: {:?}", r.json);
        acked.lock().unwrap().insert(id.clone());
    }
    eprintln!("crash: final run, retries sent");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.lines().any(|l| l == "profilegate_outbox_depth 0") {
            break;
        }
        let show = |name: &str| {
            page.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or("")
                .to_string()
        };
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain (seed {seed}): {} {} {} {}; mails received {}",
            show("profilegate_outbox_depth"),
            show("profilegate_emails_sent_total"),
            show("profilegate_email_send_failures_total"),
            show("profilegate_outbox_items_failed_total"),
            mail.mails().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    if recovered_from_journal(&mut child) {
        journal_recoveries += 1;
    }
    eprintln!(
        "restarts that applied acknowledged records from the commit journal: {journal_recoveries} of {round}"
    );
    assert!(
        journal_recoveries > 0,
        "seed {seed}: no restart needed the commit journal, so this run did not test it"
    );

    // The audit chain is intact and holds every acknowledged decision.
    let o = cli(p, &["audit", "verify"]);
    assert!(o.status.success(), "seed {seed}: {}", stdout(&o));
    let mut decided: HashMap<String, usize> = HashMap::new();
    for line in stdout(&cli(p, &["audit", "export"])).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "decision" {
            if let Some(id) = v["request_id"].as_str() {
                *decided.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    let acked = acked.lock().unwrap().clone();
    for id in &acked {
        assert!(
            decided.contains_key(id),
            "seed {seed}: acknowledged {id} has no audit record"
        );
    }
    // Every acknowledged e-mail arrived; no request id was notified twice.
    let mails = mail.mails();
    let mut by_request: HashMap<String, Vec<&crate::support::mail::Mail>> = HashMap::new();
    for m in &mails {
        let (rid, _) = ids_of(&m.data);
        by_request
            .entry(rid.expect("a request id in the mail"))
            .or_default()
            .push(m);
    }
    for id in &acked {
        assert!(
            by_request.contains_key(id),
            "seed {seed}: no e-mail for acknowledged {id}"
        );
    }
    // A durable decision's e-mail was queued in the same transaction: it went out too.
    for id in decided.keys() {
        assert!(
            by_request.contains_key(id),
            "seed {seed}: decision {id} without its e-mail"
        );
    }
    // A copy of a notification may arrive twice, and only this way: the mail server accepted
    // it, and the process was killed before its delivery note was on disk, so the restarted
    // server sent it again. The copies are identical (same Message-ID), the first was sent by
    // a process that was killed, and a kill leaves at most as many as the outbox worker sends
    // at once (an accepted e-mail holds its slot until its note is on disk). (A check that
    // the first copy was the last message of its SMTP session held while every message
    // waited ~40 ms for a delayed ACK; with TCP_NODELAY a pooled connection carries the next
    // message before the previous one's note is written.)
    let mut resends = 0;
    let mut worst_to_kill = Duration::ZERO;
    let mut per_kill = vec![0usize; kills.len()];
    for (id, copies) in &by_request {
        assert_eq!(decided.get(id), Some(&1), "seed {seed}: {id} decided twice");
        let mids: HashSet<Option<String>> = copies.iter().map(|m| ids_of(&m.data).1).collect();
        assert_eq!(
            mids.len(),
            1,
            "seed {seed}: {id} was notified twice: {mids:?}"
        );
        for pair in copies.windows(2) {
            let first = pair[0];
            // The mail server may take a moment to process what a killed process sent last
            // (tests run in parallel here), hence the second of grace.
            assert!(
                first.received < final_start + Duration::from_secs(1),
                "seed {seed}: {id} was sent again although the process that sent it first was not killed"
            );
            let sender = starts
                .iter()
                .rposition(|s| *s <= first.received)
                .expect("sent by a started process");
            per_kill[sender] += 1;
            worst_to_kill = worst_to_kill.max(abs_diff(kills[sender], first.received));
            resends += 1;
        }
    }
    let most = per_kill.iter().copied().max().unwrap_or(0);
    assert!(
        most <= profilegate::notify::worker::PARALLEL_SENDS,
        "seed {seed}: {most} e-mails sent again after one kill: {per_kill:?}"
    );
    if resends > 0 {
        eprintln!(
            "resent notifications: each first copy arrived at most {worst_to_kill:?} from its sender's kill; per kill {per_kill:?}"
        );
    }
    eprintln!(
        "crash test (seed {seed}): {round} kills, {sent_total} requests, {} acknowledged, {} e-mails, {resends} identical resends after a kill",
        acked.len(),
        mails.len()
    );
}
