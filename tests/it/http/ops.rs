//! Operating it: `/metrics` after real traffic, `/readyz`, JSON logs with the request id.

use std::process::Command;

use serde_json::json;

use crate::support::mail::MailServer;
use crate::support::*;

/// The value of one sample line of a Prometheus text page.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{page}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_happened_and_readyz_answers() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(profilegate::model::SmtpSettings {
                host: "127.0.0.1".into(),
                port: mail.addr.port(),
                encryption: profilegate::model::Encryption::None,
                username: None,
                password: None,
                from: "pg@example.com".into(),
                timeout_ms: 3000,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["soc@example.com".into()];
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = srv.action_url();
    post(
        &url,
        &auth,
        profile_event(Some("m-1"), dept(json!("HR"))).to_string(),
    )
    .await;
    post(
        &url,
        &auth,
        profile_event(Some("m-2"), dept(json!("HR"))).to_string(),
    )
    .await;
    post(
        &url,
        &auth,
        profile_event(Some("m-3"), dept(json!("Nope"))).to_string(),
    )
    .await;
    let mut other = profile_event(Some("m-4"), dept(json!("HR")));
    other["actionType"] = json!("PRE_UPDATE_PASSWORD");
    post(&url, &auth, other.to_string()).await;
    post(&url, &auth, "not json").await;
    post(&url, &Auth::None, "{}").await;
    post(&url, &Auth::Basic("wso2".into(), "wrong".into()), "{}").await;

    let r = reqwest::get(format!("{}/metrics", srv.url)).await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let page = r.text().await.unwrap();
    let req = |kind: &str, outcome: &str| {
        sample(
            &page,
            &format!(
                "profilegate_action_requests_total{{action_type=\"{kind}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(req("PRE_UPDATE_PROFILE", "SUCCESS"), 2.0);
    assert_eq!(req("PRE_UPDATE_PROFILE", "FAILED"), 1.0);
    assert_eq!(req("other", "FAILED"), 1.0);
    assert_eq!(req("unparsed", "ERROR"), 1.0);
    assert_eq!(
        sample(&page, "profilegate_action_request_duration_seconds_count"),
        5.0
    );
    assert_eq!(
        sample(&page, "profilegate_auth_failures_total{reason=\"missing\"}"),
        1.0
    );
    assert_eq!(
        sample(&page, "profilegate_auth_failures_total{reason=\"invalid\"}"),
        1.0
    );
    // Two accepted department changes were mailed (blocking mode): two sends, timed.
    assert_eq!(sample(&page, "profilegate_emails_sent_total"), 2.0);
    assert_eq!(
        sample(&page, "profilegate_smtp_send_duration_seconds_count"),
        2.0
    );
    assert_eq!(sample(&page, "profilegate_outbox_depth"), 0.0);
    assert!(sample(&page, "profilegate_audit_records") >= 5.0);
    assert!(sample(&page, "profilegate_data_size_bytes") > 0.0);
    // Every sample line is `name{labels} number` and every family has HELP and TYPE.
    for l in page.lines().filter(|l| !l.starts_with('#')) {
        let (name, v) = l.rsplit_once(' ').unwrap();
        assert!(name.starts_with("profilegate_"), "{l}");
        assert!(v.parse::<f64>().is_ok(), "{l}");
    }

    let r = reqwest::get(format!("{}/readyz", srv.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
    srv.stop().await;
}

/// The logs (at debug) of a server that answered one action call with the request id
/// `log-rid-77` and the department `Engineering`, in `format`; and the credential's secret.
fn logs_of_one_call(format: &str) -> (String, String) {
    let dir = DataDir::new();
    let cred = dir.standard();
    let (mut child, out, err) = spawn_serve(
        &dir.path,
        &["--log-format", format],
        &["--listen", "127.0.0.1:0"],
        &[("PROFILEGATE_LOG", "debug")],
    );
    assert!(out.contains("serving on"), "{out}{err}");
    let addr = banner_addr(&out);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://{addr}/actions/pre-update-profile");
        let ev = profile_event(Some("log-rid-77"), dept(json!("Engineering")));
        let r = post(&url, &Auth::of(&cred), ev.to_string()).await;
        assert_eq!(r.json["actionStatus"], "SUCCESS");
    });
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let Auth::Basic(_, secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    (logs, secret)
}

#[test]
fn json_logs_carry_the_request_id_and_no_claim_values() {
    let (logs, secret) = logs_of_one_call("json");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "log-rid-77"),
        "{logs}"
    );
    assert!(
        !logs.contains("Engineering"),
        "a claim value was logged: {logs}"
    );
    assert!(!logs.contains(&secret), "the secret was logged");
}

/// Text logs name the request where the span used to: after the level.
#[test]
fn text_logs_carry_the_request_id_and_no_claim_values() {
    let (logs, secret) = logs_of_one_call("text");
    assert!(
        logs.lines()
            .any(|l| l.contains(" DEBUG action{request_id=log-rid-77}: ")),
        "{logs}"
    );
    assert!(
        !logs.contains("Engineering"),
        "a claim value was logged: {logs}"
    );
    assert!(!logs.contains(&secret), "the secret was logged");
}
