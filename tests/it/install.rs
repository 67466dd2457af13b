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
                "/usr/local/bin/profilegate",
                env!("CARGO_BIN_EXE_profilegate"),
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
