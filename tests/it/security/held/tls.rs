//! TLS versions on the HTTPS listener.

use super::*;

/// A TLS ClientHello record offering only `version` (no supported_versions extension), with
/// ECDHE suites for both TLS 1.2 (GCM) and older versions (CBC).
fn client_hello(version: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    let suites: [u16; 6] = [0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    let ext: [u8; 30] = [
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, // groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, // sig algs
    ];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// The first bytes the server answers a ClientHello with.
async fn hello_answer(addr: &str, version: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&client_hello(version)).await.unwrap();
    let mut out = vec![0u8; 16];
    let mut got = 0;
    while got < out.len() {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut out[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got += n,
        }
    }
    out.truncate(got);
    out
}

/// The HTTPS listener speaks TLS 1.2 and 1.3 only: a client offering TLS 1.0 or 1.1 gets an
/// alert, never a ServerHello; the same hello offering TLS 1.2 gets one.
#[tokio::test(flavor = "multi_thread")]
async fn https_refuses_tls_before_1_2() {
    let tmp = tempfile::tempdir().unwrap();
    let loaded = profilegate::http::tls::self_signed(tmp.path(), &["localhost".into()]).unwrap();
    let dir = DataDir::new();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            tls: Some(loaded.config),
            ..Default::default()
        },
    )
    .await;
    let addr = host_of(&srv.url);
    let ok = hello_answer(&addr, 0x0303).await;
    assert!(
        ok.len() >= 11 && ok[0] == 0x16 && ok[5] == 0x02 && ok[9..11] == [3, 3],
        "no TLS 1.2 ServerHello: {ok:02x?}"
    );
    for old in [0x0301u16, 0x0302, 0x0300] {
        let answer = hello_answer(&addr, old).await;
        assert!(
            answer.first() != Some(&0x16),
            "TLS {old:#06x} got a handshake answer: {answer:02x?}"
        );
        // An alert (protocol_version) or a closed connection.
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "TLS {old:#06x}: {answer:02x?}"
        );
    }
    srv.stop().await;
}
