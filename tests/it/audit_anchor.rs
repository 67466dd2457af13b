//! Anchors outside the host (issue 20): a chain rewritten offline and re-hashed whole still
//! verifies on its own, but not against a checkpoint the security team received by e-mail,
//! nor against an anchor taken from `audit checkpoint`. Real data dir, real server, real SMTP,
//! the real binary.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::notify::configure;
use crate::support::mail::MailServer;
use crate::support::*;

const FOOTER: &str = "Audit checkpoint: pg1 ";

/// The checkpoint line a received e-mail ends with (checked to be its last line).
pub(crate) fn footer_of(text: &str) -> String {
    let line = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| l.starts_with(FOOTER))
        .unwrap_or_else(|| panic!("no checkpoint footer in\n{text}"))
        .to_string();
    // The body's last line (the SMTP data ends with the line itself).
    assert!(
        text.trim_end().ends_with(&line),
        "the footer is not the last line:\n{text}"
    );
    assert!(line.is_ascii(), "{line}");
    line
}

/// `audit checkpoint --json` on a data dir (through the server's control socket when one
/// holds it).
fn checkpoint_json(dir: &std::path::Path) -> Value {
    let o = cli(dir, &["audit", "checkpoint", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

/// Rewrites record `target` offline, as someone with write access to the data dir could:
/// `edit` changes its body, then every later record's `prev_hash` and every hash from there
/// on are recomputed with the chain's own rule (SHA-256 of the body), so the chain is
/// self-consistent again. Works beneath the store on the index and segment files, batch by
/// batch (`u32 BE length || hash || body` records, packed as `store::audit` packs them).
fn rewrite_record(data_dir: &std::path::Path, target: u64, edit: impl Fn(&str) -> String) {
    use profilegate::store::audit::{pack_batch_value, unpack_batch_value};
    let mut prev_old = [0u8; 32];
    let mut prev_new = [0u8; 32];
    let mut changed = false;
    let mut rewritten = Vec::new();
    for (first, v) in raw_batches(data_dir) {
        let raw = unpack_batch_value(&v).expect("a packed batch");
        let mut rest = raw.as_slice();
        let mut out = Vec::new();
        let mut seq = first;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let old_hash: [u8; 32] = rest[4..36].try_into().unwrap();
            let mut body = String::from_utf8(rest[36..36 + len].to_vec()).unwrap();
            rest = &rest[36 + len..];
            if seq == target {
                let edited = edit(&body);
                assert_ne!(edited, body, "the edit changed nothing in record {seq}");
                body = edited;
                changed = true;
            }
            let link_old = format!("\"prev_hash\":\"{}\"", hex::encode(prev_old));
            let link_new = format!("\"prev_hash\":\"{}\"", hex::encode(prev_new));
            assert!(body.contains(&link_old), "record {seq}: {body}");
            body = body.replacen(&link_old, &link_new, 1);
            let new_hash: [u8; 32] = Sha256::digest(body.as_bytes()).into();
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(&new_hash);
            out.extend_from_slice(body.as_bytes());
            prev_old = old_hash;
            prev_new = new_hash;
            seq += 1;
        }
        rewritten.push((first, Some(pack_batch_value(&out))));
    }
    assert!(changed, "no record {target}");
    write_raw_batches(data_dir, rewritten);
}

/// The sequence number of the decision with this request id.
fn seq_of(dir: &DataDir, request_id: &str) -> u64 {
    dir.with_store(|s| {
        s.audit_iter_rev()
            .map(|r| r.unwrap())
            .find(|r| match &r.entry {
                profilegate::model::AuditEntry::Decision(d) => {
                    d.request_id.as_deref() == Some(request_id)
                }
                _ => false,
            })
            .map(|r| r.seq)
            .unwrap_or_else(|| panic!("no decision {request_id}"))
    })
}

fn verify(dir: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let o = cli(dir, &args);
    (o.status.success(), stdout(&o) + &stderr(&o))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_and_rehashed_chain_fails_its_mailed_checkpoint_and_anchor() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);

    // A refused change (no e-mail), then an allowed change of a sensitive claim (e-mailed).
    let refused = post(
        &srv.action_url(),
        &auth,
        profile_event(Some("anchor-refused"), dept(json!("Nowhere"))).to_string(),
    )
    .await;
    assert_eq!(refused.json["actionStatus"], "FAILED");
    let allowed = post(
        &srv.action_url(),
        &auth,
        profile_event(Some("anchor-mailed"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(allowed.json["actionStatus"], "SUCCESS");
    let mails = mail.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let line = footer_of(&mails[0].text());

    // The server answers `audit checkpoint` through its control socket.
    let served = checkpoint_json(&dir.path);
    for k in ["seq", "hash", "time", "signature", "public_key", "line"] {
        assert!(served.get(k).is_some(), "{k} missing in {served}");
    }
    let public_key = served["public_key"].as_str().unwrap().to_string();
    let anchor = format!("{}:{}", served["seq"], served["hash"].as_str().unwrap());

    // More history after both.
    for i in 0..3 {
        post(
            &srv.action_url(),
            &auth,
            profile_event(Some(&format!("anchor-later-{i}")), dept(json!("HR"))).to_string(),
        )
        .await;
    }
    srv.stop().await;

    // The mailed checkpoint covers the refused decision.
    let refused_seq = seq_of(&dir, "anchor-refused");
    let cp_seq: u64 = line
        .split("seq=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(cp_seq >= refused_seq, "{line} vs record {refused_seq}");

    // Untouched: the checkpoint and the anchor hold.
    let (ok, out) = verify(&dir.path, &["--checkpoint", &line, "--anchor", &anchor]);
    assert!(ok, "{out}");
    assert!(out.contains("audit chain intact"), "{out}");
    assert_eq!(out.matches(" holds").count(), 2, "{out}");

    // Someone with the data dir turns the refusal into an approval and re-hashes the chain.
    rewrite_record(&dir.path, refused_seq, |body| {
        body.replace("\"decision\":\"FAILED\"", "\"decision\":\"SUCCESS\"")
    });

    // The chain alone still verifies...
    let (ok, out) = verify(&dir.path, &[]);
    assert!(ok, "the re-hashed chain should be self-consistent: {out}");
    assert!(out.contains("audit chain intact"), "{out}");
    // ...but not against the anchor...
    let (ok, out) = verify(&dir.path, &["--anchor", &anchor]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("anchor {anchor} FAILS")), "{out}");
    assert!(out.contains("rewritten"), "{out}");
    // ...nor against the checkpoint from the e-mail, named by its seq and hash.
    let (ok, out) = verify(&dir.path, &["--checkpoint", &line]);
    assert!(!ok, "{out}");
    let cp_hash = line
        .split("hash=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        out.contains(&format!("seq={cp_seq} hash={cp_hash}")) && out.contains("FAILS"),
        "{out}"
    );
    // The same with the public key kept from before.
    let (ok, out) = verify(
        &dir.path,
        &["--checkpoint", &line, "--public-key", &public_key],
    );
    assert!(!ok && out.contains("FAILS"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_footer_fails_the_signature_check() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    let srv = Server::start(&dir.path).await;
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("forge-1"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
    let line = footer_of(&mail.mails()[0].text());
    let (ok, out) = verify(&dir.path, &["--checkpoint", &line]);
    assert!(ok, "{out}");

    // Another record number, or another hash (one the chain does hold): the signature fails.
    let seq: u64 = line
        .split("seq=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(seq >= 1, "{line}");
    let real_hash = line
        .split("hash=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let other: Value = serde_json::from_str(
        stdout(&cli(&dir.path, &["audit", "export"]))
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let other_hash = other["hash"].as_str().unwrap();
    for forged in [
        line.replace(&format!("seq={seq} "), &format!("seq={} ", seq + 1)),
        line.replace(real_hash, other_hash),
        line.replace(
            &format!("seq={seq} hash={real_hash}"),
            &format!("seq=1 hash={other_hash}"),
        ),
    ] {
        assert_ne!(forged, line);
        let (ok, out) = verify(&dir.path, &["--checkpoint", &forged]);
        assert!(!ok, "{forged}: {out}");
        assert!(out.contains("signature does not verify"), "{out}");
    }
    // Under another key the genuine line does not verify either.
    let other_dir = DataDir::new();
    let other_key = checkpoint_json(&other_dir.path)["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out) = verify(
        &dir.path,
        &["--checkpoint", &line, "--public-key", &other_key],
    );
    assert!(!ok && out.contains("signature does not verify"), "{out}");
    // Not a checkpoint line at all, or not an anchor: refused as input.
    let (ok, out) = verify(&dir.path, &["--checkpoint", "hello"]);
    assert!(!ok && out.contains("not a checkpoint line"), "{out}");
    let (ok, out) = verify(&dir.path, &["--anchor", "3:abc"]);
    assert!(!ok && out.contains("SEQ:HASH"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signing_key_survives_backup_and_restore() {
    let dir = DataDir::new();
    dir.standard();
    let before = checkpoint_json(&dir.path);
    // Offline, a second call signs nothing new: the head did not move.
    assert_eq!(checkpoint_json(&dir.path), before);
    let o = cli(&dir.path, &["audit", "checkpoint"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.starts_with(FOOTER) && text.contains(before["public_key"].as_str().unwrap()),
        "{text}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pg.backup");
    let o = cli(&dir.path, &["backup", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let restored = tmp.path().join("restored");
    let o = cli(&restored, &["restore", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let after = checkpoint_json(&restored);
    assert_eq!(after["public_key"], before["public_key"]);
    assert_eq!(
        after["line"], before["line"],
        "the latest checkpoint came along"
    );
    let line = before["line"].as_str().unwrap();
    let (ok, out) = verify(&restored, &["--checkpoint", line]);
    assert!(ok, "{out}");
    // The private key itself is never printed.
    let printed = text + &stdout(&cli(&restored, &["audit", "export"]));
    let db = open_sled(&restored.join("db"));
    let pkcs8 = db
        .open_tree("anchors")
        .unwrap()
        .get("signing_key")
        .unwrap()
        .expect("a stored key");
    use base64::Engine as _;
    for form in [
        hex::encode(&pkcs8),
        base64::engine::general_purpose::STANDARD.encode(&pkcs8),
        // The seed: 32 bytes after the PKCS#8 header.
        hex::encode(&pkcs8[16..48]),
        base64::engine::general_purpose::STANDARD.encode(&pkcs8[16..48]),
    ] {
        assert!(!printed.contains(&form), "the key was printed");
    }
}

/// The department list's freshness e-mail (sent by the server's sync schedule) carries the
/// footer too, and it verifies.
#[tokio::test(flavor = "multi_thread")]
async fn the_stale_department_list_mail_carries_a_checkpoint() {
    use crate::support::source::{ok, Source};
    let dir = DataDir::new();
    dir.standard();
    let mail = MailServer::start();
    configure(&dir, mail.addr, 3000);
    let src = Source::start("/hr/departments", None).await;
    let mut failing = ok("text/plain", "down");
    failing.status = 502;
    src.set(failing);
    let o = cli(
        &dir.path,
        &[
            "departments",
            "source",
            "http",
            "--url",
            &src.url,
            "--field",
            "name",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Set two hours ago and never answered: stale past its 1 h threshold.
    dir.with_store(|s| {
        let mut st = s.sync_state(None).unwrap();
        st.since_ms = profilegate::store::now_unix_ms() - 2 * 3600 * 1000;
        s.put_sync_state(None, &st).unwrap();
    });
    let srv = Server::start(&dir.path).await;
    let started = std::time::Instant::now();
    let stale = loop {
        if let Some(m) = mail
            .mails()
            .into_iter()
            .find(|m| m.text().contains("could not sync the department list"))
        {
            break m;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no stale e-mail"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    srv.stop().await;
    let line = footer_of(&stale.text());
    let (ok, out) = verify(&dir.path, &["--checkpoint", &line]);
    assert!(ok, "{out}");
}
