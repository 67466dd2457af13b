//! OAuth 2.0 client-credential endpoint authentication, as the identity server uses it:
//! profilegate as the token endpoint, and another identity provider's JWTs checked against
//! its key set (served over TLS by the test, with rotating keys).

use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::admin::{set_password, Admin};
use crate::support::source::{ok, Source};
use crate::support::*;
use profilegate::model::credentials::JwtIssuer;
use profilegate::model::CredentialKind;
use profilegate::service::credentials::{create_now, NewCredential};

fn event() -> String {
    profile_event(None, dept(json!("HR"))).to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the token endpoint answered.
struct TokenReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

/// A token request as the identity server sends it: a form, the client in HTTP Basic.
async fn fetch_token(url: &str, id: &str, secret: &str) -> TokenReply {
    token_request(
        url,
        Some((id, secret)),
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&scope=internal_profilegate".into(),
    )
    .await
}

async fn token_request(
    url: &str,
    basic: Option<(&str, &str)>,
    content_type: &str,
    body: String,
) -> TokenReply {
    let mut rb = reqwest::Client::new()
        .post(format!("{url}/oauth2/token"))
        .header("content-type", content_type)
        .header("accept", "application/json");
    if let Some((id, secret)) = basic {
        rb = rb.basic_auth(id, Some(secret));
    }
    let r = rb.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let json = r.json().await.unwrap_or(Value::Null);
    TokenReply {
        status,
        headers,
        json,
    }
}

fn client_of(c: &profilegate::service::credentials::Created) -> (String, String) {
    let CredentialKind::ClientCredential { client_id } = &c.record.kind else {
        panic!("not a client credential: {:?}", c.record.kind)
    };
    (client_id.clone(), c.secret.clone())
}

fn access_token(r: &TokenReply) -> String {
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.json.get("refresh_token").is_none(), "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    r.json["access_token"].as_str().unwrap().to_string()
}

/// A 401 whose description says the token expired.
fn assert_refused_as_expired(r: &Reply) {
    assert_eq!(r.status, 401);
    assert!(
        r.json["errorDescription"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        r.json
    );
}

fn success(r: &Reply) -> bool {
    r.status == 200 && r.json["actionStatus"] == "SUCCESS"
}

/// The identity server's whole flow against profilegate's token endpoint: fetch a token,
/// call with it (also after a restart), let it expire, get 401, fetch again, succeed.
#[tokio::test(flavor = "multi_thread")]
async fn the_identity_servers_flow_with_profilegate_as_token_endpoint() {
    let dir = DataDir::new();
    let created = dir.with_store(|s| {
        s.add_departments("test", None, &["HR"]).unwrap();
        create_now(s, "test", &NewCredential::ClientCredential).unwrap()
    });
    let (id, secret) = client_of(&created);
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();

    let first = fetch_token(&srv.url, &id, &secret).await;
    assert_eq!(first.json["expires_in"], 3600, "the default lifetime");
    let token = access_token(&first);
    assert!(success(
        &post(&url, &Auth::Bearer(token.clone()), event()).await
    ));
    // The client secret itself is not an access token.
    assert_eq!(
        post(&url, &Auth::Bearer(secret.clone()), event())
            .await
            .status,
        401
    );
    // Nor is a token with one character changed.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let r = post(&url, &Auth::Bearer(forged), event()).await;
    assert_eq!(r.status, 401);
    srv.stop().await;

    // Tokens survive a restart.
    let srv = Server::start(&dir.path).await;
    assert!(success(
        &post(&srv.action_url(), &Auth::Bearer(token.clone()), event()).await
    ));
    srv.stop().await;

    // A short lifetime: the token expires, the call gets 401, a new token works.
    dir.with_store(|s| {
        s.update_settings("test", "endpoint.token_lifetime", |st| {
            st.oauth_token_lifetime_secs = 1
        })
        .unwrap();
    });
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let r = fetch_token(&srv.url, &id, &secret).await;
    assert_eq!(r.json["expires_in"], 1);
    let short = access_token(&r);
    assert!(success(
        &post(&url, &Auth::Bearer(short.clone()), event()).await
    ));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = post(&url, &Auth::Bearer(short), event()).await;
    assert_refused_as_expired(&r);
    assert_eq!(r.json["actionStatus"], "ERROR");
    let again = access_token(&fetch_token(&srv.url, &id, &secret).await);
    assert!(success(&post(&url, &Auth::Bearer(again), event()).await));
    srv.stop().await;
}

/// RFC 6749's answers: the older JSON body and the client in the body are taken; errors are
/// `invalid_client` (401, with WWW-Authenticate), `unsupported_grant_type` and
/// `invalid_request`; and failed secrets are throttled like the action endpoint's.
#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_answers_as_rfc_6749_says() {
    let dir = DataDir::new();
    let created =
        dir.with_store(|s| create_now(s, "test", &NewCredential::ClientCredential).unwrap());
    let (id, secret) = client_of(&created);
    let srv = Server::start(&dir.path).await;
    let form = "application/x-www-form-urlencoded";

    let json_body =
        json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret});
    access_token(&token_request(&srv.url, None, "application/json", json_body.to_string()).await);
    let in_form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    access_token(&token_request(&srv.url, None, form, in_form.clone()).await);

    let r = token_request(
        &srv.url,
        Some((&id, &secret)),
        form,
        "grant_type=password&username=a&password=b".into(),
    )
    .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let r = token_request(&srv.url, Some((&id, &secret)), form, "scope=x".into()).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = token_request(&srv.url, Some((&id, &secret)), form, in_form).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("invalid_request")),
        "two client authentications"
    );
    let r = token_request(
        &srv.url,
        Some((&id, &secret)),
        "text/plain",
        "grant_type=client_credentials".into(),
    )
    .await;
    assert_eq!(r.status, 400);
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(9000));
    let r = token_request(&srv.url, Some((&id, &secret)), form, big).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("invalid_request"))
    );
    for (cid, sec) in [
        ("profilegate-000000000000", secret.as_str()),
        (id.as_str(), "wrong"),
        ("", ""),
    ] {
        let r = token_request(
            &srv.url,
            Some((cid, sec)),
            form,
            "grant_type=client_credentials".into(),
        )
        .await;
        assert_eq!(
            (r.status, r.json["error"].as_str()),
            (401, Some("invalid_client")),
            "{cid}"
        );
        assert!(r.headers.contains_key("www-authenticate"));
        assert!(!r.json.to_string().contains(&secret));
    }
    let r = token_request(&srv.url, None, form, "grant_type=client_credentials".into()).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // Ten wrong secrets that cost argon2 (they name this credential), then the address waits:
    // another guess is refused without argon2. The secret verified before still gets its
    // token (a shared address cannot lock the identity server out).
    for i in 0..10 {
        // Appended, so never the secret itself.
        let wrong = format!("{secret}{i}");
        let r = fetch_token(&srv.url, &id, &wrong).await;
        assert_eq!(r.status, 401);
    }
    let guess = format!("{secret}z");
    let r = fetch_token(&srv.url, &id, &guess).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (429, Some("temporarily_unavailable")),
        "{}",
        r.json
    );
    assert!(r.headers.contains_key("retry-after"));
    access_token(&fetch_token(&srv.url, &id, &secret).await);
    srv.stop().await;
}

