//! The admin API under `/admin/api/`: password login, sessions in an HttpOnly SameSite=Strict
//! cookie, and a CSRF defence on every mutating call (Sec-Fetch-Site / Origin checks plus a
//! per-session token header). The embedded UI that uses it comes next (issue 4).

pub mod session;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use warp::http::{header, HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::action::App;
use crate::http::PeerAddr;
use crate::store::departments::{normalize_all, validate_org};
use crate::store::StoreError;
pub use session::{Session, Sessions, COOKIE};

/// Largest admin request body.
const MAX_ADMIN_BODY: u64 = 1024 * 1024;
/// Shortest admin password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// An admin API error: status, message, and the field it concerns (shown next to it).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}
impl warp::reject::Reject for ApiError {}

fn api_error(
    status: StatusCode,
    message: impl Into<String>,
    field: Option<&'static str>,
) -> Rejection {
    warp::reject::custom(ApiError {
        status,
        message: message.into(),
        field,
    })
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    let mut r = warp::reply::json(v).into_response();
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    r
}

/// Checks a new admin password; the reason is shown next to the field.
pub fn validate_password(p: &str) -> Result<(), String> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if p.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn store_error(e: StoreError) -> Rejection {
    match e {
        StoreError::Invalid(m) => api_error(StatusCode::BAD_REQUEST, m, None),
        StoreError::NotFound(m) => api_error(StatusCode::NOT_FOUND, m, None),
        other => {
            tracing::error!(error = %other, "admin API storage error");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "storage error", None)
        }
    }
}

fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Refuses requests a browser marks as coming from another site, and requests whose Origin is
/// not this host. (Browsers send Sec-Fetch-Site and Origin; scripts without them still need
/// the session cookie and the CSRF token.)
fn same_origin(headers: &HeaderMap) -> Result<(), Rejection> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "cross-site request refused",
                None,
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "request from another origin refused",
                None,
            ));
        }
    }
    Ok(())
}

/// The session of a request; mutating methods also need the CSRF token header.
fn session(app: Arc<App>) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    with_app(app)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and_then(
            |app: Arc<App>, method: warp::http::Method, headers: HeaderMap| async move {
                let id = cookie_value(&headers)
                    .ok_or_else(|| api_error(StatusCode::UNAUTHORIZED, "log in first", None))?;
                let s = app.sessions.get(&id).ok_or_else(|| {
                    api_error(
                        StatusCode::UNAUTHORIZED,
                        "the session expired; log in again",
                        None,
                    )
                })?;
                if !matches!(method, warp::http::Method::GET | warp::http::Method::HEAD) {
                    same_origin(&headers)?;
                    let token = headers
                        .get("x-csrf-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !bool::from(token.as_bytes().ct_eq(s.csrf.as_bytes())) {
                        return Err(api_error(
                            StatusCode::FORBIDDEN,
                            "missing or wrong CSRF token",
                            None,
                        ));
                    }
                }
                Ok::<_, Rejection>(s)
            },
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentsChange {
    names: Vec<String>,
    #[serde(default)]
    org: Option<String>,
}

#[derive(Deserialize)]
struct OrgQuery {
    org: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    /// CSV text: one name a line, header optional.
    csv: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    replace: bool,
    /// `false`: only say what would change (the preview); `true`: apply it.
    #[serde(default)]
    apply: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredentialReq {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    header: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// The files under `static/`, embedded in release builds (debug builds read the folder).
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Assets;

#[derive(Deserialize)]
struct AuditQuery {
    /// Records older than this sequence number (paging backwards).
    before: Option<u64>,
    limit: Option<usize>,
}

fn body<T: serde::de::DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_ADMIN_BODY)
        .and(warp::body::bytes())
        .and_then(|b: bytes::Bytes| async move {
            serde_json::from_slice::<T>(&b).map_err(|e| {
                api_error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid request body: {e}"),
                    None,
                )
            })
        })
}

