//! Shared test harness: a real server on a real socket over a real sled data dir.

pub mod admin;
pub mod audit;
pub mod jwe;
pub mod jwt_keys;
pub mod ldap;
pub mod mail;
pub mod source;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::Output;

use profilegate::service::credentials::{create_now, Created, NewCredential};
use profilegate::store::Store;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const DEPT: &str = "http://wso2.org/claims/department";

/// A temporary data dir, removed at the end of the test.
pub struct DataDir {
    _tmp: tempfile::TempDir,
    pub path: PathBuf,
}

impl DataDir {
    pub fn new() -> DataDir {
        let tmp = tempfile::tempdir().expect("temp dir");
        let path = tmp.path().join("data");
        DataDir { _tmp: tmp, path }
    }

    /// Opens the store, runs `f`, closes it (the server is not running).
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let store = Store::open(&self.path).expect("open store");
        let out = f(&store);
        store.flush().expect("flush");
        out
    }

    /// Adds root departments and a basic credential; returns the credential.
    pub fn standard(&self) -> Created {
        self.with_store(|s| {
            s.add_departments("test", None, &["HR", "Engineering", "R&D, Europe"])
                .unwrap();
            create_now(
                s,
                "test",
                &NewCredential::Basic {
                    username: "wso2".into(),
                },
            )
            .unwrap()
        })
    }
}

/// A running server.
pub struct Server {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), profilegate::ServeError>>>,
}

impl Server {
    pub async fn start(dir: &Path) -> Server {
        Server::start_with(dir, profilegate::Options::default()).await
    }

    /// A server started with options (say a setup token).
    pub async fn start_with(dir: &Path, options: profilegate::Options) -> Server {
        let store = Store::open(dir).expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(profilegate::run_with(
            store,
            listener,
            async move {
                let _ = rx.await;
            },
            options,
        ));
        Server {
            url,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// [`Server::start`], returning once the server answers on its control socket (where a
    /// CLI command run meanwhile reaches it).
    pub async fn start_with_control(dir: &Path) -> Server {
        let server = Server::start(dir).await;
        let socket = profilegate::control::socket_path(dir);
        let t = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "waited 10 s for the control socket"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        server
    }

    pub fn action_url(&self) -> String {
        format!("{}/actions/pre-update-profile", self.url)
    }

    /// Graceful stop; returns once the data dir is released.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server result");
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
    Header(String, String),
}

impl Auth {
    pub fn of(c: &Created) -> Auth {
        let p = c.wso2_properties();
        let get = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match c.record.kind.wso2_name() {
            "BASIC" => Auth::Basic(get("username"), get("password")),
            "BEARER" => Auth::Bearer(get("accessToken")),
            _ => Auth::Header(get("header"), get("value")),
        }
    }
}

/// A response as the identity server would see it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub raw: Vec<u8>,
    pub json: Value,
}

pub async fn post(url: &str, auth: &Auth, body: impl Into<reqwest::Body>) -> Reply {
    post_with(&reqwest::Client::new(), url, auth, body).await
}

/// [`post`] through a given client (its pooled connections), for floods.
pub async fn post_with(
    client: &reqwest::Client,
    url: &str,
    auth: &Auth,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut rb = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("X-WSO2-API-Version", "v1");
    rb = match auth {
        Auth::None => rb,
        Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
        Auth::Bearer(t) => rb.bearer_auth(t),
        Auth::Header(h, v) => rb.header(h.as_str(), v.as_str()),
    };
    let resp = rb.body(body).send().await.expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let raw = resp.bytes().await.expect("body").to_vec();
    let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let reply = Reply {
        status,
        content_type,
        raw,
        json,
    };
    assert_contract_valid(&reply);
    reply
}

/// The caller's pattern (CONTRACT.md §4.4) for `max` characters (100 or 300); `\s` is Java's
/// ASCII class. Compiled once: floods check thousands of answers.
pub fn re(max: usize) -> &'static regex::Regex {
    static RES: std::sync::OnceLock<[regex::Regex; 2]> = std::sync::OnceLock::new();
    let res = RES.get_or_init(|| {
        [100, 300].map(|max| {
            regex::Regex::new(&format!(
                r"^[a-zA-Z0-9 \t\n\x0B\x0C\r\-_.!?;:'()\[\]]{{1,{max}}}$"
            ))
            .unwrap()
        })
    });
    match max {
        100 => &res[0],
        300 => &res[1],
        other => panic!("the caller's limits are 100 and 300, not {other}"),
    }
}

