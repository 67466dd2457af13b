//! Issue 16 items 3, 5 and 6: what the service writes stays private to its owner, and the SMTP
//! password never crosses the network in clear.
//!
//! The binary is run with umask 022 (a login shell's usual one) so that a file is private only
//! because the service made it so. Before f160925 every test here failed: backups were created
//! with the caller's umask (0644) and kept the modes of a stale `.partial`; a data dir made
//! beforehand kept its loose modes; the control socket was created with the umask (0755) and
//! served anyone who could reach it; and SMTP settings with encryption `none` and a password
//! were stored for any host.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use profilegate::model::Encryption;
use serde_json::{json, Value};

use crate::support::admin::{set_password, Admin};
use crate::support::*;

const BACKUP_HEADER: &[u8] = b"PROFILEGATE-BACKUP 1";
const REFUSAL: &str = "refused: only the server's own user may use this socket";
const WARNING: &str = "made it private to its owner (chmod -R go-rwx)";

/// A path's permission bits.
fn bits(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The same in octal ("0600"), so that a failure reads like `ls -l`.
fn mode(p: &Path) -> String {
    format!("{:04o}", bits(p))
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, p.display()));
}

/// Everything under `dir` (not `dir` itself), depth first.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        out.push(p.clone());
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(tree(&p));
        }
    }
    out
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The binary, started with umask 022 whatever the test process's umask is.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_profilegate"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("PROFILEGATE_LISTEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: umask(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    cmd
}

