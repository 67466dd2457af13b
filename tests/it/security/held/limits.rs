//! Oversized headers and idle keep-alive connections.

use super::*;

/// Sends a request head of any size while reading the answer, the way an attacker would:
/// the server may answer and close before the head is all sent.
async fn send_head(host: &str, head: Vec<u8>) -> String {
    let s = TcpStream::connect(host).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&head).await;
        wr
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), rd.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    drop(writer.await);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_headers_get_431() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    // One 1 MiB header.
    let mut big = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: ").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let resp = send_head(&host, big).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    // Many small ones.
    let mut many = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let resp = send_head(&host, many.into_bytes()).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    // The same on the action endpoint, and the server goes on serving.
    let mut big = format!(
        "POST /actions/pre-update-profile HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nX-Big: "
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\r\n\r\n{}");
    let resp = send_head(&host, big).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("after-431"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
}

/// A connection that made one request and then keeps quiet (keep-alive) is closed once the
/// header timeout (10 s) passes, like one that never said anything (tests/it/abuse.rs).
#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    let mut s = TcpStream::connect(&host).await.unwrap();
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\"ok\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let idle_since = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("an idle keep-alive connection was left open for 20 s")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    let waited = idle_since.elapsed();
    assert!(waited <= Duration::from_secs(15), "{waited:?}");
    srv.stop().await;
}
