//! HTTPS: a certificate from a CA generated here, h2 and HTTP/1.1 through reqwest, `Secure`
//! admin cookies; the self-signed mode of the real binary; the plain-HTTP rule; certificate
//! errors that say what to do.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;

use crate::support::tls::{client_trusting, generate};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn https_end_to_end_with_a_generated_ca() {
    let dir = DataDir::new();
    let cred = dir.standard();
    crate::support::admin::set_password(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca) = generate(tmp.path());
    let loaded = profilegate::http::tls::load(&cert, &key).unwrap();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            tls: Some(loaded.config),
            ..Default::default()
        },
    )
    .await;
    let https = srv.url.replace("http://127.0.0.1", "https://localhost");
    let ev = profile_event(Some("tls-1"), dept(json!("HR")));
    let Auth::Basic(user, pass) = Auth::of(&cred) else {
        panic!("basic")
    };
    for http1_only in [false, true] {
        let r = client_trusting(&ca, http1_only)
            .post(format!("{https}/actions/pre-update-profile"))
            .basic_auth(&user, Some(&pass))
            .header("content-type", "application/json")
            .body(ev.to_string())
            .send()
            .await
            .unwrap();
        let want = if http1_only {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(r.version(), want);
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["actionStatus"], "SUCCESS");
    }
    // Under TLS the admin session cookie is Secure, and the UI is told it is HTTPS.
    let r = client_trusting(&ca, false)
        .post(format!("{https}/admin/api/login"))
        .json(&json!({"password": crate::support::admin::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tls"], true);
    // Plain HTTP to the HTTPS port gets no answer; a client without the CA refuses.
    assert!(reqwest::get(format!("{}/healthz", srv.url)).await.is_err());
    let untrusting = client_trusting(&generate(&tmp.path().join("other")).2, false);
    assert!(untrusting
        .get(format!("{https}/healthz"))
        .send()
        .await
        .is_err());
    srv.stop().await;
}

fn serve(dir: &Path, args: &[&str]) -> (std::process::Child, String, String) {
    spawn_serve(dir, &[], args, &[])
}

fn stop(child: std::process::Child) {
    stop_child(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_certificate_is_made_once_and_printed() {
    let dir = DataDir::new();
    let (child, out, err) = serve(&dir.path, &["--listen", "127.0.0.1:0", "--tls-self-signed"]);
    let listen = banner_addr(&out);
    assert!(
        out.contains(&format!("https://{listen}/actions/pre-update-profile")),
        "{out}{err}"
    );
    let fp = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .trim()
        .to_string();
    let path = banner_certificate(&out);
    let pem = std::fs::read_to_string(&path).unwrap();
    // The printed fingerprint is the file's.
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    use sha2::Digest;
    let want: Vec<String> = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(fp, want.join(":"));
    // A client that imported the printed file trusts the server.
    let r = client_trusting(&pem, false)
        .get(format!("https://{listen}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stop(child);
    // The key is private, and a restart keeps the same certificate.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = Path::new(&path).with_file_name("self-signed-key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (child, again, _) = serve(&dir.path, &["--listen", "127.0.0.1:0", "--tls-self-signed"]);
    assert!(again.contains(&fp), "{again}");
    stop(child);
}

#[test]
fn plain_http_off_loopback_needs_an_explicit_flag() {
    let dir = DataDir::new();
    let listen = "0.0.0.0:0".to_string();
    let (mut child, out, err) = serve(&dir.path, &["--listen", &listen]);
    let status = child.wait().unwrap();
    assert!(!status.success(), "{out}");
    assert!(
        err.contains("refusing to serve plain HTTP") && err.contains("--allow-insecure-http"),
        "{err}"
    );
    let (child, out, err) = serve(&dir.path, &["--listen", &listen, "--allow-insecure-http"]);
    assert!(out.contains("Served over plain HTTP"), "{out}{err}");
    stop(child);
}

#[test]
fn certificate_problems_say_what_to_do() {
    let dir = DataDir::new();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, _) = generate(tmp.path());
    let (_, other_key, _) = generate(&tmp.path().join("other"));
    let listen = "127.0.0.1:0".to_string();
    let missing = tmp.path().join("missing.pem");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (c, k, want) in [
        (s(&missing), s(&key), "cannot read the TLS certificate"),
        (s(&key), s(&key), "no CERTIFICATE block"),
        (s(&cert), s(&cert), "cannot read the TLS private key"),
        (s(&cert), s(&other_key), "do not fit together"),
    ] {
        let (mut child, out, err) = serve(
            &dir.path,
            &["--listen", &listen, "--tls-cert", &c, "--tls-key", &k],
        );
        assert!(!child.wait().unwrap().success(), "{out}");
        assert!(err.contains(want), "{c} {k}: {err}");
    }
}
