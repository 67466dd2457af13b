//! The shipped systemd unit and example configuration.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

#[test]
fn systemd_unit_is_hardened_and_consistent() {
    let unit = std::fs::read_to_string(examples().join("profilegate.service")).unwrap();
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "User=profilegate",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/profilegate",
        "Environment=PROFILEGATE_DATA_DIR=/var/lib/profilegate",
        "CapabilityBoundingSet=",
        "KillSignal=SIGTERM",
    ] {
        assert!(has(line), "the unit lacks {line}");
    }
    // systemd checks it too, where it is installed (pointing ExecStart at this build).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("profilegate.service");
        std::fs::write(
            &copy,
            unit.replace(
                "ExecStart=/usr/bin/profilegate ",
                &format!("ExecStart={} ", env!("CARGO_BIN_EXE_profilegate")),
            )
            .replace("User=profilegate", "User=root")
            .replace("Group=profilegate", "Group=root"),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let problems: Vec<&str> = std::str::from_utf8(&o.stderr)
            .unwrap()
            .lines()
            .filter(|l| l.contains("profilegate.service"))
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
    }
}

#[test]
fn example_configuration_is_valid_and_complete() {
    let text = std::fs::read_to_string(examples().join("profilegate.toml")).unwrap();
    let (cfg, unknown) = profilegate::config::parse_file(&text).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(
        cfg.data_dir.as_deref(),
        Some(Path::new("/var/lib/profilegate"))
    );
    let dir = DataDir::new();
    let path = examples().join("profilegate.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .args(["--config", path.to_str().unwrap()])
        .args(["--data-dir", dir.path.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("admin_listen = \"127.0.0.1:8081\"  # config file"),
        "{out}"
    );
    assert!(out.contains("self_signed = true  # config file"), "{out}");
    assert!(stderr(&o).is_empty() || !stderr(&o).contains("unknown key"));
}

/// `--version` names the commit the binary was built from: the checkout's HEAD when the tests
/// run in one (build.rs reruns when HEAD moves), and the commit's date.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let re = regex::Regex::new(&format!(
        r"^profilegate {} \(commit ([0-9a-f]{{12}}|unknown)(, (\d{{4}}-\d{{2}}-\d{{2}}))?\)\n$",
        regex::escape(env!("CARGO_PKG_VERSION"))
    ))
    .unwrap();
    let caps = re
        .captures(&out)
        .unwrap_or_else(|| panic!("unexpected --version output: {out:?}"));
    let head = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        assert_eq!(&caps[1], stdout(&head).trim(), "{out}");
        assert!(
            caps.get(3).is_some(),
            "a commit from git has its date: {out}"
        );
    }
}

/// The Debian package's pieces agree with the unit and with each other: the binary path, the
/// user and its home (the data dir), the configuration path, and the scripts parse.
#[test]
fn debian_package_definition_is_consistent() {
    let unit = std::fs::read_to_string(examples().join("profilegate.service")).unwrap();
    assert!(
        unit.lines().any(|l| l
            == "ExecStart=/usr/bin/profilegate --config /etc/profilegate/profilegate.toml serve"),
        "the packaged unit must start /usr/bin/profilegate with the packaged configuration"
    );
    let deb = examples().join("debian");
    let sysusers = std::fs::read_to_string(deb.join("profilegate.sysusers")).unwrap();
    let user: Vec<&str> = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a u line")
        .split_whitespace()
        .collect();
    assert_eq!(user[1], "profilegate");
    assert!(
        sysusers.contains(" /var/lib/profilegate /usr/sbin/nologin"),
        "{sysusers}"
    );
    let postinst = std::fs::read_to_string(deb.join("postinst")).unwrap();
    for needle in [
        "DATA=/var/lib/profilegate",
        "CONF=/etc/profilegate/profilegate.toml",
        "chmod 0700 \"$DATA\"",
        "root profilegate 0640 \"$CONF\"",
        "grep setup=",
    ] {
        assert!(postinst.contains(needle), "postinst lacks {needle}");
    }
    let postrm = std::fs::read_to_string(deb.join("postrm")).unwrap();
    assert!(postrm.contains("for path in /var/lib/profilegate /etc/profilegate;"));
    for (shell, script) in [
        ("sh", "postinst"),
        ("sh", "prerm"),
        ("sh", "postrm"),
        ("bash", "build-deb"),
    ] {
        let path = deb.join(script);
        let o = Command::new(shell).arg("-n").arg(&path).output().unwrap();
        assert!(o.status.success(), "{script}: {}", stderr(&o));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o111, 0o111, "{script} is not executable");
    }
}

