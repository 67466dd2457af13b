//! The command line against a real data dir, through the real binary.

mod breached;
mod password;

use serde_json::Value;

use crate::support::*;

#[test]
fn departments_add_list_remove_import_export() {
    let dir = DataDir::new();
    let p = &dir.path;
    let o = cli(p, &["departments", "add", "HR", "Engineering"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&cli(p, &["departments", "list"])),
        "Engineering\nHR\n"
    );

    // A typo in remove changes nothing.
    let o = cli(p, &["departments", "remove", "HR", "Finanse"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Finanse"), "{}", stderr(&o));
    assert_eq!(
        stdout(&cli(p, &["departments", "list"])),
        "Engineering\nHR\n"
    );

    // Import: header optional, quoted comma, blank lines; all or nothing.
    let file = p.parent().unwrap().join("d.csv");
    std::fs::write(&file, "name\nSales\n\n\"R&D, Europe\"\n").unwrap();
    let o = cli(p, &["departments", "import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 added"), "{}", stdout(&o));
    assert_eq!(
        stdout(&cli(p, &["departments", "list"])),
        "Engineering\nHR\nR&D, Europe\nSales\n"
    );

    std::fs::write(&file, "Legal\nMarketing,Extra\nOps\n").unwrap();
    let o = cli(p, &["departments", "import", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    assert!(!stdout(&cli(p, &["departments", "list"])).contains("Legal"));

    // --replace from stdin, then export and re-import round trips.
    let o = cli_with_input(
        p,
        &["departments", "import", "-", "--replace"],
        Some("department\nHR\nOps\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&cli(p, &["departments", "list"])), "HR\nOps\n");
    let exported = stdout(&cli(p, &["departments", "export"]));
    assert_eq!(exported, "name\nHR\nOps\n");

    // Sub-organization lists are separate.
    assert!(cli(p, &["departments", "add", "Sales", "--org", "org-1"])
        .status
        .success());
    assert_eq!(
        stdout(&cli(p, &["departments", "list", "--org", "org-1"])),
        "Sales\n"
    );
    assert_eq!(stdout(&cli(p, &["departments", "list"])), "HR\nOps\n");

    // Every change is in the chain.
    let o = cli(p, &["audit", "verify"]);
    assert!(o.status.success());
    let export = stdout(&cli(p, &["audit", "export"]));
    let actions: Vec<String> = export
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "departments.add",
            "departments.import",
            "departments.import",
            "departments.add"
        ]
    );
}

#[test]
fn credentials_create_json_list_revoke() {
    let dir = DataDir::new();
    let p = &dir.path;
    let o = cli(p, &["credentials", "create", "--type", "basic", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["type"], "BASIC");
    assert_eq!(v["username"], "profilegate");
    let secret = v["password"].as_str().unwrap().to_string();
    assert!(secret.len() > 40);

    let o = cli(
        p,
        &[
            "credentials",
            "create",
            "--type",
            "api-key",
            "--header",
            "X-Api-Key",
            "--json",
        ],
    );
    let k: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(k["type"], "API_KEY");
    assert_eq!(k["header"], "x-api-key");
    assert!(k["value"].as_str().unwrap().starts_with("pg_"));

    // The secret is never shown again, nor stored in clear.
    let list = stdout(&cli(p, &["credentials", "list"]));
    assert!(list.contains(v["id"].as_str().unwrap()) && !list.contains(&secret));
    assert!(!stdout(&cli(p, &["audit", "export"])).contains(&secret));

    let o = cli(
        p,
        &[
            "credentials",
            "create",
            "--type",
            "api-key",
            "--header",
            "bad_name",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not accepted by the identity server"),
        "{}",
        stderr(&o)
    );

    let o = cli(p, &["credentials", "revoke", v["id"].as_str().unwrap()]);
    assert!(o.status.success());
    let o = cli(p, &["credentials", "create", "--type", "bearer", "--json"]);
    let b: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(b["type"], "BEARER");
    assert!(b["accessToken"].as_str().is_some());

    // Human output names the WSO2 fields.
    let o = cli(p, &["credentials", "revoke", b["id"].as_str().unwrap()]);
    assert!(o.status.success());
    let human = stdout(&cli(
        p,
        &[
            "credentials",
            "create",
            "--type",
            "basic",
            "--username",
            "wso2",
        ],
    ));
    assert!(
        human.contains("Authentication type: Basic")
            && human.contains("username: wso2")
            && human.contains("password: pg_"),
        "{human}"
    );
}

#[test]
fn department_match_mode() {
    let dir = DataDir::new();
    let o = cli(&dir.path, &["departments", "match", "case-insensitive"]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.with_store(|s| {
        assert_eq!(
            s.settings().policy.department_match,
            profilegate::policy::MatchMode::CaseInsensitive
        )
    });
    assert!(stdout(&cli(&dir.path, &["departments", "match", "exact"])).contains("exactly"));
}

#[test]
fn endpoint_auth_none_is_loud() {
    let dir = DataDir::new();
    let o = cli(&dir.path, &["endpoint", "auth", "none"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("WARNING"));
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_say_when_the_server_holds_the_data_dir() {
    let dir = DataDir::new();
    dir.standard();
    let srv = Server::start(&dir.path).await;
    let p = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&p, &["departments", "list"]))
        .await
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("in use by a running profilegate server"), "{e}");
    assert!(e.contains(&srv.url), "{e} should name {}", srv.url);
    srv.stop().await;
    assert!(cli(&dir.path, &["departments", "list"]).status.success());
}

#[test]
fn serve_prints_endpoint_and_missing_setup() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = DataDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .args([
            "--data-dir",
            dir.path.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut rd = BufReader::new(child.stdout.take().unwrap());
    // Read up to the last checklist item (the output's end while the server runs).
    for _ in 0..20 {
        let mut l = String::new();
        if rd.read_line(&mut l).unwrap() == 0 {
            break;
        }
        let last = l.contains("/admin/#setup=");
        lines.push(l);
        if last {
            break;
        }
    }
    let out = lines.concat();
    // The printed setup link works once: its token sets the admin password.
    let token = out
        .split("/admin/#setup=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no setup link in {out}"))
        .to_string();
    let setup = |token: &str| {
        use std::io::{Read, Write};
        let body = format!(r#"{{"token":"{token}","password":"a long admin password"}}"#);
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /admin/api/setup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    };
    assert!(setup("wrong-token").starts_with("HTTP/1.1 403"));
    assert!(setup(&token).starts_with("HTTP/1.1 200"));
    assert!(setup(&token).starts_with("HTTP/1.1 409"), "used once");
    // SIGTERM: graceful shutdown.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(
        out.contains(&format!(
            "http://127.0.0.1:{port}/actions/pre-update-profile"
        )),
        "{out}"
    );
    assert!(out.contains("No endpoint credential yet"), "{out}");
    assert!(out.contains("department directory is empty"), "{out}");
    assert!(
        out.contains(&format!("Admin UI: http://127.0.0.1:{port}/admin/")),
        "{out}"
    );
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    // The chain records that the password was set through the link.
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("setup link"), "{export}");
}

#[cfg(unix)]
#[test]
fn data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = DataDir::new();
    assert!(cli(&dir.path, &["departments", "list"]).status.success());
    let mode = std::fs::metadata(&dir.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o700,
        "the data dir holds the SMTP password and credential hashes"
    );
}

/// The SMTP login rules (a password needs a username, a username a password) live once, in
/// `service::notifications`: the CLI and the admin API refuse the same input with the same
/// words, and neither stores anything.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_login_rules_are_the_same_in_the_cli_and_the_admin_api() {
    let base = [
        "notify",
        "smtp",
        "--host",
        "127.0.0.1",
        "--port",
        "2525",
        "--encryption",
        "none",
        "--from",
        "pg@example.com",
    ];
    let cases: [(&[&str], Option<&str>, serde_json::Value, &str); 2] = [
        (
            &["--username", "mailer"],
            None,
            serde_json::json!({"username": "mailer"}),
            "a username needs a password",
        ),
        (
            &["--password-stdin"],
            Some("s3cret-smtp-pass\n"),
            serde_json::json!({"password": "s3cret-smtp-pass"}),
            "a password needs a username",
        ),
    ];

    let cli_dir = DataDir::new();
    let api_dir = DataDir::new();
    crate::support::admin::set_password(&api_dir);
    let srv = Server::start(&api_dir.path).await;
    let a = crate::support::admin::Admin::new(&srv.url).await;
    for (args, input, extra, words) in cases {
        let argv: Vec<&str> = base.iter().chain(args.iter()).copied().collect();
        let o = cli_with_input(&cli_dir.path, &argv, input);
        assert!(!o.status.success(), "{argv:?}");
        assert!(stderr(&o).contains(words), "{argv:?}: {}", stderr(&o));

        let mut body = serde_json::json!({"host": "127.0.0.1", "port": 2525,
            "encryption": "none", "from": "pg@example.com", "timeout_ms": 2000});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, v) = a.post("/admin/api/notifications/smtp", body).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(words), "{v}");
    }
    let o = cli(&cli_dir.path, &["check-config"]);
    assert!(!stdout(&o).contains("mailer"), "{}", stdout(&o));
    let (_, v) = a.get("/admin/api/notifications").await;
    assert!(v["smtp"].is_null(), "{v}");
    srv.stop().await;
}