/// [`cli_with_input`] with umask 022.
fn run(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut child = command(dir).args(args).spawn().expect("run profilegate");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.unwrap_or_default().as_bytes())
        .expect("stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// `profilegate serve --listen 127.0.0.1:0` with umask 022 ([`spawn_serve`] with a umask),
/// stopped when dropped.
struct Serving(Option<Child>);

impl Serving {
    fn start(dir: &Path) -> Serving {
        let mut child = command(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .spawn()
            .expect("run profilegate serve");
        let mut rd = BufReader::new(child.stdout.take().expect("stdout"));
        let mut out = String::new();
        loop {
            let mut l = String::new();
            if rd.read_line(&mut l).unwrap_or(0) == 0 {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                let _ = child.wait();
                panic!("serve exited before its banner:\n{out}{err}");
            }
            out.push_str(&l);
            if l.starts_with("Admin UI:") {
                break;
            }
        }
        assert!(out.contains("serving on"), "{out}");
        Serving(Some(child))
    }

    /// SIGTERM, wait; returns what the server logged.
    fn stop(mut self) -> String {
        let mut child = self.0.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        stop_child(child);
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            stop_child(c);
        }
    }
}

/// Waits for a running server's control socket; returns its mode. The server binds it and
/// then makes it 0600, so a mode other than 0600 is given a moment to change.
fn control_socket(dir: &Path) -> (PathBuf, u32) {
    let sock = profilegate::control::socket_path(dir);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = fs::symlink_metadata(&sock)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777);
        if m == Some(0o600) || Instant::now() >= deadline {
            let m = m.unwrap_or_else(|| panic!("no control socket at {}", sock.display()));
            return (sock, m);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Connects to a Unix socket from a thread running as `uid`/`gid` (Linux credentials are per
/// thread; the raw setresuid changes only this one), sends `backup`, and returns the thread's
/// effective uid and what the server answered.
fn ask_for_a_backup_as(uid: u32, sock: &Path) -> (u32, std::io::Result<Vec<u8>>) {
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid, Gid, Uid};
    let sock = sock.to_path_buf();
    std::thread::spawn(move || {
        let (u, g) = (Uid::from_raw(uid), Gid::from_raw(uid));
        set_thread_groups(&[]).expect("setgroups");
        set_thread_res_gid(g, g, g).expect("setresgid");
        set_thread_res_uid(u, u, u).expect("setresuid");
        let euid = rustix::process::geteuid().as_raw();
        let answer = (|| {
            let mut s = std::os::unix::net::UnixStream::connect(&sock)?;
            s.set_read_timeout(Some(Duration::from_secs(20)))?;
            // The server may answer and close before reading the line: errors after
            // connecting are not the point, what came back is.
            let _ = s.write_all(b"backup\n");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            Ok(out)
        })();
        (euid, answer)
    })
    .join()
    .expect("client thread")
}

fn assert_private_backup(file: &Path) {
    assert_eq!(
        mode(file),
        "0600",
        "{}: a backup holds the SMTP password and credential hashes",
        file.display()
    );
    let bytes = fs::read(file).unwrap();
    assert!(
        bytes.starts_with(BACKUP_HEADER),
        "{}: not a backup: {:?}",
        file.display(),
        String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
    );
}

/// Item 3: `backup FILE` with no server running. Before f160925 the file was created with the
/// caller's umask (0644), and a stale 0644 `.partial` kept its modes.
#[test]
fn offline_backup_is_0600_whatever_the_umask() {
    let dir = DataDir::new();
    dir.standard();
    let tmp = tempfile::tempdir().unwrap();

    // A new file.
    let fresh = tmp.path().join("fresh.backup");
    let o = run(&dir.path, &["backup", fresh.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Backup written"), "{}", stdout(&o));
    assert_private_backup(&fresh);

    // Over a world-readable file, with a world-readable `.partial` left by an interrupted
    // backup: the umask alone would not fix this one, the file must be opened 0600.
    let old = tmp.path().join("old.backup");
    let stale = tmp.path().join("old.partial");
    for p in [&old, &stale] {
        fs::write(p, b"an older backup").unwrap();
        chmod(p, 0o644);
    }
    let o = run(&dir.path, &["backup", old.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_private_backup(&old);
    assert_eq!(
        names(tmp.path()),
        ["fresh.backup", "old.backup"],
        "no .partial left"
    );
}

/// Item 3, through a running server: the real binary holds the data dir, `backup` takes the
/// bytes from its control socket and writes them 0600 over a 0644 file. Before f160925 the
/// file came out 0644.
#[test]
fn backup_through_the_running_server_is_0600() {
    let dir = DataDir::new();
    dir.standard();
    let srv = Serving::start(&dir.path);
    control_socket(&dir.path);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("live.backup");
    fs::write(&file, b"an older backup").unwrap();
    chmod(&file, 0o644);
    let o = run(&dir.path, &["backup", file.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("through the running server"),
        "{}",
        stdout(&o)
    );
    assert_private_backup(&file);
    assert_eq!(names(tmp.path()), ["live.backup"], "no .partial left");
    srv.stop();
}

/// The data dir and db/ are 0700, every directory in them too, and no file has group or other
/// bits (the owner keeps read and write).
fn assert_private_tree(dir: &Path) {
    assert_eq!(mode(dir), "0700");
    assert_eq!(mode(&dir.join("db")), "0700");
    for p in tree(dir) {
        let m = bits(&p);
        assert_eq!(m & 0o077, 0, "{} is {m:o}", p.display());
        assert_eq!(m & 0o600, 0o600, "{}: the owner keeps access", p.display());
        if p.is_dir() {
            assert_eq!(mode(&p), "0700", "{}", p.display());
        }
    }
}

/// Item 5: a data dir made beforehand with loose modes (`mkdir -m 0755`, files made 0644 by
/// hand) is made private when a command opens it, with a warning; an already private one
/// opens without a warning. Before f160925 an existing dir kept its modes.
#[test]
fn a_loose_data_dir_is_made_private_when_opened() {
    let dir = DataDir::new();
    fs::create_dir(&dir.path).unwrap();
    chmod(&dir.path, 0o755);
    let o = run(&dir.path, &["departments", "list"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&dir.path), "0700", "mkdir -m 0755 made private");
    assert!(stderr(&o).contains(WARNING), "{}", stderr(&o));
    // What the first run created is private too (umask 077 in main, not the caller's 022).
    assert_private_tree(&dir.path);

    // After a first run, someone opens it up: chmod -R go+rX.
    let paths = tree(&dir.path);
    let files: Vec<&PathBuf> = paths.iter().filter(|p| p.is_file()).collect();
    assert!(
        files.iter().any(|p| p.starts_with(dir.path.join("db"))),
        "a database to loosen: {paths:?}"
    );
    chmod(&dir.path, 0o755);
    for p in &paths {
        let m = bits(p);
        chmod(p, if p.is_dir() { m | 0o055 } else { m | 0o044 });
    }

    let o = run(&dir.path, &["departments", "list"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(WARNING), "{}", stderr(&o));
    assert_private_tree(&dir.path);

    // Already private: nothing to say.
    let o = run(&dir.path, &["departments", "list"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains(WARNING), "{}", stderr(&o));
}

/// Item 5: the control socket is 0600, and a connection from another uid is refused even
/// after the data dir and the socket were opened up by hand (0777); the owner still gets
/// backups. Before f160925 the socket was created with the umask (0755 here) and answered
/// any peer with a backup.
#[test]
fn control_socket_is_0600_and_refuses_another_user() {
    let dir = DataDir::new();
    dir.standard();
    let srv = Serving::start(&dir.path);
    let (sock, m) = control_socket(&dir.path);
    assert_eq!(format!("{m:04o}"), "0600", "{}", sock.display());
    assert_eq!(mode(&dir.path), "0700");

    let root = rustix::process::geteuid().is_root();
    if root {
        // Loosened by hand, all the way from the temp dir down.
        chmod(dir.path.parent().unwrap(), 0o755);
        chmod(&dir.path, 0o777);
        chmod(&sock, 0o777);
        let (euid, answer) = ask_for_a_backup_as(65534, &sock);
        assert_eq!(euid, 65534, "the client thread runs as nobody");
        let answer = answer.unwrap_or_else(|e| {
            panic!(
                "uid 65534 could not connect to {} (a directory above it not searchable?): {e}",
                sock.display()
            )
        });
        assert!(
            !answer.starts_with(BACKUP_HEADER),
            "another user got a backup ({} bytes)",
            answer.len()
        );
        assert_eq!(String::from_utf8_lossy(&answer).trim_end(), REFUSAL);
    } else {
        eprintln!("not root: the refusal of another uid on the control socket was NOT exercised");
    }

    // The owner still gets a backup through the socket.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("owner.backup");
    let o = run(&dir.path, &["backup", file.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("through the running server"),
        "{}",
        stdout(&o)
    );
    assert_private_backup(&file);

    let log = srv.stop();
    if root {
        assert!(
            log.contains("refused a control connection from another user") && log.contains("65534"),
            "{log}"
        );
    }
}

fn smtp_body(host: &str, encryption: &str) -> Value {
    json!({"host": host, "port": 25, "encryption": encryption, "from": "pg@example.com",
           "username": "mailer", "password": "s3cret-smtp-pass", "timeout_ms": 2000})
}

/// Item 6, admin API: encryption `none` with a password is refused on field `encryption`
/// unless the host is loopback, also when the password is the one already stored; nothing is
/// stored. Before f160925 the first request was saved (200).
#[tokio::test(flavor = "multi_thread")]
async fn admin_api_refuses_an_smtp_password_in_clear() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let path = "/admin/api/notifications/smtp";

    for host in ["mail.example.com", "192.0.2.25", "localhost.example.com"] {
        let (st, v) = a.post(path, smtp_body(host, "none")).await;
        assert_eq!(
            (st, v["field"].as_str()),
            (400, Some("encryption")),
            "{host}: {v}"
        );
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains("starttls") && e.contains("tls"), "{e}");
    }
    let (_, v) = a.get("/admin/api/notifications").await;
    assert!(v["smtp"].is_null(), "nothing stored: {v}");

    // The same settings with STARTTLS are saved.
    let (st, v) = a
        .post(path, smtp_body("mail.example.com", "starttls"))
        .await;
    assert_eq!(st, 200, "{v}");
    // Switching to none while keeping the stored password (the form leaves it empty).
    let mut keep = smtp_body("mail.example.com", "none");
    keep.as_object_mut().unwrap().remove("password");
    let (st, v) = a.post(path, keep).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("encryption")), "{v}");
    let (_, v) = a.get("/admin/api/notifications").await;
    assert_eq!(v["smtp"]["encryption"], "starttls", "{v}");
    assert_eq!(v["smtp"]["password_set"], true, "{v}");

    // A relay on this host may take the password in clear.
    for host in ["127.0.0.1", "localhost", "::1"] {
        let (st, v) = a.post(path, smtp_body(host, "none")).await;
        assert_eq!(st, 200, "{host}: {v}");
    }
    let (_, v) = a.get("/admin/api/notifications").await;
    assert_eq!(
        (&v["smtp"]["host"], &v["smtp"]["encryption"]),
        (&json!("::1"), &json!("none")),
        "{v}"
    );
    srv.stop().await;
}

/// Item 6, CLI: `notify smtp --encryption none --password-stdin` to a remote host fails
/// naming starttls and stores nothing; starttls, or none to 127.0.0.1, is accepted. Before
/// f160925 the first command succeeded.
#[test]
fn cli_refuses_an_smtp_password_in_clear() {
    let dir = DataDir::new();
    let set = |host: &str, encryption: &str| {
        cli_with_input(
            &dir.path,
            &[
                "notify",
                "smtp",
                "--host",
                host,
                "--port",
                "25",
                "--encryption",
                encryption,
                "--from",
                "a@example.com",
                "--username",
                "u",
                "--password-stdin",
            ],
            Some("s3cret-smtp-pass\n"),
        )
    };
    let stored = || dir.with_store(|s| s.settings().notify.smtp.clone());

    let o = set("mail.example.com", "none");
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("starttls"), "{}", stderr(&o));
    assert_eq!(stored(), None, "nothing stored");

    let o = set("mail.example.com", "starttls");
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stored().expect("stored");
    assert_eq!(
        (s.host.as_str(), s.encryption, s.password.as_deref()),
        (
            "mail.example.com",
            Encryption::Starttls,
            Some("s3cret-smtp-pass")
        )
    );

    // Refused again: the stored settings are left as they were.
    let o = set("mail.example.com", "none");
    assert!(!o.status.success(), "{}", stdout(&o));
    assert_eq!(stored().map(|s| s.encryption), Some(Encryption::Starttls));

    let o = set("127.0.0.1", "none");
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stored().expect("stored");
    assert_eq!(
        (s.host.as_str(), s.encryption),
        ("127.0.0.1", Encryption::None)
    );
}