/// The admin creates a client credential (client id, secret and token endpoint shown once),
/// the registration panel gives the console values, the lifetime is a setting, and revoking
/// the client revokes its tokens. The CLI prints the same values.
#[tokio::test(flavor = "multi_thread")]
async fn admin_and_cli_set_it_up_and_revoking_the_client_revokes_its_tokens() {
    let dir = DataDir::new();
    dir.with_store(|s| s.add_departments("test", None, &["HR"]).unwrap());
    set_password(&dir);
    let o = cli(
        &dir.path,
        &[
            "credentials",
            "create",
            "--type",
            "client-credential",
            "--json",
            "--url",
            "https://pg.example:8443/",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["type"], "CLIENT_CREDENTIAL");
    assert_eq!(v["tokenEndpoint"], "https://pg.example:8443/oauth2/token");
    assert!(v["clientId"].as_str().unwrap().starts_with("profilegate-"));
    assert!(v["clientSecret"].as_str().unwrap().starts_with("pg_"));
    let cli_id = v["id"].as_str().unwrap().to_string();
    let list = stdout(&cli(&dir.path, &["credentials", "list"]));
    assert!(
        list.contains(&cli_id) && list.contains("CLIENT_CREDENTIAL"),
        "{list}"
    );
    assert!(!list.contains(v["clientSecret"].as_str().unwrap()));
    let o = cli(&dir.path, &["credentials", "revoke", &cli_id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["endpoint", "token-lifetime", "0"]);
    assert!(!o.status.success());
    let o = cli(
        &dir.path,
        &["credentials", "create", "--type", "jwt", "--issuer", "i"],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("audience"),
        "{}",
        stderr(&o)
    );

    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let (st, c) = a
        .post(
            "/admin/api/credentials",
            json!({"type": "client-credential"}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["type"], "CLIENT_CREDENTIAL");
    let endpoint = c["tokenEndpoint"].as_str().unwrap();
    assert_eq!(endpoint, format!("{}/oauth2/token", srv.url));
    let (id, secret) = (
        c["clientId"].as_str().unwrap(),
        c["clientSecret"].as_str().unwrap(),
    );
    let cred_id = c["id"].as_str().unwrap();

    let (st, r) = a
        .get(&format!(
            "/admin/api/endpoint/registration?credential={cred_id}&url={}",
            srv.action_url()
        ))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["authentication_type"], "CLIENT_CREDENTIAL");
    let props = &r["rest_body"]["endpoint"]["authentication"]["properties"];
    assert_eq!(props["clientId"], id);
    assert_eq!(props["tokenEndpoint"], endpoint);
    assert!(!r.to_string().contains(secret), "the secret was shown once");

    // The lifetime: checked, saved, shown.
    let (st, e) = a
        .post(
            "/admin/api/endpoint/auth",
            json!({"auth": "required", "token_lifetime_secs": 0}),
        )
        .await;
    assert_eq!(
        (st, e["field"].as_str()),
        (400, Some("token_lifetime_secs")),
        "{e}"
    );
    let (st, _) = a
        .post(
            "/admin/api/endpoint/auth",
            json!({"auth": "required", "token_lifetime_secs": 600}),
        )
        .await;
    assert_eq!(st, 200);
    let (_, info) = a.get("/admin/api/endpoint").await;
    assert_eq!(info["token_lifetime_secs"], 600);
    // A JWT credential's key set must be fetched over HTTPS.
    let (st, e) = a
        .post("/admin/api/credentials", json!({"type": "jwt", "issuer": "https://is/oauth2/token", "audience": "app", "jwks_url": "http://is/oauth2/jwks"}))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("jwks_url")), "{e}");

    let r = token_request(
        &srv.url,
        Some((id, secret)),
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials".into(),
    )
    .await;
    assert_eq!(r.json["expires_in"], 600);
    let token = access_token(&r);
    assert!(success(
        &post(&srv.action_url(), &Auth::Bearer(token.clone()), event()).await
    ));
    let (st, _) = a
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/api/credentials/{cred_id}"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let r = post(&srv.action_url(), &Auth::Bearer(token.clone()), event()).await;
    assert_eq!(r.status, 401);
    let r = fetch_token(&srv.url, id, secret).await;
    assert_eq!(r.status, 401);
    srv.stop().await;
    let token_id = profilegate::auth::token::id_of(&token).unwrap();
    dir.with_store(|s| assert_eq!(s.token(token_id).unwrap(), None, "removed with its client"));
}