/// The unit's system call filter, applied for real: the server started under the filter
/// systemd would build from the unit, as the packaged configuration runs it (HTTPS with a
/// self-signed certificate, e-mail to the security team), starts, answers an action call over
/// TLS, sends its e-mail, answers `/readyz` and `/metrics`, serves the CLI's backup and
/// checkpoint through its control socket, lowers its forwarding thread's priority (a call the
/// unit's `~@resources` would otherwise forbid: it killed the service at start) and stops
/// cleanly. A refused call kills the process here, though the unit answers it with EPERM, so
/// that any call the unit refuses on these paths fails the test. Needs `systemd-analyze` (to
/// expand the unit's groups) and gcc's headers (for the calls' numbers); CI installs systemd
/// and requires the test.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[tokio::test]
async fn the_server_runs_under_the_units_system_call_filter() {
    use serde_json::Value;
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("PG_REQUIRE_SYSTEMD_ANALYZE").is_none(),
            "systemd-analyze is required here (install systemd)"
        );
        eprintln!("skipped: no systemd-analyze to expand the unit's system call groups");
        return;
    }
    let unit = std::fs::read_to_string(examples().join("profilegate.service")).unwrap();
    let filter = seccomp::UnitFilter::parse(&unit);
    // The expansion and the numbers are real: the basics are in, the unit's denials are out.
    for (name, allowed) in [("read", true), ("sync_file_range", true), ("reboot", false)] {
        assert_eq!(filter.allows(name), allowed, "{name}");
    }

    let dir = DataDir::new();
    let auth = Auth::of(&dir.standard());
    let mail = crate::support::mail::MailServer::start();
    crate::notify::configure(&dir, mail.addr, 5000);
    let mut cmd = serve_command(
        env!("CARGO_BIN_EXE_profilegate"),
        &dir.path,
        &[],
        &["--listen", "127.0.0.1:0", "--tls-self-signed"],
        &[],
    );
    filter.apply_to(&mut cmd);
    let (mut child, out, err) = spawn_serve_command(cmd);
    if !out.contains("Admin UI:") {
        panic!(
            "it did not start under the unit's filter: {:?}\n{out}\n{err}",
            child.wait()
        );
    }
    let url = format!("https://{}/actions/pre-update-profile", banner_addr(&out));
    let pem = std::fs::read_to_string(banner_certificate(&out)).unwrap();
    let client = crate::support::tls::client_trusting(&pem, false);
    let ev = profile_event(Some("seccomp-1"), dept(Value::from("HR")));
    let Auth::Basic(user, password) = &auth else {
        panic!("the standard credential is Basic");
    };
    let sent = client
        .post(&url)
        .header("content-type", "application/json")
        .basic_auth(user, Some(password))
        .body(ev.to_string())
        .send()
        .await;
    let r = match sent {
        Ok(r) => r,
        // Killed by the filter (SIGSYS): say so.
        Err(e) => panic!("no answer ({e}); the server: {:?}", child.wait()),
    };
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["actionStatus"], "SUCCESS", "{body}");
    // The department changed: the security team's e-mail goes out.
    let mails = crate::notify::wait_for_mails(&mail, 1).await;
    assert_eq!(mails.len(), 1, "the e-mail under the filter");
    let base = url
        .trim_end_matches("/actions/pre-update-profile")
        .to_string();
    for path in ["/readyz", "/metrics"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // What the CLI asks of the running server through its control socket, done under the
    // filter: a backup and the latest signed checkpoint.
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("filtered.backup");
    let path = dir.path.clone();
    let f = file.clone();
    let (backup, checkpoint) = tokio::task::spawn_blocking(move || {
        (
            cli(&path, &["backup", f.to_str().unwrap()]),
            cli(&path, &["audit", "checkpoint", "--json"]),
        )
    })
    .await
    .unwrap();
    assert!(backup.status.success(), "{}", stderr(&backup));
    assert!(
        stdout(&backup).contains("through the running server"),
        "{}",
        stdout(&backup)
    );
    assert!(checkpoint.status.success(), "{}", stderr(&checkpoint));
    assert!(
        stdout(&checkpoint).contains("\"signature\""),
        "{}",
        stdout(&checkpoint)
    );
    let nices = forwarding_thread_nices(&child.id().to_string());
    assert!(!nices.is_empty(), "no forwarding thread");
    assert!(nices.iter().all(|n| *n == 19), "{nices:?}");

    // Its open connection would hold the stop for the shutdown's grace period; the runtime
    // keeps running while the child stops, so that the connection is closed.
    drop(client);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "it did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{status:?}\n{err}");
}

