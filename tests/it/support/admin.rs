//! A logged-in admin over HTTP, and the admin password the tests set.

use serde_json::{json, Value};

use super::*;

pub const PASSWORD: &str = "correct horse battery";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Logs in; returns the session cookie header value and the CSRF token.
pub async fn login(url: &str) -> (String, String) {
    let r = client()
        .post(format!("{url}/admin/api/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let v: Value = r.json().await.unwrap();
    (
        cookie.split(';').next().unwrap().to_string(),
        v["csrf_token"].as_str().unwrap().to_string(),
    )
}

pub fn set_password(dir: &DataDir) {
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A logged-in admin's requests.
pub struct Admin {
    url: String,
    pub cookie: String,
    pub csrf: String,
}

impl Admin {
    pub async fn new(url: &str) -> Admin {
        let (cookie, csrf) = login(url).await;
        Admin {
            url: url.to_string(),
            cookie,
            csrf,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = client()
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// GET returning the raw answer (for files).
    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// A POST with the session and CSRF token.
    /// POST with a raw text body (a file upload).
    pub async fn post_text(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = client()
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = client()
            .request(method, format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}