/// Every response the endpoint gives must pass the identity server's parser (CONTRACT.md §10).
pub fn assert_contract_valid(r: &Reply) {
    assert!(
        r.content_type.contains("application/json"),
        "content type {:?}",
        r.content_type
    );
    assert!(r.raw.len() < 4096, "body too large");
    let obj = r
        .json
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {:?}", String::from_utf8_lossy(&r.raw)));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let status = obj
        .get("actionStatus")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let s = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match (r.status, status) {
        (200, "SUCCESS") => assert_eq!(keys, ["actionStatus"]),
        (200, "FAILED") => {
            assert_eq!(
                keys,
                ["actionStatus", "failureDescription", "failureReason"]
            );
            assert!(
                re(100).is_match(&s("failureReason")),
                "failureReason {:?}",
                s("failureReason")
            );
            assert!(
                re(300).is_match(&s("failureDescription")),
                "failureDescription {:?}",
                s("failureDescription")
            );
        }
        (400 | 401 | 500, "ERROR") => {
            assert!(
                keys == ["actionStatus", "errorDescription", "errorMessage"]
                    || keys == ["actionStatus", "errorMessage"],
                "{keys:?}"
            );
            assert!(
                re(100).is_match(&s("errorMessage")),
                "errorMessage {:?}",
                s("errorMessage")
            );
            let d = s("errorDescription");
            assert!(
                d.is_empty() || re(300).is_match(&d),
                "errorDescription {d:?}"
            );
        }
        other => panic!(
            "not a response the caller accepts: {other:?} {}",
            String::from_utf8_lossy(&r.raw)
        ),
    }
}

/// A minimal valid profile update with the given claims.
pub fn profile_event(request_id: Option<&str>, claims: Value) -> Value {
    let mut v = serde_json::json!({
        "actionType": "PRE_UPDATE_PROFILE",
        "event": {
            "request": {"claims": claims},
            "tenant": {"id": "-1234", "name": "carbon.super"},
            "user": {"id": "57b22cbf-4688-476c-a607-c0c9d089d25d"},
            "userStore": {"id": "UFJJTUFSWQ==", "name": "PRIMARY"},
            "initiatorType": "ADMIN",
            "action": "UPDATE"
        }
    });
    if let Some(r) = request_id {
        v["requestId"] = r.into();
    }
    v
}

pub fn dept(value: Value) -> Value {
    serde_json::json!([{"uri": DEPT, "value": value}])
}

/// The fixtures directory shipped beside the repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// Runs the real binary on a data dir.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    cli_with_input(dir, args, None)
}

pub fn cli_with_input(dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    cli_bin(env!("CARGO_BIN_EXE_profilegate"), dir, args, input)
}

/// [`cli_with_input`] with another binary (e.g. the release build).
pub fn cli_bin(bin: &str, dir: &Path, args: &[&str], input: Option<&str>) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("PROFILEGATE_LISTEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run profilegate");
    if let Some(stdin) = child.stdin.as_mut() {
        stdin
            .write_all(input.unwrap_or_default().as_bytes())
            .expect("stdin");
    }
    child.stdin.take();
    child.wait_with_output().expect("wait")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Decision records in the audit log, oldest first.
