//! `profilegate password breached import|status` through the real binary, on generated files of
//! 1M hashes in both formats; `--min-count`; a damaged file refused with nothing changed;
//! `password check` with the filter; and a running server that answers FAILED `Breached` over
//! HTTP and picks up a new import while serving, every request in the meantime answered.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::*;

const MILLION: u64 = 1_000_000;

fn sha1_hex(p: &str) -> String {
    sha1(p).iter().map(|b| format!("{b:02X}")).collect()
}

/// SHA-1 (RFC 3174), written out here so the test does not share the code it checks.
fn sha1(p: &str) -> Vec<u8> {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = p.as_bytes().to_vec();
    let bits = (msg.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// Writes `n` lines of random hashes with `known` (password, count) lines spread among them;
/// `counts`: `HASH:COUNT` with CRLF, else bare lower-case hashes.
fn generate(path: &Path, n: u64, known: &[(&str, u64)], counts: bool, seed: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let every = n / (known.len() as u64 + 1);
    let mut k = known.iter();
    for i in 0..n {
        let (hash, count) = match (i > 0 && i % every == 0).then(|| k.next()).flatten() {
            Some((p, c)) => (sha1_hex(p), *c),
            None => {
                let (a, b, c) = (next(), next(), next());
                (format!("{a:016X}{b:016X}{:08X}", c as u32), 1 + c % 20)
            }
        };
        if counts {
            write!(w, "{hash}:{count}\r\n").unwrap();
        } else {
            writeln!(w, "{}", hash.to_lowercase()).unwrap();
        }
    }
    w.flush().unwrap();
}

fn status_json(dir: &Path) -> Value {
    let o = cli(dir, &["password", "breached", "status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// Rules under which `P@ssw0rd` passes everything but the breach check.
fn lenient_rules(dir: &Path) {
    let o = cli(
        dir,
        &[
            "password",
            "policy",
            "set",
            "--mfa",
            "--min-length",
            "8",
            "--common",
            "off",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("breached passwords: on"),
        "{}",
        stdout(&o)
    );
}

fn check(dir: &Path, password: &str) -> std::process::Output {
    cli_with_input(dir, &["password", "check"], Some(password))
}

#[test]
fn import_status_min_count_damaged_and_check() {
    let dir = DataDir::new();
    let p = &dir.path;
    let tmp = tempfile::tempdir().unwrap();
    lenient_rules(p);
    let o = cli(p, &["password", "breached", "status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("No breached-password filter"),
        "{}",
        stdout(&o)
    );
    assert_eq!(status_json(p), Value::Null);
    // Without a filter the rule is listed as not checked, and the password passes.
    assert!(check(p, "P@ssw0rd").status.success());

    let counted = tmp.path().join("pwned-counts.txt");
    generate(
        &counted,
        MILLION,
        &[("P@ssw0rd", 52), ("Tr0ub4dor&3", 3)],
        true,
        1,
    );
    let started = std::time::Instant::now();
    let o = cli(
        p,
        &["password", "breached", "import", counted.to_str().unwrap()],
    );
    let took = started.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("entries: 1000000"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("Recorded in the audit log"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("lines"), "progress: {}", stderr(&o));
    assert!(took.as_secs() < 60, "a 1M import took {took:?}");
    let s = status_json(p);
    assert_eq!(s["entries"], MILLION);
    assert_eq!(s["min_count"], 1);
    assert_eq!(s["source_name"], "pwned-counts.txt");
    let bpe = s["bytes_per_entry"].as_f64().unwrap();
    assert!((2.0..3.0).contains(&bpe), "{bpe} bytes per entry");
    let text = stdout(&cli(p, &["password", "breached", "status"]));
    for part in [
        "entries: 1000000",
        "false-positive rate",
        "min count: 1",
        "pwned-counts.txt",
        "imported: 20",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let o = check(p, "P@ssw0rd");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("rejected by rule breached"),
        "{}",
        stdout(&o)
    );
    assert!(check(p, "Tr0ub4dor&3").status.code() == Some(1));
    assert!(check(p, "a fresh unbreached passphrase").status.success());

    // --min-count: P@ssw0rd (52) stays, Tr0ub4dor&3 (3) goes.
    let o = cli(
        p,
        &[
            "password",
            "breached",
            "import",
            "--min-count",
            "10",
            counted.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = status_json(p);
    assert_eq!(s["min_count"], 10);
    let n = s["entries"].as_u64().unwrap();
    assert!((500_000..600_000).contains(&n), "{n}");
    assert_eq!(check(p, "P@ssw0rd").status.code(), Some(1));
    assert!(check(p, "Tr0ub4dor&3").status.success());

    // Bare hashes: taken with --min-count 1, refused above it (they have no count).
    let bare = tmp.path().join("pwned-bare.txt");
    generate(&bare, MILLION, &[("Tr0ub4dor&3", 0)], false, 2);
    let o = cli(
        p,
        &[
            "password",
            "breached",
            "import",
            "--min-count",
            "2",
            bare.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bare hash"), "{}", stderr(&o));
    assert_eq!(status_json(p), s, "a refused import changed the filter");
    let o = cli(
        p,
        &["password", "breached", "import", bare.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status_json(p)["entries"], MILLION);
    assert_eq!(check(p, "Tr0ub4dor&3").status.code(), Some(1));
    assert!(check(p, "P@ssw0rd").status.success());
    let good = status_json(p);
    let before = std::fs::read(p.join("breached.filter")).unwrap();

    // A damaged file: refused, the line named, the filter as it was.
    let damaged = tmp.path().join("damaged.txt");
    let mut text = std::fs::read_to_string(&counted).unwrap();
    let cut = text.match_indices("\r\n").nth(99_999).unwrap().0;
    text.insert_str(cut + 2, "this line is not a hash\r\n");
    std::fs::write(&damaged, text).unwrap();
    let o = cli(
        p,
        &["password", "breached", "import", damaged.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 100001"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was changed"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("this line"), "{}", stderr(&o));
    assert_eq!(status_json(p), good);
    assert_eq!(std::fs::read(p.join("breached.filter")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("breached-import"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Each import is in the audit log, with no hash in it.
    let export = stdout(&cli(p, &["audit", "export"]));
    assert_eq!(
        export.matches("password.breached.import").count(),
        3,
        "{export}"
    );
    assert!(!export.contains(&sha1_hex("P@ssw0rd")[..16]));
    assert!(cli(p, &["audit", "verify"]).status.success());
}

fn password_url(srv: &Server) -> String {
    format!("{}/actions/pre-update-password", srv.url)
}

/// The v1.1 sample with a PLAIN_TEXT password and a fresh request id.
fn request(password: &str, request_id: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password/v1.1-user-reset-plain.json"
    ));
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["event"]["user"]["updatingCredential"] =
        json!({"type": "PASSWORD", "format": "PLAIN_TEXT", "value": password});
    v["requestId"] = request_id.into();
    serde_json::to_vec(&v).unwrap()
}

fn is_breached(r: &Reply) -> bool {
    r.json["actionStatus"] == "FAILED" && r.json["failureReason"] == "password_breached"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_filter_is_picked_up_while_serving() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let tmp = tempfile::tempdir().unwrap();
    lenient_rules(&dir.path);
    let first = tmp.path().join("first.txt");
    generate(&first, 200_000, &[("P@ssw0rd", 52)], true, 3);
    let second = tmp.path().join("second.txt");
    generate(
        &second,
        200_000,
        &[("P@ssw0rd", 52), ("Winter2026!", 9)],
        true,
        4,
    );
    let o = cli(
        &dir.path,
        &["password", "breached", "import", first.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = password_url(&srv);
    let r = post(&url, &auth, request("P@ssw0rd", "r-1")).await;
    assert_contract_valid(&r);
    assert!(is_breached(&r), "{:?}", r.json);
    let r = post(&url, &auth, request("Winter2026!", "r-2")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);

    // Requests all through the import of the second file.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (url, auth, stop) = (url.clone(), auth.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let r =
                    post_with(&client, &url, &auth, request("P@ssw0rd", &format!("f-{n}"))).await;
                assert_contract_valid(&r);
                assert!(
                    is_breached(&r),
                    "request {n} during the reload: {:?}",
                    r.json
                );
            }
            n
        })
    };
    let p = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || {
        cli(
            &p,
            &["password", "breached", "import", second.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Loaded on the CLI's word, or by the periodic check just before it asked.
    assert!(stdout(&o).contains("(200000 entries)"), "{}", stdout(&o));
    let r = post(&url, &auth, request("Winter2026!", "r-3")).await;
    assert!(is_breached(&r), "{:?}", r.json);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = flood.await.unwrap();
    assert!(n > 0);

    // A damaged file while serving: refused, the filter in use stays.
    let damaged = tmp.path().join("damaged.txt");
    std::fs::write(&damaged, format!("{}:3\nnot a hash\n", sha1_hex("x"))).unwrap();
    let o = cli(
        &dir.path,
        &["password", "breached", "import", damaged.to_str().unwrap()],
    );
    assert!(!o.status.success());
    let r = post(&url, &auth, request("Winter2026!", "r-4")).await;
    assert!(is_breached(&r), "{:?}", r.json);
    srv.stop().await;

    // The server recorded the load it did, and each decision names the rule.
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert_eq!(
        export.matches("password.breached.import").count(),
        2,
        "{export}"
    );
    let d = dir.with_store(decisions);
    let ok = d
        .iter()
        .find(|d| d.request_id.as_deref() == Some("r-2"))
        .and_then(|d| d.password.clone())
        .unwrap();
    assert!(ok
        .rules_applied
        .contains(&profilegate::policy::password::Rule::Breached));
}
