//! `profilegate doctor`: the real binary on real data dirs, a real mail server (mailin), real
//! certificates (rcgen), and through a running server's control socket.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::mail::{closed_port, MailServer};
use crate::support::{cli, spawn_serve, stop_child, DataDir};

/// A certificate and key valid until `days` from now (negative: expired), and a
/// configuration file naming them.
fn cert_config(dir: &Path, days: i64) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = now - time::Duration::days(days.abs() + 400);
    params.not_after = now + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (c, k, f) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("profilegate.toml"),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    std::fs::write(
        &f,
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            c.display(),
            k.display()
        ),
    )
    .unwrap();
    f
}

/// A data dir with departments, a credential and the mail server at `port` (with a login:
/// the mail server used here offers none, so only for one that is down).
fn set_up(dir: &DataDir, smtp_port: u16, login: bool) {
    dir.standard();
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(profilegate::model::SmtpSettings {
                host: "127.0.0.1".into(),
                port: smtp_port,
                encryption: profilegate::model::Encryption::None,
                username: login.then(|| "relay".into()),
                password: login.then(|| "s3cret-smtp-pw".into()),
                from: "pg@example.com".into(),
                timeout_ms: 3000,
                tls_ca_pem: None,
            });
        })
        .unwrap()
    });
    // A start of the real binary (umask 077) makes everything in the data dir private, as
    // the server's first start does; the in-process store above leaves the test's umask.
    let o = cli(&dir.path, &["credentials", "list"]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
}

/// Runs `doctor --json` with the configuration; returns the exit code and the findings.
fn doctor(dir: &Path, config: &Path) -> (i32, Vec<Value>, String) {
    let o = cli(
        dir,
        &["--config", config.to_str().unwrap(), "doctor", "--json"],
    );
    let out = crate::support::stdout(&o);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
        panic!("{e}: {out}{}", crate::support::stderr(&o));
    });
    assert_eq!(v["broken"], o.status.code() == Some(1), "{out}");
    let all = format!("{out}{}", crate::support::stderr(&o));
    assert!(!all.contains("s3cret-smtp-pw"), "{all}");
    (
        o.status.code().unwrap(),
        v["findings"].as_array().unwrap().clone(),
        all,
    )
}

/// The findings of one check.
fn of<'a>(findings: &'a [Value], check: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["check"] == check).collect()
}

fn level(findings: &[Value], check: &str) -> String {
    let l = of(findings, check);
    assert_eq!(l.len(), 1, "{check}: {findings:?}");
    l[0]["level"].as_str().unwrap().to_string()
}

#[test]
fn a_healthy_data_dir_is_ok_or_noted_and_exits_0() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_up(&dir, mail.addr.port(), false);
    let config = cert_config(&dir.path.with_file_name("etc"), 90);
    let (code, findings, out) = doctor(&dir.path, &config);
    assert_eq!(code, 0, "{out}");
    for f in &findings {
        assert!(f["level"] == "ok" || f["level"] == "note", "{f}");
    }
    for check in [
        "data dir owner",
        "file owners",
        "data dir mode",
        "secret files",
        "tls certificate",
        "free disk",
        "smtp",
        "clock",
        "journal",
    ] {
        assert_eq!(level(&findings, check), "ok", "{check}: {out}");
    }
    // The credential was created but the identity server never called with it.
    assert_eq!(level(&findings, "credentials"), "note");
    // The text form: one line per check, led by its level.
    let o = cli(&dir.path, &["--config", config.to_str().unwrap(), "doctor"]);
    let text = crate::support::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().count(), findings.len(), "{text}");
    assert!(
        text.lines()
            .all(|l| l.starts_with("OK ") || l.starts_with("NOTE ")),
        "{text}"
    );
    // Nothing set up at all: notes, exit 0, and no data dir created.
    let empty = DataDir::new();
    let none = empty.path.with_file_name("none.toml");
    std::fs::write(&none, "").unwrap();
    let (code, findings, out) = doctor(&empty.path, &none);
    assert_eq!(code, 0, "{out}");
    assert_eq!(level(&findings, "data dir"), "note");
    assert_eq!(level(&findings, "tls certificate"), "note");
    assert!(!empty.path.exists());
}