/// A seccomp filter built the way systemd builds one from a unit's `SystemCallFilter=` lines.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod seccomp {
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// `AUDIT_ARCH_X86_64`: the architecture a call must come from (`SystemCallArchitectures=native`).
    const ARCH_X86_64: u32 = 0xc000_003e;

    pub struct UnitFilter {
        allowed: BTreeSet<String>,
        numbers: Vec<u32>,
    }

    impl UnitFilter {
        /// systemd's rule: the first line sets the mode (an allow list here); a later `~`
        /// line takes its calls out of the set, a later plain line puts them back.
        pub fn parse(unit: &str) -> UnitFilter {
            let mut allowed: Option<BTreeSet<String>> = None;
            for line in unit.lines().map(str::trim) {
                let Some(v) = line.strip_prefix("SystemCallFilter=") else {
                    continue;
                };
                let (deny, names) = match v.strip_prefix('~') {
                    Some(rest) => (true, rest),
                    None => (false, v),
                };
                let calls = expand(names);
                match (&mut allowed, deny) {
                    (None, false) => allowed = Some(calls),
                    (None, true) => panic!("the unit's filter is expected to be an allow list"),
                    (Some(set), true) => set.retain(|c| !calls.contains(c)),
                    (Some(set), false) => set.extend(calls),
                }
            }
            let allowed = allowed.expect("the unit has a SystemCallFilter=");
            let numbers = numbers(&allowed);
            UnitFilter { allowed, numbers }
        }

        pub fn allows(&self, call: &str) -> bool {
            self.allowed.contains(call)
        }

        /// Installs the filter in the child before it runs the program (as systemd does, with
        /// `NoNewPrivileges`); a call outside it kills the process.
        pub fn apply_to(&self, cmd: &mut Command) {
            let refuse = libc::SECCOMP_RET_KILL_PROCESS;
            let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
            const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
            const JUMP_EQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
            const RETURN: u16 = 0x06; // BPF_RET | BPF_K
                                      // seccomp_data: the call's number at offset 0, its architecture at 4.
            let mut prog = vec![
                op(LOAD_WORD, 0, 0, 4),
                op(JUMP_EQ, 1, 0, ARCH_X86_64),
                op(RETURN, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
                op(LOAD_WORD, 0, 0, 0),
            ];
            for nr in &self.numbers {
                prog.push(op(JUMP_EQ, 0, 1, *nr));
                prog.push(op(RETURN, 0, 0, libc::SECCOMP_RET_ALLOW));
            }
            prog.push(op(RETURN, 0, 0, refuse));
            let len = u16::try_from(prog.len()).expect("a program of at most 65,535 steps");
            // SAFETY: the closure runs in the forked child before exec and makes only the two
            // prctl calls (async-signal-safe) with a program that lives in the closure.
            unsafe {
                cmd.pre_exec(move || {
                    let fprog = libc::sock_fprog {
                        len,
                        filter: prog.as_ptr() as *mut libc::sock_filter,
                    };
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || libc::prctl(
                            libc::PR_SET_SECCOMP,
                            libc::SECCOMP_MODE_FILTER,
                            &fprog as *const libc::sock_fprog,
                        ) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }

    /// The calls a filter line names, groups (`@…`) expanded by systemd-analyze.
    fn expand(names: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = names.split_whitespace().map(String::from).collect();
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !name.starts_with('@') {
                out.insert(name);
                continue;
            }
            if !seen.insert(name.clone()) {
                continue;
            }
            let o = Command::new("systemd-analyze")
                .args(["syscall-filter", &name])
                .output()
                .expect("systemd-analyze");
            assert!(o.status.success(), "{name}: {o:?}");
            let text = String::from_utf8(o.stdout).expect("utf-8");
            // The group's name, then its members (calls and groups), comments between.
            for member in text
                .lines()
                .skip(1)
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                todo.push(member.to_string());
            }
        }
        out
    }

    /// The calls' numbers on this architecture, from the C library's headers (`__NR_<call>`);
    /// calls this architecture lacks have none.
    fn numbers(calls: &BTreeSet<String>) -> Vec<u32> {
        let mut src = String::from("#include <sys/syscall.h>\n");
        for c in calls {
            src.push_str(&format!("{c} __NR_{c}\n"));
        }
        let mut gcc = Command::new("gcc")
            .args(["-E", "-P", "-x", "c", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("gcc");
        gcc.stdin
            .take()
            .expect("stdin")
            .write_all(src.as_bytes())
            .expect("write to gcc");
        let o = gcc.wait_with_output().expect("gcc");
        assert!(o.status.success(), "gcc -E failed");
        let text = String::from_utf8(o.stdout).expect("utf-8");
        let found: Vec<(String, u32)> = text
            .lines()
            .filter_map(|l| {
                let (name, nr) = l.trim().split_once(' ')?;
                Some((name.to_string(), nr.trim().parse().ok()?))
            })
            .filter(|(name, _)| calls.contains(name))
            .collect();
        let number = |call: &str| found.iter().find(|(n, _)| n == call).map(|(_, nr)| *nr);
        assert_eq!(number("read"), Some(0), "the headers' numbers");
        assert_eq!(number("sync_file_range"), Some(277), "the headers' numbers");
        found.into_iter().map(|(_, nr)| nr).collect()
    }
}