// ---------- Another identity provider's JWTs ----------

/// A signing key of the test's identity provider and its public JWK.
struct SigningKey {
    enc: EncodingKey,
    alg: Algorithm,
    kid: String,
    jwk: Jwk,
}

fn es256(kid: &str) -> SigningKey {
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    signing(
        EncodingKey::from_ec_der(pkcs8.as_ref()),
        Algorithm::ES256,
        kid,
    )
}

/// RS256, what WSO2 IS signs with by default.
fn rs256(kid: &str) -> SigningKey {
    signing(crate::support::jwt_keys::rsa2048(), Algorithm::RS256, kid)
}

fn signing(enc: EncodingKey, alg: Algorithm, kid: &str) -> SigningKey {
    let mut jwk = Jwk::from_encoding_key(&enc, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    SigningKey {
        enc,
        alg,
        kid: kid.into(),
        jwk,
    }
}

const ISSUER: &str = "https://idp.example:9443/oauth2/token";
const AUDIENCE: &str = "profilegate-app";
const SCOPE: &str = "profilegate";

impl SigningKey {
    fn token(&self, claims: Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, &claims, &self.enc).unwrap()
    }

    /// A token as the provider issues it for the client-credentials grant.
    fn good(&self) -> String {
        self.token(good_claims())
    }
}

