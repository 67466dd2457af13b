//! A real SMTP server for the tests (mailin-embedded on port 0), and servers that misbehave.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server, SslConfig};

/// One received message.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The body with quoted-printable soft line breaks and escapes undone (enough for ASCII and
    /// the checks here).
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

#[derive(Clone)]
struct Collect {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Mail,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Mail {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.mails
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }
}

/// A mail server that accepts everything and keeps it.
pub struct MailServer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl MailServer {
    pub fn start() -> MailServer {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// On a given address (to bring a mail server "back" on the port profilegate knows).
    pub fn start_on(addr: SocketAddr) -> MailServer {
        let listener = TcpListener::bind(addr).expect("bind smtp");
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let handler = Collect {
            mails: mails.clone(),
            current: Mail::default(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("mail.test")
            .with_ssl(SslConfig::None)
            .expect("ssl config")
            .with_tcp_listener(listener);
        // Runs until the test process ends.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        MailServer { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

/// A server that accepts TCP connections and never says anything.
pub fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// A port where nothing listens.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap()
}
