//! The department directory's HTTP source against a real server started here: JSON, CSV, an
//! object field, authentication, `ETag` and `Last-Modified` giving a 304, a slow and a
//! failing source, a size limit, and HTTPS with a certificate from a test CA. `ldap.rs`: the
//! LDAP source against a real slapd.

mod ldap;

use std::sync::Arc;
use std::time::{Duration, Instant};

use profilegate::outbound::FetchError;
use profilegate::sync::http::{fetch, Fetch, HttpAuth, HttpSource, SourceError, Validators};
use profilegate::sync::SourceFormat;

use crate::support::source::{ok, Source};

fn source(url: &str) -> HttpSource {
    HttpSource {
        url: url.into(),
        format: SourceFormat::Json,
        field: None,
        auth: HttpAuth::None,
        tls_ca_pem: None,
        client_cert_pem: None,
        client_key_pem: None,
        timeout_ms: 2000,
        max_bytes: 1 << 20,
    }
}

fn names(f: Fetch) -> Vec<String> {
    match f {
        Fetch::Names { names, .. } => names.into_iter().collect(),
        Fetch::NotModified => panic!("not modified"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_csv_and_a_field_with_authentication() {
    let src = Source::start("/api/departments", None).await;
    src.set(ok("application/json", r#"["HR", "Engineering", " HR "]"#));
    let mut s = source(&src.url);
    s.auth = HttpAuth::Bearer {
        token: "tok-123".into(),
    };
    let got = fetch(&s, &Validators::default()).await.unwrap();
    assert_eq!(names(got), ["Engineering", "HR"]);
    let head = src.last_head();
    assert!(head.starts_with("get /api/departments http/1.1"), "{head}");
    assert!(head.contains("authorization: bearer tok-123\r\n"), "{head}");
    assert!(head.contains("accept: application/json\r\n"), "{head}");

    src.set(ok(
        "application/json",
        r#"[{"ou": "Sales", "dn": "ou=Sales"}, {"ou": "HR"}]"#,
    ));
    s.field = Some("ou".into());
    s.auth = HttpAuth::Basic {
        username: "svc".into(),
        password: "pw:1".into(),
    };
    assert_eq!(
        names(fetch(&s, &Validators::default()).await.unwrap()),
        ["HR", "Sales"]
    );
    // base64("svc:pw:1")
    assert!(
        src.last_head()
            .contains("authorization: basic c3zjonb3oje=\r\n"),
        "{}",
        src.last_head()
    );

    src.set(ok(
        "text/csv",
        "id,department\n1,Legal\n2,\"R&D, Europe\"\n",
    ));
    s.format = SourceFormat::Csv;
    s.field = Some("department".into());
    assert_eq!(
        names(fetch(&s, &Validators::default()).await.unwrap()),
        ["Legal", "R&D, Europe"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_list_comes_back_as_not_modified() {
    let src = Source::start("/api/departments", None).await;
    let mut a = ok("application/json", r#"["HR"]"#);
    a.etag = Some("\"v1\"");
    src.set(a);
    let s = source(&src.url);
    let Fetch::Names { validators, .. } = fetch(&s, &Validators::default()).await.unwrap() else {
        panic!("a list");
    };
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        validators.last_modified.as_deref(),
        Some("Mon, 30 Nov 2026 08:00:00 GMT")
    );
    assert_eq!(fetch(&s, &validators).await.unwrap(), Fetch::NotModified);
    let head = src.last_head();
    assert!(head.contains("if-none-match: \"v1\"\r\n"), "{head}");
    assert!(
        head.contains("if-modified-since: mon, 30 nov 2026 08:00:00 gmt\r\n"),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_failing_large_and_wrong_answers_give_no_list() {
    let src = Source::start("/api/departments", None).await;
    let mut s = source(&src.url);

    let mut slow = ok("application/json", r#"["HR"]"#);
    slow.delay = Duration::from_secs(3);
    src.set(slow);
    s.timeout_ms = 300;
    let t = Instant::now();
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert_eq!(e, SourceError::Fetch(FetchError::Timeout(300)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    s.timeout_ms = 2000;

    let mut failing = ok("text/plain", "down for maintenance");
    failing.status = 503;
    src.set(failing);
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert_eq!(e, SourceError::Fetch(FetchError::Status(503)));

    src.set(ok(
        "application/json",
        &format!("[{}]", vec!["\"HR\""; 50_000].join(",")),
    ));
    s.max_bytes = 10_000;
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert_eq!(e, SourceError::Fetch(FetchError::TooLarge(10_000)));
    s.max_bytes = 1 << 20;

    src.set(ok("text/html", "<html>Sign in</html>"));
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert!(matches!(e, SourceError::Parse(_)), "{e}");

    let gone = source("http://127.0.0.1:9/departments");
    let e = fetch(&gone, &Validators::default()).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Fetch(FetchError::Connect(_))),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_private_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, ca_pem) = Source::start_tls("/api/departments", tmp.path()).await;
    src.set(ok("application/json", r#"["Finance"]"#));
    let mut s = source(&src.url);
    // Not trusted without the CA.
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    s.tls_ca_pem = Some(ca_pem);
    assert_eq!(
        names(fetch(&s, &Validators::default()).await.unwrap()),
        ["Finance"]
    );
}

/// A source that authenticates its callers by certificate (mutual TLS): refused without one,
/// answered with one issued by the CA it trusts.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_for_mutual_tls() {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = crate::support::tls::generate(tmp.path());
    // The CA that issues the callers' certificates, and one caller's.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "HR callers CA");
    let client_ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "profilegate");
    let client_cert = params.signed_by(&client_key, &client_ca).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.pem().as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, PrivateKeyDer::from_pem_file(&key).unwrap())
        .unwrap();
    let src = Source::start(
        "/api/departments",
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
    )
    .await;
    src.set(ok("application/json", r#"["Treasury"]"#));
    let mut s = source(&src.url);
    s.tls_ca_pem = Some(ca_pem);
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Fetch(_)),
        "refused without a certificate: {e}"
    );

    s.client_cert_pem = Some(client_cert.pem());
    s.client_key_pem = Some("not a key".into());
    let e = fetch(&s, &Validators::default()).await.unwrap_err();
    assert!(e.to_string().contains("client key"), "{e}");
    s.client_key_pem = Some(client_key.serialize_pem());
    assert_eq!(
        names(fetch(&s, &Validators::default()).await.unwrap()),
        ["Treasury"]
    );
}
