//! `profilegate password ...` through the real binary: keys (generate, list, export, retire,
//! the third key refused), the policy (set, show, a bad value refused, an organization's own
//! rules), `password check` and its exit codes. No output ever carries a private key.

use base64::Engine as _;
use profilegate::store::Store;

use crate::support::*;

/// Every way a private key could leak into the text: PEM armour and the DER as base64.
fn assert_no_private_key(text: &str, pkcs8_b64: &[String]) {
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for k in pkcs8_b64 {
        // Any 64-character stretch of the key's base64 would do; the start is enough to catch
        // the key printed whole or wrapped.
        assert!(!text.contains(&k[..64]), "a private key is in the output");
    }
}

fn private_keys(dir: &DataDir) -> Vec<String> {
    dir.with_store(|s| {
        s.password_keyring()
            .keys()
            .iter()
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.pkcs8_der()))
            .collect()
    })
}

#[test]
fn keys_generate_list_export_retire() {
    let dir = DataDir::new();
    let p = &dir.path;
    let mut outputs = String::new();
    let mut run = |args: &[&str]| {
        let o = cli(p, args);
        outputs.push_str(&stdout(&o));
        outputs.push_str(&stderr(&o));
        o
    };
    let o = run(&["password", "keys", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("No password-sharing keys"),
        "{}",
        stdout(&o)
    );
    let o = run(&["password", "keys", "generate", "--bits", "1024"]);
    assert!(!o.status.success());

    let o = run(&["password", "keys", "generate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("(RSA 2048)"), "{text}");
    assert!(text.contains("-----BEGIN CERTIFICATE-----"), "{text}");
    assert!(text.contains("\nLS0tLS1CRUdJTi"), "{text}");
    let first = text
        .strip_prefix("Generated password-sharing key ")
        .and_then(|t| t.split_whitespace().next())
        .expect("the id")
        .to_string();

    let o = run(&["password", "keys", "generate", "--bits", "3072"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(RSA 3072)"));

    // A third is refused, naming the keys to retire.
    let o = run(&["password", "keys", "generate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&first), "{}", stderr(&o));
    assert!(stderr(&o).contains("retire"), "{}", stderr(&o));

    let list = stdout(&run(&["password", "keys", "list"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.lines().nth(1).unwrap().starts_with(&first),
        "newest first: {list}"
    );

    let pem = stdout(&run(&["password", "keys", "export", &first]));
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let b64 = stdout(&run(&["password", "keys", "export", &first, "--base64"]));
    assert!(b64.starts_with("LS0tLS1CRUdJTi"), "{b64}");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap().trim(), pem.trim());

    let keys = private_keys(&dir);
    assert_eq!(keys.len(), 2);

    let o = run(&["password", "keys", "retire", &first]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Retired"));
    assert!(!run(&["password", "keys", "export", &first])
        .status
        .success());
    assert!(!run(&["password", "keys", "retire", &first])
        .status
        .success());
    let list = stdout(&run(&["password", "keys", "list"]));
    assert!(list.contains("retired"), "{list}");
    assert!(run(&["password", "keys", "generate"]).status.success());

    // The chain verifies and names ids and fingerprints only.
    assert!(run(&["audit", "verify"]).status.success());
    let export = stdout(&run(&["audit", "export"]));
    assert!(export.contains("password.keys.retire"), "{export}");
    assert!(!export.contains("BEGIN"), "{export}");
    let mut all = private_keys(&dir);
    all.extend(keys);
    assert_no_private_key(&outputs, &all);
    assert_no_private_key(&export, &all);

    // Every file holding them is private to the owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fn walk(p: &std::path::Path) {
            let mode = std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", p.display());
            if p.is_dir() {
                for e in std::fs::read_dir(p).unwrap() {
                    walk(&e.unwrap().path());
                }
            }
        }
        walk(p);
    }
}

#[test]
fn policy_set_show_and_a_bad_value_refused() {
    let dir = DataDir::new();
    let p = &dir.path;
    let show = stdout(&cli(p, &["password", "policy", "show"]));
    assert!(show.contains("min length: 15"), "{show}");
    assert!(show.contains("e-mail for password events: none"), "{show}");

    // Below the single-factor floor: refused with the field's name, nothing stored.
    let o = cli(p, &["password", "policy", "set", "--min-length", "8"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("min_length"), "{}", stderr(&o));
    let o = cli(p, &["password", "policy", "set", "--max-length", "20"]);
    assert!(stderr(&o).contains("max_length"), "{}", stderr(&o));
    assert!(!cli(p, &["password", "policy", "set"]).status.success());
    assert!(stdout(&cli(p, &["password", "policy", "show"])).contains("min length: 15"));

    // An organization gets its own (MFA: 8 allowed); the root and others keep 15.
    let o = cli(
        p,
        &[
            "password",
            "policy",
            "set",
            "--org",
            "org-1",
            "--mfa",
            "--min-length",
            "8",
            "--contains",
            "on",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("min length: 8"), "{}", stdout(&o));
    let org1 = stdout(&cli(p, &["password", "policy", "show", "--org", "org-1"]));
    assert!(
        org1.contains("(its own)") && org1.contains("contains context words: on"),
        "{org1}"
    );
    let org2 = stdout(&cli(p, &["password", "policy", "show", "--org", "org-2"]));
    assert!(
        org2.contains("min length: 15") && org2.contains("root organization's"),
        "{org2}"
    );

    // JSON round trip through --file.
    let json = stdout(&cli(
        p,
        &["password", "policy", "show", "--org", "org-1", "--json"],
    ));
    let file = p.parent().unwrap().join("rules.json");
    std::fs::write(&file, &json).unwrap();
    let o = cli(
        p,
        &[
            "password",
            "policy",
            "set",
            "--org",
            "org-3",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("min length: 8"));
    std::fs::write(&file, r#"{"min_length": 4}"#).unwrap();
    let o = cli(
        p,
        &[
            "password",
            "policy",
            "set",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(stderr(&o).contains("min_length"), "{}", stderr(&o));

    let o = cli(p, &["password", "policy", "reset", "--org", "org-3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(p, &["password", "policy", "notify", "admin-initiated"]);
    assert!(
        stdout(&o).contains("password events: admin-initiated"),
        "{}",
        stdout(&o)
    );
    assert!(cli(p, &["audit", "verify"]).status.success());
}

#[test]
fn check_exit_codes_and_nothing_stored() {
    let dir = DataDir::new();
    let p = &dir.path;
    let before = stdout(&cli(p, &["audit", "export"]));
    let o = cli_with_input(
        p,
        &["password", "check"],
        Some("correct horse battery staple\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("accepted"), "{}", stdout(&o));

    let o = cli_with_input(p, &["password", "check"], Some("tangerine-owl\n"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("rejected by rule min_length"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("at least 15"), "{}", stdout(&o));
    let o = cli_with_input(p, &["password", "check"], Some("iloveyouiloveyou"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !stdout(&o).contains("iloveyou"),
        "the password is not echoed"
    );

    // An organization with MFA rules accepts the shorter one.
    assert!(cli(
        p,
        &[
            "password",
            "policy",
            "set",
            "--org",
            "org-1",
            "--mfa",
            "--min-length",
            "8"
        ]
    )
    .status
    .success());
    let o = cli_with_input(
        p,
        &["password", "check", "--org", "org-1"],
        Some("tangerine-owl\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let after = stdout(&cli(p, &["audit", "export"]));
    assert_eq!(
        after.lines().count(),
        before.lines().count() + 1,
        "only the policy change"
    );
}

/// Keys travel in backups: restored into an empty dir, the same keys are listed and export the
/// same certificate. Key commands, like the others, refuse a data dir a server holds.
#[tokio::test(flavor = "multi_thread")]
async fn keys_come_back_from_a_backup_and_a_running_server_is_named() {
    let dir = DataDir::new();
    let p = dir.path.clone();
    let o = cli(&p, &["password", "keys", "generate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&cli(&p, &["password", "keys", "list"]));
    let id = list.split_whitespace().next().unwrap().to_string();
    let pem = stdout(&cli(&p, &["password", "keys", "export", &id]));

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pg.backup");
    assert!(cli(&p, &["backup", file.to_str().unwrap()])
        .status
        .success());
    let restored = tmp.path().join("restored");
    let o = cli(&restored, &["restore", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&cli(&restored, &["password", "keys", "list"])), list);
    assert_eq!(
        stdout(&cli(&restored, &["password", "keys", "export", &id])),
        pem
    );
    let keys = |d: &std::path::Path| {
        Store::open(d)
            .unwrap()
            .password_keyring()
            .keys()
            .iter()
            .map(|k| k.pkcs8_der().to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&restored), keys(&p));

    let srv = Server::start(&p).await;
    let q = p.clone();
    let o = tokio::task::spawn_blocking(move || cli(&q, &["password", "keys", "generate"]))
        .await
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("in use by a running profilegate server"),
        "{}",
        stderr(&o)
    );
    srv.stop().await;
    assert_eq!(stdout(&cli(&p, &["password", "keys", "list"])), list);
}
