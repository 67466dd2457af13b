//! The setup checklist: what a new installation still needs before it protects anything.
//! `serve` prints the open items at start-up; the admin UI's overview shows all of them.

use serde::Serialize;

use crate::model::EndpointAuth;
use crate::store::Store;

/// One item of the checklist.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Check {
    /// Stable name (the UI links it to a page).
    pub key: &'static str,
    /// What the item is about.
    pub title: &'static str,
    pub done: bool,
    /// For an open item: what is wrong and how to fix it from the shell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
}

fn check(key: &'static str, title: &'static str, todo: Option<String>) -> Check {
    Check {
        key,
        title,
        done: todo.is_none(),
        todo,
    }
}

/// The whole checklist for this store; `tls` says whether this server speaks HTTPS.
pub fn checklist(store: &Store, tls: bool) -> Vec<Check> {
    let settings = store.settings();
    let credential = match settings.endpoint_auth {
        EndpointAuth::None => Some(
            "WARNING: endpoint authentication is OFF (`profilegate endpoint auth none`): anyone who can reach the endpoint can call it. Turn it back on with `profilegate endpoint auth required`.".into(),
        ),
        EndpointAuth::Required if store.credentials().is_empty() => Some(
            "No endpoint credential yet: every call is refused with 401. Create one on the Endpoint page, or stop the server and run `profilegate credentials create --type basic`, then enter the values in the WSO2 console.".into(),
        ),
        EndpointAuth::Required => None,
    };
    let smtp = match (&settings.notify.smtp, &settings.notify.smtp_tested) {
        (None, _) => Some(
            "Security-team e-mail is not set up: sensitive changes are allowed and audited but nobody is told. Set it on the Notifications page or with `profilegate notify smtp ...`.".into(),
        ),
        (Some(_), None) => Some(
            "No test message has gone out with the current SMTP settings: send one from the Notifications page or with `profilegate send-test-email`.".into(),
        ),
        (Some(_), Some(_)) => None,
    };
    let recipients = settings.notify.recipients.is_empty().then(|| {
        "Nobody receives the security-team e-mail: add recipients on the Notifications page or with `profilegate notify recipients add ADDR`.".to_string()
    });
    let departments = store.directory().is_empty().then(|| {
        "The department directory is empty: every department change is rejected. Import it on the Departments page, or stop the server and run `profilegate departments import FILE`.".to_string()
    });
    let https = (!tls).then(|| {
        "Served over plain HTTP: the identity server sends the endpoint credential with every call, so put HTTPS in front of profilegate before it is reachable from the network.".to_string()
    });
    vec![
        check("credential", "Endpoint credential created", credential),
        check("smtp", "SMTP server set and tested", smtp),
        check("recipients", "Security-team recipients", recipients),
        check("departments", "Departments loaded", departments),
        check("tls", "HTTPS", https),
    ]
}
