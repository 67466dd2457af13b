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
