//! The action endpoint's side of the admin: credentials (create with the secret shown once,
//! revoke, last used), the authentication switch, and the values to register profilegate in
//! WSO2 (from the pure `register`).

use std::sync::Arc;

use serde::Deserialize;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{
    AuthMode, CredentialInfo, CredentialList, EndpointInfo, NewCredentialInfo, Revoked,
};
use super::register::registration;
use super::{
    actor, api_error, api_path, api_path2, bad, ctx, get_with, ok, post_json, service_error,
    session, with_app, Session,
};
use crate::app::App;
use crate::conn::TOKEN_PATH;
use crate::model::credentials::JwtIssuer;
use crate::model::{CredentialKind, EndpointAuth};
use crate::service::credentials as creds;
use crate::service::ServiceError;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCredentialReq {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    header: Option<String>,
    /// jwt: the `iss` of the provider's tokens.
    #[serde(default)]
    issuer: Option<String>,
    /// jwt: a value the `aud` claim must hold.
    #[serde(default)]
    audience: Option<String>,
    /// jwt: a scope the token must carry.
    #[serde(default)]
    scope: Option<String>,
    /// jwt: `https://…` URL of the provider's key set.
    #[serde(default)]
    jwks_url: Option<String>,
    /// jwt: a CA (PEM) to trust for the key set besides the system's.
    #[serde(default)]
    tls_ca_pem: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthChange {
    auth: EndpointAuth,
    /// How long access tokens issued at /oauth2/token live, in seconds (1 to 86400).
    #[serde(default)]
    token_lifetime_secs: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RegistrationQuery {
    name: Option<String>,
    url: Option<String>,
    credential: Option<String>,
}

/// The default action name in the WSO2 console.
const DEFAULT_NAME: &str = "profilegate";

fn credentials(app: &App) -> Vec<CredentialInfo> {
    creds::list(&app.store)
        .iter()
        .map(CredentialInfo::from)
        .collect()
}

/// An action's endpoint URL (`path`) as this browser reached us: a starting point the admin
/// corrects when the identity server reaches profilegate under another name.
pub(super) fn default_url_for(app: &App, headers: &HeaderMap, path: &str) -> String {
    let host = headers
        .get(warp::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if app.tls { "https" } else { "http" };
    format!("{scheme}://{host}{path}")
}

/// The profile action's endpoint URL as this browser reached us.
fn default_url(app: &App, headers: &HeaderMap) -> String {
    default_url_for(app, headers, crate::conn::ACTION_PATH)
}

async fn create(
    s: Session,
    req: NewCredentialReq,
    app: Arc<App>,
    headers: HeaderMap,
) -> Result<Response, Rejection> {
    let jwt = matches!(req.kind.as_str(), "jwt" | "JWT").then(|| JwtIssuer {
        issuer: req.issuer.unwrap_or_default(),
        audience: req.audience.unwrap_or_default(),
        scope: req.scope.filter(|s| !s.is_empty()),
        jwks_url: req.jwks_url.unwrap_or_default(),
        tls_ca_pem: req.tls_ca_pem.filter(|s| !s.trim().is_empty()),
    });
    let spec = creds::spec(&req.kind, req.username, req.header, jwt).map_err(service_error)?;
    let who = actor(&s);
    let created = creds::create(ctx(&app, &who), spec)
        .await
        .map_err(|e| match e {
            // Too many active, or the header taken: shown next to the type chooser.
            ServiceError::Conflict(m) => api_error(StatusCode::CONFLICT, m, Some("type")),
            e => service_error(e),
        })?;
    let mut info = NewCredentialInfo::from(&created);
    if matches!(created.record.kind, CredentialKind::ClientCredential { .. }) {
        info.token_endpoint = Some(default_url_for(&app, &headers, TOKEN_PATH));
    }
    ok(info)
}

async fn revoke(id: String, s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let who = actor(&s);
    creds::revoke(ctx(&app, &who), &id)
        .await
        .map_err(service_error)?;
    ok(Revoked { revoked: id })
}

async fn set_auth(s: Session, req: AuthChange, app: Arc<App>) -> Result<Response, Rejection> {
    let who = actor(&s);
    if let Some(secs) = req.token_lifetime_secs {
        creds::set_token_lifetime(ctx(&app, &who), secs)
            .await
            .map_err(service_error)?;
    }
    creds::set_auth(ctx(&app, &who), req.auth)
        .await
        .map_err(service_error)?;
    ok(AuthMode { auth: req.auth })
}

async fn overview(_s: Session, app: Arc<App>, headers: HeaderMap) -> Result<Response, Rejection> {
    let settings = app.store.settings();
    ok(EndpointInfo {
        auth: settings.endpoint_auth,
        token_lifetime_secs: settings.oauth_token_lifetime_secs,
        token_url: default_url_for(&app, &headers, TOKEN_PATH),
        action_path: crate::conn::ACTION_PATH,
        default_url: default_url(&app, &headers),
        default_name: DEFAULT_NAME,
        credentials: credentials(&app),
    })
}

/// The credential to register: the one asked for, or the newest.
pub(super) fn chosen_credential<'c>(
    creds: &'c [crate::model::CredentialRecord],
    id: Option<&str>,
) -> Result<Option<&'c crate::model::CredentialRecord>, Rejection> {
    match id.filter(|c| !c.is_empty()) {
        Some(id) => creds
            .iter()
            .find(|c| c.id == id)
            .map(Some)
            .ok_or_else(|| bad("credential", format!("no active credential {id:?}"))),
        None => Ok(creds.last()),
    }
}

async fn register(
    _s: Session,
    app: Arc<App>,
    headers: HeaderMap,
    q: RegistrationQuery,
) -> Result<Response, Rejection> {
    let creds = app.store.credentials();
    let credential = chosen_credential(&creds, q.credential.as_deref())?;
    let settings = app.store.settings();
    let url = q.url.unwrap_or_else(|| default_url(&app, &headers));
    let r = registration(
        q.name.as_deref().unwrap_or(DEFAULT_NAME),
        &url,
        settings.endpoint_auth,
        credential,
        &settings.notify.sensitive,
    )
    .map_err(|e| bad(e.field, e.message))?;
    ok(r)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let list =
        api_path("credentials")
            .and(get_with(app.clone()))
            .map(|_s: Session, app: Arc<App>| {
                super::json(
                    StatusCode::OK,
                    &CredentialList {
                        credentials: credentials(&app),
                    },
                )
            });
    let create = api_path("credentials")
        .and(post_json::<NewCredentialReq>(app.clone()))
        .and(warp::header::headers_cloned())
        .and_then(create);
    let revoke = warp::path("admin")
        .and(warp::path("api"))
        .and(warp::path("credentials"))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::delete())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .and_then(revoke);
    let overview = api_path("endpoint")
        .and(get_with(app.clone()))
        .and(warp::header::headers_cloned())
        .and_then(overview);
    let auth = api_path2("endpoint", "auth")
        .and(post_json::<AuthChange>(app.clone()))
        .and_then(set_auth);
    let register = api_path2("endpoint", "registration")
        .and(get_with(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<RegistrationQuery>())
        .and_then(register);
    list.or(create)
        .unify()
        .or(revoke)
        .unify()
        .or(overview)
        .unify()
        .or(auth)
        .unify()
        .or(register)
        .unify()
        .boxed()
}
