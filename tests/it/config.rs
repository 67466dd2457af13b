//! Configuration precedence through the real binary, the separate admin listener, and
//! operational errors that say what to do.

use std::process::Command;

use crate::support::*;

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("profilegate.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn file_then_environment_then_flags() {
    let dir = DataDir::new();
    let tmp = tempfile::tempdir().unwrap();
    // Distinct loopback addresses with port 0: no port can be taken by another test.
    let (a, b, c) = ("127.0.0.2", "127.0.0.3", "127.0.0.4");
    let cfg = write_config(
        tmp.path(),
        &format!(
            "listen = \"{a}:0\"\nlog_format = \"json\"\nlisten_typo = 1\n[tls]\nkye = \"x\"\n"
        ),
    );
    // check-config: each value with its source; unknown keys warned.
    let o = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .args([
            "--data-dir",
            dir.path.to_str().unwrap(),
            "--config",
            &cfg,
            "check-config",
        ])
        .env("PROFILEGATE_LOG", "warn")
        .env("PROFILEGATE_LISTEN", format!("{b}:0"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("listen = \"{b}:0\"  # environment")),
        "{out}"
    );
    assert!(
        out.contains("log_format = \"json\"  # config file"),
        "{out}"
    );
    assert!(
        out.contains("allow_insecure_http = false  # default"),
        "{out}"
    );
    let err = stderr(&o);
    assert!(
        err.contains("listen_typo") && err.contains("tls.kye"),
        "{err}"
    );

    // serve: the file alone, then the environment over it, then a flag over both.
    let env_b = format!("{b}:0");
    let flag_c = format!("{c}:0");
    let only_file: (Vec<&str>, Vec<(&str, &str)>, &str) = (vec![], vec![], a);
    let with_env = (vec![], vec![("PROFILEGATE_LISTEN", env_b.as_str())], b);
    let with_flag = (
        vec!["--listen", flag_c.as_str()],
        vec![("PROFILEGATE_LISTEN", env_b.as_str())],
        c,
    );
    for (args, env, want) in [only_file, with_env, with_flag] {
        let (child, out, err) = spawn_serve(&dir.path, &["--config", &cfg], &args, &env);
        assert!(
            out.contains(&format!("serving on http://{want}:")),
            "want {want}: {out}{err}"
        );
        stop_child(child);
    }

    // A bad value names its source; a file that is not TOML names the file.
    let bad = write_config(tmp.path(), "listen = \"localhost\"\n");
    let o = cli(&dir.path, &["--config", &bad, "check-config"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("from the config file"),
        "{}",
        stderr(&o)
    );
    let bad = write_config(tmp.path(), "listen = \n");
    let o = cli(&dir.path, &["--config", &bad, "check-config"]);
    assert!(stderr(&o).contains("is not valid"), "{}", stderr(&o));
    let o = cli(
        &dir.path,
        &["--config", "/nonexistent.toml", "check-config"],
    );
    assert!(
        stderr(&o).contains("cannot read the configuration file"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_listener_keeps_the_ui_off_the_action_port() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let (child, out, err) = spawn_serve(
        &dir.path,
        &[],
        &["--listen", "127.0.0.5:0", "--admin-listen", "127.0.0.6:0"],
        &[],
    );
    let main_addr = banner_addr(&out);
    let admin_addr = out
        .split("Admin UI: http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no admin address: {out}{err}"))
        .to_string();
    assert!(admin_addr.starts_with("127.0.0.6:"), "{out}");
    let main: u16 = main_addr.rsplit(':').next().unwrap().parse().unwrap();
    let admin: u16 = admin_addr.rsplit(':').next().unwrap().parse().unwrap();
    let get = |port: u16, path: &str| {
        let ip = if port == admin {
            "127.0.0.6"
        } else {
            "127.0.0.5"
        };
        let url = format!("http://{ip}:{port}{path}");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(get(main, "/admin/").await, 404);
    assert_eq!(get(main, "/admin/api/openapi.json").await, 404);
    assert_eq!(get(admin, "/admin/").await, 200);
    assert_eq!(get(admin, "/healthz").await, 200);
    assert_eq!(get(main, "/metrics").await, 200);
    let ev = profile_event(Some("split-1"), dept(serde_json::json!("HR")));
    let r = post(
        &format!("http://127.0.0.5:{main}/actions/pre-update-profile"),
        &Auth::of(&cred),
        ev.to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    let c = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.6:{admin}/actions/pre-update-profile"
        ))
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), 404, "no action endpoint on the admin listener");
    stop_child(child);
}

#[test]
fn operational_errors_say_what_to_do() {
    // Port in use.
    let dir = DataDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (mut child, _, err) = spawn_serve(
        &dir.path,
        &[],
        &["--listen", &format!("127.0.0.1:{port}")],
        &[],
    );
    assert!(!child.wait().unwrap().success());
    assert!(err.contains("already uses this port"), "{err}");
    drop(taken);

    // SMTP that does not answer: warned at start-up, the server still serves.
    let closed = free_port();
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(profilegate::model::SmtpSettings {
                host: "127.0.0.1".into(),
                port: closed,
                encryption: profilegate::model::Encryption::None,
                username: None,
                password: None,
                from: "pg@example.com".into(),
                timeout_ms: 500,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["soc@example.com".into()];
        })
        .unwrap()
    });
    let (mut child, out, _) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
    let listen = banner_addr(&out);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        std::net::TcpStream::connect(&listen).is_ok(),
        "still serving after the warning"
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("SMTP check at start-up failed") && err.contains("connection refused"),
        "{err}"
    );

    // A data dir that is a file.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = cli(&file, &["departments", "list"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));

    // A damaged database points to restore: one sled cannot parse, and one sled reads as
    // shorter than it was (which it would otherwise open as if nothing had been lost).
    for damage in ["conf", "log"] {
        let dir = DataDir::new();
        let o = cli(&dir.path, &["departments", "add", "HR", "Finance"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let db = dir.path.join("db");
        let file = if damage == "conf" {
            db.join("conf")
        } else {
            db.join("db")
        };
        let bytes: Vec<u8> = std::fs::read(&file)
            .unwrap()
            .iter()
            .map(|b| b ^ 0x5A)
            .collect();
        std::fs::write(&file, bytes).unwrap();
        let o = cli(&dir.path, &["departments", "list"]);
        assert!(!o.status.success(), "{damage}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("profilegate restore"),
            "{damage}: {}",
            stderr(&o)
        );
    }
}