async fn login(
    app: Arc<App>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    req: Login,
) -> Result<Response, Rejection> {
    same_origin(&headers)?;
    let ip: Option<IpAddr> = peer.map(|p| p.0.ip());
    if ip.is_some_and(|ip| app.sessions.login_throttled(ip)) {
        return Err(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute",
            Some("password"),
        ));
    }
    let Some(hash) = app.store.admin_password_hash().map_err(store_error)? else {
        return Err(api_error(
            StatusCode::CONFLICT,
            "no admin password is set yet: run `profilegate admin set-password --password-stdin`",
            Some("password"),
        ));
    };
    let ok = tokio::task::spawn_blocking(move || crate::auth::secret::verify(&req.password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        if let Some(ip) = ip {
            app.sessions.note_login_failure(ip);
        }
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "wrong password",
            Some("password"),
        ));
    }
    let (id, s) = app
        .sessions
        .create()
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
    let mut r = json(StatusCode::OK, &serde_json::json!({ "csrf_token": s.csrf }));
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/admin");
    if let Ok(v) = warp::http::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// A POST with a session (and CSRF check) and a JSON body, handing on the app too.
fn post_json<T: serde::de::DeserializeOwned + Send>(
    app: Arc<App>,
) -> impl Filter<Extract = (Session, T, Arc<App>), Error = Rejection> + Clone {
    warp::post()
        .and(session(app.clone()))
        .and(body::<T>())
        .and(with_app(app))
}

/// An organization id from a form, its error shown next to the `org` field.
fn org_field(org: Option<&str>) -> Result<Option<&str>, Rejection> {
    validate_org(org).map_err(|e| api_error(StatusCode::BAD_REQUEST, e.to_string(), Some("org")))
}

/// Waits until an admin change (and its audit record) is on disk.
async fn durable(app: &App) -> Result<(), Rejection> {
    app.commit.durable().await.map_err(store_error)
}

/// Who made a change, for the audit chain.
fn actor(s: &Session) -> String {
    format!("admin session {}", s.short_id())
}