fn good_claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "profilegate-app", "scope": format!("internal_user_mgt_view {SCOPE}"),
           "iat": now(), "exp": now() + 300, "jti": now().to_string()})
}

fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>()}).to_string()
}

/// A key-set server over TLS with a test CA; the JWT credential trusts that CA.
async fn jwks_server(dir: &std::path::Path) -> (Source, String) {
    Source::start_tls("/oauth2/jwks", dir).await
}

fn jwt_credential(dir: &DataDir, jwks_url: &str, ca_pem: &str) {
    dir.with_store(|s| {
        s.add_departments("test", None, &["HR"]).unwrap();
        create_now(
            s,
            "test",
            &NewCredential::Jwt(JwtIssuer {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                scope: Some(SCOPE.into()),
                jwks_url: jwks_url.into(),
                tls_ca_pem: Some(ca_pem.into()),
            }),
        )
        .unwrap();
    });
}

/// WSO2 IS (or another provider) as the token endpoint: its JWTs pass; an expired one gets
/// 401 and a fresh one passes; the key set is fetched once, not per call, nor per unknown
/// `kid` (a flood of random kids costs no fetch and no wait); after a rotation the new key is
/// fetched and the old one's tokens are refused.
#[tokio::test(flavor = "multi_thread")]
async fn provider_jwts_with_rotating_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (jwks_src, ca_pem) = jwks_server(tmp.path()).await;
    let old = es256("key-2026-1");
    jwks_src.set(ok("application/json", &jwks(&[&old])));
    let dir = DataDir::new();
    jwt_credential(&dir, &jwks_src.url, &ca_pem);
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();

    let token = old.good();
    assert!(success(
        &post(&url, &Auth::Bearer(token.clone()), event()).await
    ));
    for _ in 0..3 {
        assert!(success(
            &post(&url, &Auth::Bearer(token.clone()), event()).await
        ));
    }
    assert_eq!(jwks_src.requests().len(), 1, "fetched once, then cached");
    assert!(jwks_src.last_head().contains("get /oauth2/jwks"));

    // The identity server's token expired (beyond the clock skew): 401; its next token passes.
    let mut claims = good_claims();
    claims["exp"] = json!(now() - 120);
    let r = post(&url, &Auth::Bearer(old.token(claims)), event()).await;
    assert_refused_as_expired(&r);
    assert!(success(
        &post(&url, &Auth::Bearer(old.good()), event()).await
    ));

    // Random kids: refused at once, without a fetch each.
    let t = Instant::now();
    for i in 0..20 {
        let stranger = es256(&format!("random-{i}"));
        let r = post(&url, &Auth::Bearer(stranger.good()), event()).await;
        assert_eq!(r.status, 401);
    }
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(jwks_src.requests().len(), 1, "no fetch per unknown kid");

    // Rotation to an RS256 key: fetched again once the refresh interval has passed.
    let new = rs256("key-2026-2");
    jwks_src.set(ok("application/json", &jwks(&[&new])));
    tokio::time::sleep(profilegate::auth::jwt::REFRESH_MIN + Duration::from_millis(200)).await;
    assert!(success(
        &post(&url, &Auth::Bearer(new.good()), event()).await
    ));
    assert_eq!(jwks_src.requests().len(), 2);
    // The old key is gone from the set: its tokens, even one verified before, are refused.
    let r = post(&url, &Auth::Bearer(token), event()).await;
    assert_eq!(r.status, 401);
    assert!(success(
        &post(&url, &Auth::Bearer(new.good()), event()).await
    ));
    srv.stop().await;
}

