//! The overview's decisions over time and the organizations seen, over real HTTP: action
//! calls (SUCCESS, FAILED, refused) show in the series, and both survive a restart.

use serde_json::{json, Value};

use crate::support::admin::{set_password, Admin};
use crate::support::*;

/// A profile event from an organization.
fn org_event(id: &str, value: &str) -> String {
    let mut ev = profile_event(Some(id), dept(json!(value)));
    ev["event"]["organization"] = json!({"id": "org-7f3a", "name": "Example Europe"});
    ev.to_string()
}

/// Sums one count over a series' buckets (a test that runs across an hour or a day boundary
/// still sees every call).
fn total(series: &Value, view: &str, part: &str) -> u64 {
    series[view]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["counts"][part].as_u64().unwrap())
        .sum()
}

async fn check(a: &Admin) {
    let (st, o) = a.get("/admin/api/overview").await;
    assert_eq!(st, 200, "{o}");
    let s = &o["series"];
    assert_eq!(s["hours"].as_array().unwrap().len(), 24);
    assert_eq!(s["days"].as_array().unwrap().len(), 30);
    for view in ["hours", "days"] {
        assert_eq!(total(s, view, "success"), 2, "{view}: {s}");
        assert_eq!(total(s, view, "failed"), 1, "{view}");
        assert_eq!(total(s, view, "error"), 0, "{view}");
        assert_eq!(total(s, view, "refused"), 2, "{view}");
    }
    let (st, v) = a.get("/admin/api/organizations").await;
    assert_eq!(st, 200);
    let orgs = v["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1, "{v}");
    assert_eq!(orgs[0]["id"], "org-7f3a");
    assert_eq!(orgs[0]["name"], "Example Europe");
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_over_time_and_organizations_survive_a_restart() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = srv.action_url();
    for (id, value, want) in [
        ("ov-1", "HR", "SUCCESS"),
        ("ov-2", "Engineering", "SUCCESS"),
        ("ov-3", "Nowhere", "FAILED"),
    ] {
        let r = post(&url, &auth, org_event(id, value)).await;
        assert_eq!(r.json["actionStatus"], want, "{id}");
    }
    // A retry is the same decision, not another one.
    let r = post(&url, &auth, org_event("ov-1", "HR")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    // A stranger: refused before a decision, its organization never noted.
    let mut stranger = profile_event(Some("ov-4"), dept(json!("HR")));
    stranger["event"]["organization"] = json!({"id": "org-stranger", "name": "Nope"});
    let r = post(&url, &Auth::None, stranger.to_string()).await;
    assert_eq!(r.status, 401);
    let r = post(&url, &Auth::Bearer("wrong".into()), stranger.to_string()).await;
    assert_eq!(r.status, 401);

    let a = Admin::new(&srv.url).await;
    check(&a).await;
    srv.stop().await;

    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    check(&a).await;
    srv.stop().await;
}
