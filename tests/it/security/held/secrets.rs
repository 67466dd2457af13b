//! Secrets.

use super::*;

/// The endpoint secrets, the admin password (old, new and a wrong guess) and the SMTP
/// password appear in no log line (at trace level), no metric, no audit record (API and
/// export) and no admin API read-back, after they were used, failed and changed.
#[test]
fn no_secret_in_logs_metrics_or_the_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let (mail, ca_pem) = MailServer::start_tls_auth(tmp.path(), true);
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    const NEW_PASSWORD: &str = "the new admin password 42";
    const WRONG_PASSWORD: &str = "a wrong admin guess 1234";
    const SMTP_PASSWORD: &str = "smtp-secret-Zq8wX3";
    let (child, banner, logs) = serve_logging(&dir.path, false);
    let url = format!("http://{}", banner_addr(&banner));
    let Auth::Basic(user, basic_secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (bearer_secret, seen) = rt.block_on(async {
        let r = client()
            .post(format!("{url}/admin/api/login"))
            .json(&json!({ "password": WRONG_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let a = Admin::new(&url).await;
        let (st, created) = a
            .post("/admin/api/credentials", json!({"type": "bearer"}))
            .await;
        assert_eq!(st, 200, "{created}");
        let bearer = created["accessToken"].as_str().unwrap().to_string();
        let action = format!("{url}/actions/pre-update-profile");
        let ev = || profile_event(None, dept(json!("HR"))).to_string();
        for auth in [
            Auth::Bearer(bearer.clone()),
            Auth::Basic(user.clone(), basic_secret.clone()),
        ] {
            assert_eq!(
                post(&action, &auth, ev()).await.json["actionStatus"],
                "SUCCESS"
            );
        }
        for auth in [
            Auth::Bearer(format!("{bearer}x")),
            Auth::Basic(user.clone(), format!("{basic_secret}x")),
            Auth::Basic("nobody".into(), basic_secret.clone()),
        ] {
            assert_eq!(post(&action, &auth, ev()).await.status, 401);
        }
        // SMTP with a login the server rejects (after STARTTLS).
        let (st, v) = a
            .post(
                "/admin/api/notifications/smtp",
                json!({"host": "localhost", "port": mail.addr.port(), "encryption": "starttls",
                       "from": "pg@example.com", "username": "mailer", "password": SMTP_PASSWORD,
                       "tls_ca_pem": ca_pem, "timeout_ms": 3000}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = a
            .post(
                "/admin/api/notifications/recipients",
                json!({"recipients": ["sec@example.com"]}),
            )
            .await;
        assert_eq!(st, 200);
        let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
        assert_eq!(st, 502, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("rejected the login"),
            "{v}"
        );
        let mut seen = v.to_string();
        let (st, v) = a
            .post(
                "/admin/api/password",
                json!({"current": PASSWORD, "new": NEW_PASSWORD}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        for page in [
            "/admin/api/overview",
            "/admin/api/credentials",
            "/admin/api/endpoint",
            "/admin/api/endpoint/registration",
            "/admin/api/notifications",
            "/admin/api/settings",
            "/admin/api/audit?limit=500",
            "/admin/api/audit?decision=admin&limit=500",
        ] {
            let (st, v) = a.get(page).await;
            assert!(st == 200 || page.ends_with("registration"), "{page}: {st}");
            seen.push_str(&v.to_string());
        }
        let metrics = client()
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("profilegate_auth_failures_total"),
            "{metrics}"
        );
        seen.push_str(&metrics);
        (bearer, seen)
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("notify.smtp") && export.contains("credentials.create"));
    assert!(
        logs.contains("refused an action call"),
        "the log was expected to record the refusals:\n{logs}"
    );
    // The random part is everything after `pg_<id>_`: it is base64url, so it may hold '_'
    // itself (splitting at the last '_' once gave a 2-character "part" that a log line held).
    let tail = |s: &str| s.splitn(3, '_').nth(2).unwrap().to_string();
    for (what, secret) in [
        ("basic secret", basic_secret.clone()),
        ("basic secret's random part", tail(&basic_secret)),
        ("bearer secret", bearer_secret.clone()),
        ("bearer secret's random part", tail(&bearer_secret)),
        ("admin password", PASSWORD.to_string()),
        ("new admin password", NEW_PASSWORD.to_string()),
        ("wrong admin password", WRONG_PASSWORD.to_string()),
        ("SMTP password", SMTP_PASSWORD.to_string()),
    ] {
        assert!(!logs.contains(&secret), "the {what} is in the log");
        assert!(
            !seen.contains(&secret),
            "the {what} is in the metrics or the API"
        );
        assert!(
            !export.contains(&secret),
            "the {what} is in the audit chain"
        );
    }
    assert!(!export.contains("$argon2"), "a hash is in the audit chain");
}