/// Every refused JWT gets 401 with a contract-valid ERROR body; the log says why, and never
/// holds the token. A key set that cannot be fetched is a 500 ERROR within the time bound.
#[test]
fn refused_jwts_are_401_with_the_reason_in_the_log_and_never_the_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (jwks_src, ca_pem) = rt.block_on(jwks_server(tmp.path()));
    let key = rs256("k1");
    jwks_src.set(ok("application/json", &jwks(&[&key])));
    let dir = DataDir::new();
    jwt_credential(&dir, &jwks_src.url, &ca_pem);
    let (mut child, banner, err) = spawn_serve(
        &dir.path,
        &[],
        &["--listen", "127.0.0.1:0"],
        &[("PROFILEGATE_LOG", "info")],
    );
    assert!(err.is_empty(), "{err}");
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let url = format!("http://{}/actions/pre-update-profile", banner_addr(&banner));

    let with = |k: &str, v: Value| {
        let mut c = good_claims();
        c[k] = v;
        key.token(c)
    };
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = b64(good_claims());
    let cases: Vec<(String, &str)> = vec![
        (
            with("iss", json!("https://evil.example/oauth2/token")),
            "its issuer is not the configured one",
        ),
        (
            with("aud", json!("another-app")),
            "its audience does not hold the configured one",
        ),
        (
            with("scope", json!("openid")),
            "it lacks the required scope",
        ),
        (with("exp", json!(now() - 300)), "it has expired"),
        (
            format!("{}.{claims}.", b64(json!({"alg": "none", "kid": "k1"}))),
            "its algorithm is not accepted",
        ),
        (
            jsonwebtoken::encode(
                &{
                    let mut h = Header::new(Algorithm::HS256);
                    h.kid = Some("k1".into());
                    h
                },
                &good_claims(),
                &EncodingKey::from_secret(serde_json::to_string(&key.jwk).unwrap().as_bytes()),
            )
            .unwrap(),
            "its algorithm is not accepted",
        ),
        (es256("unknown").good(), "its key id is not in the issuer"),
        (
            {
                let mut h = Header::new(Algorithm::RS256);
                h.kid = Some("k1".into());
                jsonwebtoken::encode(&h, &good_claims(), &rs256("k1").enc).unwrap()
            },
            "its signature does not verify",
        ),
    ];
    rt.block_on(async {
        assert!(success(
            &post(&url, &Auth::Bearer(key.good()), event()).await
        ));
        for (token, reason) in &cases {
            // `post` checks the body against the contract.
            let r = post(&url, &Auth::Bearer(token.clone()), event()).await;
            assert_eq!(r.status, 401, "{reason}");
            assert_eq!(r.json["actionStatus"], "ERROR");
        }
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    for (token, reason) in &cases {
        assert!(logs.contains(reason), "no {reason:?} in the log:\n{logs}");
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(token.as_str()), "a token in the log");
        assert!(
            signature.is_empty() || !logs.contains(signature),
            "a signature in the log"
        );
    }
}

/// The key set's server is down: a 500 ERROR (the caller did nothing wrong) within the
/// fetch's time bound, and no fetch per call meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_key_set_is_a_bounded_500() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, ca_pem) = jwks_server(tmp.path()).await;
    // Accepts connections and never answers: the fetch must give up on its own.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let dir = DataDir::new();
    jwt_credential(
        &dir,
        &format!("https://localhost:{port}/oauth2/jwks"),
        &ca_pem,
    );
    let srv = Server::start(&dir.path).await;
    let key = es256("k1");
    let t = Instant::now();
    let r = post(&srv.action_url(), &Auth::Bearer(key.good()), event()).await;
    assert_eq!(r.status, 500, "{}", r.json);
    assert!(
        // The fetch gives up after 2 s: well inside the identity server's 5 s read timeout.
        t.elapsed() < Duration::from_millis(4000),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let r = post(&srv.action_url(), &Auth::Bearer(key.good()), event()).await;
    assert_eq!(r.status, 500);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "no second fetch at once: {:?}",
        t.elapsed()
    );
    srv.stop().await;
}