/// The admin API routes.
pub fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let api = warp::path("admin").and(warp::path("api"));
    let login = api
        .and(warp::path("login"))
        .and(warp::path::end())
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body::<Login>())
        .and_then(login);
    let logout = api
        .and(warp::path("logout"))
        .and(warp::path::end())
        .and(warp::post())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .map(|s: Session, app: Arc<App>| {
            app.sessions.remove(&s.id);
            let mut r = json(StatusCode::OK, &serde_json::json!({ "ok": true }));
            let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0");
            if let Ok(v) = warp::http::HeaderValue::from_str(&clear) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        });
    let who = api
        .and(warp::path("session"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .map(|s: Session| json(StatusCode::OK, &serde_json::json!({ "csrf_token": s.csrf })));
    let list = api
        .and(warp::path("departments"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .and(warp::query::<OrgQuery>())
        .and(with_app(app.clone()))
        .and_then(|_s: Session, q: OrgQuery, app: Arc<App>| async move {
            let org = validate_org(q.org.as_deref()).map_err(store_error)?;
            let names = app.store.list_departments(org).map_err(store_error)?;
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &serde_json::json!({ "org": org, "names": names }),
            ))
        });
    let add = api
        .and(warp::path("departments"))
        .and(warp::path::end())
        .and(post_json::<DepartmentsChange>(app.clone()))
        .and_then(
            |s: Session, req: DepartmentsChange, app: Arc<App>| async move {
                let org = org_field(req.org.as_deref())?;
                let names = normalize_all(req.names.iter().map(String::as_str)).map_err(|e| {
                    api_error(StatusCode::BAD_REQUEST, e.to_string(), Some("names"))
                })?;
                let plan = app
                    .store
                    .plan_import(org, &names, false)
                    .map_err(store_error)?;
                app.store
                    .apply_departments(&actor(&s), "departments.add", org, &plan)
                    .map_err(store_error)?;
                durable(&app).await?;
                Ok::<_, Rejection>(json(
                    StatusCode::OK,
                    &serde_json::json!({ "added": plan.added }),
                ))
            },
        );
    let remove = api
        .and(warp::path("departments"))
        .and(warp::path("remove"))
        .and(warp::path::end())
        .and(post_json::<DepartmentsChange>(app.clone()))
        .and_then(
            |s: Session, req: DepartmentsChange, app: Arc<App>| async move {
                let org = org_field(req.org.as_deref())?;
                let names: Vec<&str> = req.names.iter().map(String::as_str).collect();
                let n = app
                    .store
                    .remove_departments(&actor(&s), org, &names)
                    .map_err(|e| match e {
                        StoreError::NotFound(m) | StoreError::Invalid(m) => {
                            api_error(StatusCode::BAD_REQUEST, m, Some("names"))
                        }
                        other => store_error(other),
                    })?;
                durable(&app).await?;
                Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::json!({ "removed": n })))
            },
        );
    let import = api
        .and(warp::path("departments"))
        .and(warp::path("import"))
        .and(warp::path::end())
        .and(post_json::<Import>(app.clone()))
        .and_then(|s: Session, req: Import, app: Arc<App>| async move {
            let org = org_field(req.org.as_deref())?;
            let names = crate::store::departments::parse_department_csv(&req.csv)
                .map_err(|e| api_error(StatusCode::BAD_REQUEST, e.to_string(), Some("csv")))?;
            let plan = app
                .store
                .plan_import(org, &names, req.replace)
                .map_err(store_error)?;
            if req.apply {
                app.store
                    .apply_departments(&actor(&s), "departments.import", org, &plan)
                    .map_err(store_error)?;
                durable(&app).await?;
            }
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &serde_json::json!({ "applied": req.apply, "plan": plan }),
            ))
        });
    let creds = api
        .and(warp::path("credentials"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .map(|_s: Session, app: Arc<App>| {
            let list: Vec<serde_json::Value> = app
                .store
                .credentials()
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "kind": c.kind, "created": c.created, "last_used": c.last_used,
                    })
                })
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "credentials": list }))
        });
    let create = api
        .and(warp::path("credentials"))
        .and(warp::path::end())
        .and(post_json::<NewCredentialReq>(app.clone()))
        .and_then(
            |s: Session, req: NewCredentialReq, app: Arc<App>| async move {
                use crate::auth::{create_credential, CredentialError, NewCredential};
                let spec = match req.kind.as_str() {
                    "basic" | "BASIC" => NewCredential::Basic {
                        username: req.username.unwrap_or_else(|| "profilegate".into()),
                    },
                    "bearer" | "BEARER" => NewCredential::Bearer,
                    "api-key" | "API_KEY" => NewCredential::ApiKey {
                        header: req.header.unwrap_or_else(|| "x-api-key".into()),
                    },
                    other => {
                        return Err(api_error(
                            StatusCode::BAD_REQUEST,
                            format!("unknown type {other:?}: basic, bearer or api-key"),
                            Some("type"),
                        ))
                    }
                };
                let field = match spec {
                    NewCredential::Basic { .. } => "username",
                    NewCredential::ApiKey { .. } => "header",
                    NewCredential::Bearer => "type",
                };
                let store = app.store.clone();
                let who = actor(&s);
                // argon2 hashing is slow: keep it off the runtime threads.
                let created =
                    tokio::task::spawn_blocking(move || create_credential(&store, &who, &spec))
                        .await
                        .map_err(|e| {
                            api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
                        })?
                        .map_err(|e| match e {
                            CredentialError::Invalid(m) => {
                                api_error(StatusCode::BAD_REQUEST, m, Some(field))
                            }
                            CredentialError::Store(StoreError::Invalid(m)) => {
                                api_error(StatusCode::CONFLICT, m, Some("type"))
                            }
                            other => api_error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                other.to_string(),
                                None,
                            ),
                        })?;
                durable(&app).await?;
                let mut props = created.wso2_properties();
                props.insert("id".into(), created.record.id.clone().into());
                props.insert("type".into(), created.record.kind.wso2_name().into());
                Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::Value::Object(props)))
            },
        );
    let revoke = api
        .and(warp::path("credentials"))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::delete())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .and_then(|id: String, s: Session, app: Arc<App>| async move {
            app.store
                .revoke_credential(&actor(&s), &id)
                .map_err(store_error)?;
            durable(&app).await?;
            Ok::<_, Rejection>(json(StatusCode::OK, &serde_json::json!({ "revoked": id })))
        });
    let openapi = api
        .and(warp::path("openapi.json"))
        .and(warp::path::end())
        .and(warp::get())
        .and_then(|| async {
            let file = Assets::get("openapi.json").ok_or_else(|| {
                api_error(StatusCode::NOT_FOUND, "openapi.json is not embedded", None)
            })?;
            let mut r = warp::http::Response::new(file.data.into_owned()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("application/json"),
            );
            Ok::<_, Rejection>(r)
        });
    let password = api
        .and(warp::path("password"))
        .and(warp::path::end())
        .and(post_json::<PasswordChange>(app.clone()))
        .and_then(
            |s: Session, req: PasswordChange, app: Arc<App>| async move {
                validate_password(&req.new).map_err(|e| {
                    api_error(
                        StatusCode::BAD_REQUEST,
                        format!("the new password {e}"),
                        Some("new"),
                    )
                })?;
                let hash = app
                    .store
                    .admin_password_hash()
                    .map_err(store_error)?
                    .ok_or_else(|| {
                        api_error(StatusCode::CONFLICT, "no admin password is set", None)
                    })?;
                let new = req.new.clone();
                let (ok, new_hash) = tokio::task::spawn_blocking(move || {
                    let ok = crate::auth::secret::verify(&req.current, &hash);
                    (ok, ok.then(|| crate::auth::secret::hash(&new)))
                })
                .await
                .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
                if !ok {
                    return Err(api_error(
                        StatusCode::BAD_REQUEST,
                        "the current password is wrong",
                        Some("current"),
                    ));
                }
                let new_hash = new_hash
                    .unwrap_or_else(|| Err(crate::auth::SecretError::Hash("not hashed".into())))
                    .map_err(|e| {
                        api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
                    })?;
                app.store
                    .set_admin_password_hash(&actor(&s), &new_hash)
                    .map_err(store_error)?;
                durable(&app).await?;
                // Everyone else logs in again with the new password.
                app.sessions.retain_only(&s.id);
                Ok::<_, Rejection>(json(
                    StatusCode::OK,
                    &serde_json::json!({ "changed": true }),
                ))
            },
        );
    let audit = api
        .and(warp::path("audit"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .and(warp::query::<AuditQuery>())
        .and(with_app(app))
        .and_then(|_s: Session, q: AuditQuery, app: Arc<App>| async move {
            let limit = q.limit.unwrap_or(50).clamp(1, 500);
            let before = q.before.unwrap_or(u64::MAX);
            let mut records = Vec::with_capacity(limit);
            for rec in app.store.audit_iter_rev() {
                let rec = rec.map_err(store_error)?;
                if rec.seq >= before {
                    continue;
                }
                records.push(rec);
                if records.len() == limit {
                    break;
                }
            }
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &serde_json::json!({ "records": records }),
            ))
        });
    login
        .or(logout)
        .unify()
        .or(who)
        .unify()
        .or(list)
        .unify()
        .or(add)
        .unify()
        .or(remove)
        .unify()
        .or(import)
        .unify()
        .or(creds)
        .unify()
        .or(create)
        .unify()
        .or(revoke)
        .unify()
        .or(audit)
        .unify()
        .or(openapi)
        .unify()
        .or(password)
        .unify()
        .boxed()
}

/// Turns admin API rejections into JSON `{error, field}`; `None` for rejections it does not own.
pub fn recover(r: &Rejection) -> Option<Response> {
    let e = r.find::<ApiError>()?;
    Some(json(
        e.status,
        &serde_json::json!({ "error": e.message, "field": e.field }),
    ))
}