pub fn decisions(store: &Store) -> Vec<profilegate::model::DecisionEntry> {
    let mut v: Vec<_> = store
        .audit_iter_rev()
        .filter_map(|r| match r.expect("record").entry {
            profilegate::model::AuditEntry::Decision(d) => Some(*d),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// Starts the real binary: `profilegate --data-dir DIR [pre args] serve [args]` with extra
/// environment; returns the child and its banner up to the admin UI line, or, if it exited
/// first, what it printed on stdout and stderr.
pub fn spawn_serve(
    dir: &Path,
    pre: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    spawn_serve_bin(env!("CARGO_BIN_EXE_profilegate"), dir, pre, args, env)
}

/// [`spawn_serve`] with another binary (e.g. the release build).
pub fn spawn_serve_bin(
    bin: &str,
    dir: &Path,
    pre: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    spawn_serve_command(serve_command(bin, dir, pre, args, env))
}

/// The command [`spawn_serve_bin`] runs, to adjust before [`spawn_serve_command`].
pub fn serve_command(
    bin: &str,
    dir: &Path,
    pre: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("--data-dir")
        .arg(dir)
        .args(pre)
        .arg("serve")
        .args(args)
        .env_remove("PROFILEGATE_LISTEN")
        .envs(env.iter().copied());
    cmd
}

/// Runs a `serve` command; returns like [`spawn_serve`].
pub fn spawn_serve_command(
    mut cmd: std::process::Command,
) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run profilegate serve");
    let mut out = String::new();
    let mut rd = BufReader::new(child.stdout.take().expect("stdout"));
    loop {
        let mut l = String::new();
        if rd.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        out.push_str(&l);
        if l.starts_with("Admin UI:") {
            return (child, out, String::new());
        }
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (child, out, err)
}

/// SIGTERM, then wait.
pub fn stop_child(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// A port nothing listens on (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The address a `serve` banner says it listens on (`IP:PORT`).
pub fn banner_addr(banner: &str) -> String {
    banner
        .split("serving on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|u| {
            u.trim_start_matches("https://")
                .trim_start_matches("http://")
                .to_string()
        })
        .unwrap_or_else(|| panic!("no address in {banner}"))
}

/// The certificate file a `serve --tls-self-signed` banner names (`TLS certificate: PATH`).
pub fn banner_certificate(banner: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("TLS certificate:"))
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("no certificate in {banner}"))
}

/// Opens a data dir's sled database directly (beneath the store, as someone with file access
/// might). A store dropped just before may still hold the lock for a moment (sled's flusher
/// thread lets go of it on its next tick), so a held lock is retried for a few seconds.
pub fn open_sled(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("open {}: {e}", path.display()),
        }
    }
}

/// The audit batches as a data dir stores them, read beneath the store (the `audit_index` tree
/// and the segment files): (first sequence number, packed batch), oldest first.
pub fn raw_batches(data_dir: &Path) -> Vec<(u64, Vec<u8>)> {
    use profilegate::store::audit::segments::{segment_name, Loc, INDEX_TREE, SEGMENT_DIR};
    use std::os::unix::fs::FileExt;
    let db = open_sled(&data_dir.join("db"));
    let index = db.open_tree(INDEX_TREE).unwrap();
    index
        .iter()
        .map(|item| {
            let (k, v) = item.unwrap();
            let first = u64::from_be_bytes(k.as_ref().try_into().unwrap());
            let loc = Loc::decode(&v).expect("an index entry");
            let file =
                std::fs::File::open(data_dir.join(SEGMENT_DIR).join(segment_name(loc.segment)))
                    .unwrap();
            let mut value = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut value, loc.offset + 20).unwrap();
            (first, value)
        })
        .collect()
}

/// Changes stored audit batches beneath the store, as someone with write access to the data
/// dir could: `Some(value)` appends a well-formed frame with the new value to the last segment
/// file and points the index at it; `None` removes the batch from the index.
pub fn write_raw_batches(data_dir: &Path, changes: Vec<(u64, Option<Vec<u8>>)>) {
    use profilegate::store::audit::segments::{encode_frame, Loc, INDEX_TREE, SEGMENT_DIR};
    use std::io::Write;
    let db = open_sled(&data_dir.join("db"));
    let index = db.open_tree(INDEX_TREE).unwrap();
    let seg_dir = data_dir.join(SEGMENT_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    let last = names.last().expect("a segment file").clone();
    let segment: u64 = last.trim_end_matches(".seg").parse().unwrap();
    let path = seg_dir.join(&last);
    for (first, change) in changes {
        let key = first.to_be_bytes();
        match change {
            None => {
                index.remove(key).unwrap();
            }
            Some(value) => {
                let offset = std::fs::metadata(&path).unwrap().len();
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(&encode_frame(first, &value)).unwrap();
                f.sync_all().unwrap();
                let loc = Loc {
                    segment,
                    offset,
                    len: value.len() as u32,
                };
                index.insert(key, loc.encode().as_slice()).unwrap();
            }
        }
    }
    db.flush().unwrap();
}

/// The nice value of every forwarding thread (`profilegate-forward`, which the kernel cuts to
/// 15 bytes) of a process: `"self"` (the in-process servers) or a child's pid.
pub fn forwarding_thread_nices(process: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{process}/task"))
        .expect("tasks")
        .flatten()
    {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() != "profilegate-for" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the name (which may hold spaces) start at ")": state is the 3rd
        // field, nice the 19th.
        if let Some(nice) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(16))
            .and_then(|n| n.parse().ok())
        {
            out.push(nice);
        }
    }
    out
}
