//! Endpoint authentication over HTTP, for every credential type.

use serde_json::json;

use crate::support::*;
use profilegate::model::EndpointAuth;
use profilegate::service::credentials::{create_now, NewCredential};

fn body() -> String {
    profile_event(None, dept(json!("HR"))).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_bearer_and_api_key() {
    let dir = DataDir::new();
    let basic = dir.standard();
    let bearer = dir.with_store(|s| {
        // Two at once is the limit: revoke basic after the first round.
        let b = create_now(s, "test", &NewCredential::Bearer).unwrap();
        let third = create_now(
            s,
            "test",
            &NewCredential::ApiKey {
                header: "x-api-key".into(),
            },
        );
        assert!(third.unwrap_err().to_string().contains("revoke one first"));
        b
    });
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let ok = |r: &Reply| r.status == 200 && r.json["actionStatus"] == "SUCCESS";

    assert!(ok(&post(&url, &Auth::of(&basic), body()).await));
    assert!(ok(&post(&url, &Auth::of(&bearer), body()).await));
    // Repeat calls hit the verified cache and still pass.
    for _ in 0..3 {
        assert!(ok(&post(&url, &Auth::of(&bearer), body()).await));
    }

    let Auth::Basic(user, pass) = Auth::of(&basic) else {
        unreachable!()
    };
    for wrong in [
        Auth::None,
        Auth::Basic(user.clone(), format!("{pass}x")),
        Auth::Basic("someone".into(), pass.clone()),
        Auth::Bearer("pg_000000000000_nope".into()),
        Auth::Bearer(pass.clone()), // a basic password is not a bearer token
    ] {
        let r = post(&url, &wrong, body()).await;
        assert_eq!(r.status, 401, "{wrong:?}");
        assert_eq!(r.json["actionStatus"], "ERROR");
    }
    srv.stop().await;

    // API key: header name matched case-insensitively, value exactly.
    dir.with_store(|s| {
        s.revoke_credential("test", &basic.record.id).unwrap();
    });
    let key = dir.with_store(|s| {
        create_now(
            s,
            "test",
            &NewCredential::ApiKey {
                header: "X-Profilegate-Key".into(),
            },
        )
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let Auth::Header(h, v) = Auth::of(&key) else {
        unreachable!()
    };
    assert_eq!(h, "x-profilegate-key");
    assert!(ok(&post(
        &url,
        &Auth::Header("X-PROFILEGATE-KEY".into(), v.clone()),
        body()
    )
    .await));
    let r = post(&url, &Auth::Header(h.clone(), v.to_uppercase()), body()).await;
    assert_eq!(r.status, 401);
    // The revoked basic credential no longer works.
    assert_eq!(post(&url, &Auth::of(&basic), body()).await.status, 401);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credential_and_auth_none() {
    let dir = DataDir::new();
    dir.with_store(|s| s.add_departments("test", None, &["HR"]).unwrap());
    let srv = Server::start(&dir.path).await;
    let r = post(&srv.action_url(), &Auth::None, body()).await;
    assert_eq!(r.status, 401);
    assert!(r.json["errorDescription"]
        .as_str()
        .unwrap()
        .contains("no endpoint credential"));
    srv.stop().await;

    dir.with_store(|s| {
        s.update_settings("test", "endpoint.auth", |st| {
            st.endpoint_auth = EndpointAuth::None
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let r = post(&srv.action_url(), &Auth::None, body()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_throttled_but_a_verified_caller_is_not() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let good = Auth::of(&cred);
    let Auth::Basic(user, pass) = good.clone() else {
        unreachable!()
    };
    // The real caller is verified once.
    assert_eq!(post(&url, &good, body()).await.status, 200);
    for _ in 0..10 {
        let r = post(&url, &Auth::Basic(user.clone(), format!("{pass}0")), body()).await;
        assert_eq!(r.status, 401);
    }
    // Now even a correct-looking new secret is refused unchecked...
    let r = post(&url, &Auth::Basic(user.clone(), format!("{pass}1")), body()).await;
    assert!(
        r.json["errorDescription"]
            .as_str()
            .unwrap()
            .contains("too many failed attempts"),
        "{}",
        r.json
    );
    // ...while the already-verified caller from the same address goes on working.
    assert_eq!(
        post(&url, &good, body()).await.json["actionStatus"],
        "SUCCESS"
    );
    srv.stop().await;
}