#[test]
fn a_broken_data_dir_names_each_problem_with_its_fix_and_exits_1() {
    use std::os::unix::fs::PermissionsExt;
    let dir = DataDir::new();
    set_up(&dir, closed_port().port(), true);
    let config = cert_config(&dir.path.with_file_name("etc"), -3);
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&dir.path, 0o755).unwrap();
    mode(&dir.path.join("db/conf"), 0o644).unwrap();
    let root = rustix::process::geteuid().is_root();
    if root {
        std::os::unix::fs::chown(dir.path.join("journal"), Some(65534), Some(65534)).unwrap();
    } else {
        eprintln!("not root: the file-owned-by-another-user case is skipped");
    }
    let (code, findings, out) = doctor(&dir.path, &config);
    assert_eq!(code, 1, "{out}");
    let fail = |check: &str, found: &str, fix: &str| {
        let f = of(&findings, check)
            .into_iter()
            .find(|f| f["level"] == "fail")
            .unwrap_or_else(|| panic!("no FAIL for {check}: {out}"));
        assert!(f["found"].as_str().unwrap().contains(found), "{f}");
        assert!(f["fix"].as_str().unwrap().contains(fix), "{f}");
    };
    fail("data dir mode", "0755", "chmod 700");
    fail("secret files", "db/conf (0644)", "chmod -R go-rwx");
    fail("tls certificate", "expired", "renew");
    fail("smtp", "127.0.0.1:", "notify smtp");
    if root {
        fail("file owners", "journal (uid 65534)", "chown -R 0:0");
    }
    // The text form names the same problems, each with its fix.
    let o = cli(&dir.path, &["--config", config.to_str().unwrap(), "doctor"]);
    let text = crate::support::stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for l in text.lines().filter(|l| !l.starts_with("OK ")) {
        assert!(l.contains(" -- fix: ") || l.starts_with("NOTE "), "{l}");
    }
}

#[test]
fn a_certificate_expiring_in_10_days_warns_without_failing() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_up(&dir, mail.addr.port(), false);
    let config = cert_config(&dir.path.with_file_name("etc"), 10);
    let (code, findings, out) = doctor(&dir.path, &config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(level(&findings, "tls certificate"), "warn");
    let f = of(&findings, "tls certificate")[0];
    assert!(
        f["found"].as_str().unwrap().contains("in 9 days")
            || f["found"].as_str().unwrap().contains("in 10 days"),
        "{f}"
    );
}

#[test]
fn doctor_while_the_server_runs_gives_the_same_findings() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_up(&dir, mail.addr.port(), false);
    let config = cert_config(&dir.path.with_file_name("etc"), 20);
    let (code, offline, out) = doctor(&dir.path, &config);
    assert_eq!(code, 0, "{out}");
    let (child, banner, err) = spawn_serve(
        &dir.path,
        &["--config", config.to_str().unwrap()],
        &["--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(banner.contains("Admin UI:"), "{banner}{err}");
    // The banner comes just before the control socket is up.
    let socket = dir.path.join("control.sock");
    let t = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(t.elapsed().as_secs() < 10, "no control socket");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, online, out) = doctor(&dir.path, &config);
    stop_child(child);
    assert_eq!(code, 0, "{out}");
    let levels = |f: &[Value]| -> Vec<(String, String)> {
        f.iter()
            .map(|x| (x["check"].to_string(), x["level"].to_string()))
            .collect()
    };
    // The server holds the store's lock: only the control socket could have answered.
    assert_eq!(levels(&online), levels(&offline), "{out}");
    assert_eq!(level(&online, "tls certificate"), "warn");
    assert_eq!(level(&online, "smtp"), "ok");
}
