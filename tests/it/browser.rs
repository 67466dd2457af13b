//! The admin UI in a real browser: Debian's chromium driven through chromedriver by
//! fantoccini, against the real server started in-process.
//!
//! Locally these tests skip (with a message) when chromedriver is not installed; with
//! `REQUIRE_BROWSER=1` (as `.ci/run` sets) a missing browser is a failure. Set
//! `PG_SCREENSHOTS=DIR` to keep a PNG of each page the flows visit.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::mail::MailServer;
use crate::support::*;

const PASSWORD: &str = "a long admin password";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver and a browser session; both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: Option<PathBuf>,
}

impl Drop for Browser {
    /// Ends chromedriver and every browser process it started, also when a test failed
    /// before closing its session (then nothing else ends them). chromedriver leads its own
    /// process group, which its browser processes inherit; the group is signalled directly
    /// (an earlier version ran `kill -KILL -PGID`, which in this sandbox ended the shell
    /// running the tests as well).
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            // Never a negative or special id: -1 would mean every process we may signal.
            if pgid > 1 {
                // SAFETY: kill(2) reads no memory of ours; the group is chromedriver's own.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless chromium; `None` (test skipped) when they are not
    /// installed and `REQUIRE_BROWSER` is not set.
    async fn start() -> Option<Browser> {
        let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        if !std::path::Path::new(&driver_bin).exists() {
            assert!(
                !required,
                "REQUIRE_BROWSER=1 but {driver_bin} is missing: apt-get install -y chromium chromium-driver"
            );
            eprintln!("SKIPPED: {driver_bin} is not installed (set REQUIRE_BROWSER=1 to make this a failure)");
            return None;
        }
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            // Its own process group, for Drop to end with its browser.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1366,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into()), "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        // chromedriver takes a moment to listen.
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                        shots: std::env::var_os("PG_SCREENSHOTS").map(PathBuf::from),
                    })
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot start a browser session: {last:?}");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    /// Waits (up to 10 s) for an element.
    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Waits (up to 10 s) until the element's text contains `want`; returns the text.
    async fn text_contains(&self, css: &str, want: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if t.contains(want) {
                        return t;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.shot("timeout").await;
        panic!("{css} never contained {want:?}; last text: {last:?}");
    }

    /// Replaces the value of a field (by its name) and returns the element.
    async fn fill(&self, form: &str, name: &str, value: &str) -> Element {
        let el = self.find(&format!("{form} [name=\"{name}\"]")).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
        el
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The server's message shown next to a field of a form.
    async fn field_error(&self, form: &str, field: &str, want: &str) -> String {
        self.text_contains(&format!("{form} [data-field=\"{field}\"] .error"), want)
            .await
    }

    /// Form controls on the page without a label (by `<label for>`, a wrapping label, or
    /// aria-label): each would be unusable with a screen reader.
    async fn unlabelled(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return [...document.querySelectorAll('input, select, textarea')]\
                   .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))\
                   .map(e => e.outerHTML);",
                vec![],
            )
            .await
            .expect("script");
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Visits every page from the menu and checks that each control has a label.
    async fn every_page_is_labelled(&self) {
        for (link, title) in [
            ("overview", "Overview"),
            ("departments", "Departments"),
            ("notifications", "Notifications"),
            ("endpoint", "Endpoint"),
            ("audit", "Audit log"),
            ("settings", "Settings"),
        ] {
            self.click(&format!("nav a[href='#{link}']")).await;
            self.text_contains("h1", title).await;
            let missing = self.unlabelled().await;
            assert!(
                missing.is_empty(),
                "{title}: controls without a label: {missing:?}"
            );
        }
    }

