//! The embedded admin UI: the files under `static/`, compiled into the binary with rust-embed
//! (no build step, no CDN: the network may be closed), served under `/admin/` with headers
//! that keep the pages to their own scripts and out of frames.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api_error;

/// The files under `static/`, embedded in release builds (debug builds read the folder).
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Assets;

/// Only our own scripts and styles; no inline code, no frames, no foreign connections.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn asset(path: &str) -> Result<Response, Rejection> {
    let file = Assets::get(path)
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, format!("no file {path:?}"), None))?;
    let mime = file.metadata.mimetype().to_string();
    Ok(page(file.data.into_owned().into(), &mime))
}

/// A file of the UI (or the API's description) with its type and the UI's headers.
fn page(body: bytes::Bytes, mime: &str) -> Response {
    let mut r = warp::http::Response::new(body).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The UI's routes; `openapi` is the API's description (generated once, served as is).
pub(super) fn routes(openapi: bytes::Bytes) -> warp::filters::BoxedFilter<(Response,)> {
    let bare = warp::path("admin")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/admin/"));
            r
        });
    let index = warp::path("admin")
        .and(warp::path::end())
        .and(warp::path::full())
        .and(warp::get())
        .and_then(|p: warp::path::FullPath| async move {
            if p.as_str().ends_with('/') {
                asset("index.html")
            } else {
                Err(warp::reject::not_found())
            }
        });
    let openapi = warp::path("admin")
        .and(warp::path("api"))
        .and(warp::path("openapi.json"))
        .and(warp::path::end())
        .and(warp::get())
        .map(move || page(openapi.clone(), "application/json"));
    let file = warp::path("admin")
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::get())
        .and_then(|name: String| async move {
            // Only the UI's own top-level files; the API has its own routes.
            if name == "api" || name.starts_with('.') {
                return Err(warp::reject::not_found());
            }
            asset(&name)
        });
    index
        .or(bare)
        .unify()
        .or(openapi)
        .unify()
        .or(file)
        .unify()
        .boxed()
}