    async fn shot(&self, name: &str) {
        if let Some(dir) = &self.shots {
            let _ = std::fs::create_dir_all(dir);
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::write(dir.join(format!("{name}.png")), png);
            }
        }
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// First start: the setup link sets the password; then import departments with a preview,
/// create a credential and read its secret from the page, call the action endpoint with it,
/// and find the decision (and its before -> after) on the audit page.
#[tokio::test(flavor = "multi_thread")]
async fn setup_import_credential_action_and_audit() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let token = "setup-token-for-the-test";
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some(token.into()),
            ..Default::default()
        },
    )
    .await;

    // A wrong token is refused next to the token field, and sets nothing.
    b.goto(&format!("{}/admin/#setup=wrong", srv.url)).await;
    b.fill("form", "password", PASSWORD).await;
    b.fill("form", "confirm", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "token", "not valid").await;

    // The printed link: a short password is refused next to its field, then a good one works.
    b.goto(&format!("{}/admin/#setup={token}", srv.url)).await;
    b.client.refresh().await.expect("reload");
    b.fill("form", "password", "short").await;
    b.fill("form", "confirm", "short").await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "password", "at least 12").await;
    b.fill("form", "password", PASSWORD).await;
    b.fill("form", "confirm", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.text_contains("h1", "Overview").await;
    let setup = b.text_contains("main", "step(s) left").await;
    assert!(setup.contains("Departments loaded"), "{setup}");
    b.shot("overview").await;
    // The token is spent and gone from the address bar.
    let here = b.client.current_url().await.expect("url");
    assert!(!here.as_str().contains(token), "{here}");

    // Departments: paste a CSV, preview, apply.
    b.click("nav a[href='#departments']").await;
    b.text_contains("h1", "Departments").await;
    let import = "form[aria-label='Import departments']";
    b.fill(import, "csv", "department\nHR\n\"R&D, Europe\"\nFinance")
        .await;
    b.click(&format!("{import} button[value=preview]")).await;
    let preview = b.text_contains("#import-preview", "3 to add").await;
    assert!(preview.contains("R&D, Europe"), "{preview}");
    // Nothing is applied by the preview.
    assert!(b
        .find("main")
        .await
        .text()
        .await
        .unwrap()
        .contains("0 department(s)"));
    b.click(&format!("{import} button[value=apply]")).await;
    b.text_contains("main", "3 department(s)").await;
    b.shot("departments").await;
    // A bad line is refused next to the CSV field, naming the line.
    b.fill(import, "csv", "HR\nA,B").await;
    b.click(&format!("{import} button[value=preview]")).await;
    b.field_error(import, "csv", "line 2").await;

    // Endpoint: create a Basic credential; the secret is on the page once.
    b.click("nav a[href='#endpoint']").await;
    b.text_contains("h1", "Endpoint").await;
    let create = "form[aria-label='Create a credential']";
    b.fill(create, "username", "wso2").await;
    b.click(&format!("{create} button[type=submit]")).await;
    let secret = b
        .find("#new-secret code[data-prop=password]")
        .await
        .text()
        .await
        .expect("secret");
    assert!(secret.starts_with("pg_"), "{secret}");
    b.shot("endpoint").await;
    // The registration panel gives the REST body with this credential's type and username.
    b.click("form[aria-label='Register in WSO2'] button[type=submit]")
        .await;
    let body = b.text_contains("#rest-body", "BASIC").await;
    let body: serde_json::Value = serde_json::from_str(&body).expect("REST body is JSON");
    assert_eq!(
        body["endpoint"]["authentication"]["properties"]["username"],
        "wso2"
    );
    assert!(body["endpoint"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/actions/pre-update-profile"));

    // The identity server calls with the credential from the page.
    let auth = Auth::Basic("wso2".into(), secret);
    let ev = profile_event(Some("ui-req-1"), dept(json!("Finance")));
    let r = post(&srv.action_url(), &auth, ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    let ev = profile_event(Some("ui-req-2"), dept(json!("Sales")));
    let r = post(&srv.action_url(), &auth, ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED");

    // Audit: filter to FAILED decisions, open the record, see the department's new value.
    b.click("nav a[href='#audit']").await;
    b.text_contains("h1", "Audit log").await;
    let filters = "form[aria-label='Filters']";
    let decision = b.find(&format!("{filters} [name=decision]")).await;
    decision
        .select_by_value("FAILED")
        .await
        .expect("select FAILED");
    b.click(&format!("{filters} button[type=submit]")).await;
    let table = b.text_contains("main table", "FAILED").await;
    assert!(!table.contains("SUCCESS"), "{table}");
    b.click("main table tbody tr.clickable").await;
    let detail = b.text_contains("#record-detail", "Sales").await;
    assert!(
        detail.contains("http://wso2.org/claims/department"),
        "{detail}"
    );
    b.shot("audit").await;
    // An unreadable time is refused next to its filter.
    b.fill(filters, "from", "yesterday").await;
    b.click(&format!("{filters} button[type=submit]")).await;
    b.field_error(filters, "from", "not a time").await;
    // The chain verifies from the page.
    b.click("a[href='#audit']").await;
    b.click("main button.secondary").await;
    b.text_contains("#verify-result", "Chain intact").await;

    b.close().await;
    srv.stop().await;
}

/// Login errors and the settings page: a wrong password is shown next to its field; a failure
/// message the identity server would reject is refused next to the field that holds it; a
/// valid one is saved and is what the next FAILED answer says; logging out ends the session.
#[tokio::test(flavor = "multi_thread")]
async fn login_and_failure_messages() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let dir = DataDir::new();
    let cred = dir.standard();
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let srv = Server::start(&dir.path).await;

    b.goto(&format!("{}/admin", srv.url)).await;
    b.text_contains("h1", "Log in").await;
    b.fill("form", "password", "not the password").await;
    b.click("form button[type=submit]").await;
    b.field_error("form", "password", "wrong password").await;
    // Keyboard only: the password and Enter.
    b.fill(
        "form",
        "password",
        &format!("{PASSWORD}{}", char::from(fantoccini::key::Key::Enter)),
    )
    .await;
    b.text_contains("h1", "Overview").await;
    // Plain HTTP: every page carries the warning banner.
    let banner = b.find("#insecure").await;
    assert!(banner.is_displayed().await.unwrap());
    assert!(banner.text().await.unwrap().contains("Plain HTTP"));
    b.every_page_is_labelled().await;

    b.click("nav a[href='#settings']").await;
    b.text_contains("h1", "Settings").await;
    let policy = "form[aria-label='Policy']";
    let desc = "messages.invalid_department.description";
    b.fill(policy, desc, "Department <b>unknown</b>").await;
    b.click(&format!("{policy} button[type=submit]")).await;
    let e = b.field_error(policy, desc, "rejects").await;
    assert!(e.contains("'<'"), "{e}");
    b.shot("settings-error").await;
    b.fill(policy, desc, "Pick a department from the HR list.")
        .await;
    b.click(&format!("{policy} button[type=submit]")).await;
    b.text_contains(&format!("{policy} .form-notice"), "Saved")
        .await;

    let ev = profile_event(Some("msg-1"), dept(json!("Nowhere")));
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED");
    assert_eq!(
        r.json["failureDescription"],
        "Pick a department from the HR list."
    );

    // The password form checks the current password on the server.
    let pw = "form[aria-label='Change the admin password']";
    b.fill(pw, "current", "wrong wrong wrong").await;
    b.fill(pw, "new", "another long password").await;
    b.fill(pw, "confirm", "another long password").await;
    b.click(&format!("{pw} button[type=submit]")).await;
    b.field_error(pw, "current", "wrong").await;

    b.click("#logout").await;
    b.text_contains("h1", "Log in").await;
    // The session is gone on the server too: an API call from the page's origin is refused.
    b.goto(&format!("{}/admin/api/overview", srv.url)).await;
    let body = b.find("body").await.text().await.unwrap();
    assert!(body.contains("log in first"), "{body}");

    b.close().await;
    srv.stop().await;
}

/// Notifications: SMTP set from the page, a test message reaches a real mail server and the
/// checklist counts it; a server that is not there gives the exact failure next to the button.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_settings_and_test_message() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let mail = MailServer::start();
    let dir = DataDir::new();
    dir.standard();
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let srv = Server::start(&dir.path).await;
    b.goto(&format!("{}/admin/", srv.url)).await;
    b.fill("form", "password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.text_contains("h1", "Overview").await;
    b.click("nav a[href='#notifications']").await;
    b.text_contains("h1", "Notifications").await;

    let rcpt = "form[aria-label='Recipients']";
    b.fill(rcpt, "recipients", "secops@example.com\nnot an address")
        .await;
    b.click(&format!("{rcpt} button[type=submit]")).await;
    b.field_error(rcpt, "recipients", "not an e-mail address")
        .await;
    b.fill(rcpt, "recipients", "secops@example.com").await;
    b.click(&format!("{rcpt} button[type=submit]")).await;
    b.text_contains(&format!("{rcpt} .form-notice"), "Saved")
        .await;

    let smtp = "form[aria-label='SMTP server']";
    // A port with nothing behind it first.
    let dead = free_port();
    b.fill(smtp, "host", "127.0.0.1").await;
    b.fill(smtp, "port", &dead.to_string()).await;
    b.find(&format!("{smtp} [name=encryption]"))
        .await
        .select_by_value("none")
        .await
        .expect("select");
    b.fill(smtp, "from", "profilegate@example.com").await;
    b.fill(smtp, "timeout_ms", "99999").await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.field_error(smtp, "timeout_ms", "between 100 and 4000")
        .await;
    b.fill(smtp, "timeout_ms", "2000").await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.text_contains(&format!("{smtp} .form-notice"), "Saved")
        .await;

    let test = "form[aria-label='Send a test e-mail']";
    b.click(&format!("{test} button[type=submit]")).await;
    let e = b.field_error(test, "test", "NOT sent").await;
    assert!(e.contains("connection refused"), "{e}");
    b.shot("notifications-error").await;

    // Now the real mail server.
    b.fill(smtp, "port", &mail.addr.port().to_string()).await;
    b.click(&format!("{smtp} button[type=submit]")).await;
    b.text_contains(&format!("{smtp} .form-notice"), "Saved")
        .await;
    b.click(&format!("{test} button[type=submit]")).await;
    b.text_contains(
        &format!("{test} .form-notice"),
        "Sent to secops@example.com",
    )
    .await;
    let got = mail.mails();
    assert_eq!(got.len(), 1);
    assert!(got[0].text().contains("test message"), "{}", got[0].data);

    b.click("nav a[href='#overview']").await;
    b.text_contains("[data-check=smtp]", "SMTP server set and tested")
        .await;
    let done = b
        .find("[data-check=smtp]")
        .await
        .attr("data-done")
        .await
        .unwrap();
    assert_eq!(done.as_deref(), Some("true"));

    b.close().await;
    srv.stop().await;
}

/// The processes below `root` (children, their children, ...), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // The parent is the second field after the command name, which may hold spaces.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if let Some(ppid) = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// A test that fails mid-session (a panic, then its runtime is gone) leaves no browser
/// process behind: chromedriver runs in its own process group, ended whole on drop.
#[test]
fn a_failed_browser_test_leaves_no_browser_behind() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<Vec<u32>>));
    let seen2 = seen.clone();
    let failed = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let Some(b) = Browser::start().await else {
                return;
            };
            b.goto("about:blank").await;
            *seen2.lock().unwrap() = Some(descendants(b.driver.id()));
            panic!("a simulated test failure with the browser open");
        })
    })
    .join()
    .is_err();
    let Some(browser) = seen.lock().unwrap().clone() else {
        return; // skipped: no chromedriver here
    };
    assert!(failed, "the simulated failure happened");
    assert!(!browser.is_empty(), "chromium ran under chromedriver");
    // Running, that is: a zombie has ended (and here nobody may reap it).
    let alive = |pids: &[u32]| -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                    let state = s.rsplit_once(')').map_or("", |(_, rest)| rest.trim_start());
                    !state.starts_with('Z') && !state.starts_with('X')
                })
            })
            .collect()
    };
    for _ in 0..100 {
        if alive(&browser).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Clean up before failing, so one failure does not leave them either.
    for p in alive(&browser) {
        let _ = Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    panic!("browser processes left behind: {:?}", alive(&browser));
}
