//! Data format stamps: a dir written now is stamped and opens; one stamped newer is refused
//! by `serve` and by an offline command with nothing touched; one of the old format (no stamp,
//! records in their old shape) is migrated once, after a 0600 backup that restores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use profilegate::store::format::{read_stamp, CURRENT_FORMAT, FORMAT_FILE};

use crate::support::*;

/// Every file under `dir` with its bytes and mode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p.clone());
            } else {
                out.insert(
                    p.clone(),
                    (std::fs::read(&p).unwrap(), meta.permissions().mode()),
                );
            }
        }
    }
    out
}

/// Files beside `dir` (in its parent) and inside it whose name says they are a migration's
/// backup.
fn migration_backups(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [dir.parent().unwrap(), dir] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(".format-") && name.contains("-backup-")
                || name.starts_with("format-") && name.contains("-backup-")
            {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_dir_written_now_is_stamped_and_opens() {
    let dir = DataDir::new();
    let o = cli(&dir.path, &["departments", "add", "HR"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stamp = read_stamp(&dir.path).unwrap().expect("a FORMAT file");
    assert_eq!(stamp.format, CURRENT_FORMAT);
    assert!(stamp.readable_by.is_some());
    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("migrated"), "{}", stderr(&o));
    assert!(migration_backups(&dir.path).is_empty());
}

#[test]
fn a_newer_dir_is_refused_by_serve_and_the_cli_with_nothing_touched() {
    let dir = DataDir::new();
    dir.standard();
    let newer = CURRENT_FORMAT + 1;
    std::fs::write(
        dir.path.join(FORMAT_FILE),
        format!("format = {newer}\nreadable_by = \"9.4.0\"\nsomething_new = true\n"),
    )
    .unwrap();
    let before = snapshot(&dir.path);
    let expect = |out: &str| {
        assert!(out.contains(&format!("data format {newer}")), "{out}");
        assert!(
            out.contains(&format!("reads data formats up to {CURRENT_FORMAT}")),
            "{out}"
        );
        assert!(out.contains("Install profilegate 9.4.0 or later"), "{out}");
        assert!(out.contains("restore a backup"), "{out}");
    };

    let o = cli(&dir.path, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(2));
    expect(&stderr(&o));
    let o = cli(&dir.path, &["departments", "add", "Sales"]);
    assert_eq!(o.status.code(), Some(2));
    expect(&stderr(&o));
    let backup = dir.path.parent().unwrap().join("b.pgbackup");
    let o = cli(&dir.path, &["backup", backup.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(!backup.exists());

    let (mut child, out, err) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(!out.contains("serving on"), "{out}");
    expect(&err);

    assert_eq!(snapshot(&dir.path), before, "the data dir changed");
    assert!(migration_backups(&dir.path).is_empty());
}

/// The audit as formats 1 and 2 stored it: each batch a value of the `audit` tree, no index,
/// no segment files.
fn plant_legacy_audit(data: &Path) {
    use profilegate::store::audit::segments::{INDEX_TREE, SEGMENT_DIR};
    let batches = raw_batches(data);
    assert!(!batches.is_empty());
    let db = open_sled(&data.join("db"));
    let audit = db.open_tree("audit").unwrap();
    for (first, value) in batches {
        audit.insert(first.to_be_bytes(), value).unwrap();
    }
    assert!(db.drop_tree(INDEX_TREE).unwrap());
    db.flush().unwrap();
    drop(db);
    std::fs::remove_dir_all(data.join(SEGMENT_DIR)).unwrap();
}

/// What a move to segments that a crash cut short leaves: the first `moved` batches in the
/// index and segment files, the rest in the `audit` tree, and the `dup` batches after the
/// moved ones in both (their pass was indexed but not yet removed from the tree).
fn plant_half_moved(data: &Path, moved: usize, dup: usize) {
    use profilegate::store::audit::segments::INDEX_TREE;
    let batches = raw_batches(data);
    assert!(batches.len() > moved + dup);
    let db = open_sled(&data.join("db"));
    let audit = db.open_tree("audit").unwrap();
    let index = db.open_tree(INDEX_TREE).unwrap();
    for (i, (first, value)) in batches.into_iter().enumerate() {
        if i >= moved {
            audit.insert(first.to_be_bytes(), value).unwrap();
        }
        if i >= moved + dup {
            index.remove(first.to_be_bytes()).unwrap();
        }
    }
    db.flush().unwrap();
}

/// Whether the audit is in segment files with their index, and the `audit` tree gone.
fn audit_in_segments(data: &Path) -> bool {
    use profilegate::store::audit::segments::SEGMENT_DIR;
    let seg = std::fs::read_dir(data.join(SEGMENT_DIR))
        .map(|d| d.count())
        .unwrap_or(0);
    let db = open_sled(&data.join("db"));
    let legacy = db.tree_names().iter().any(|n| n == b"audit".as_slice());
    seg > 0 && !legacy
}

/// Old settings (stored before the password action, forwarding, retention, department sync
/// and the token lifetime existed), a credential without `last_used`, and the audit in the
/// `audit` tree.
fn plant_format_1(data: &Path) {
    plant_legacy_audit(data);
    let db = open_sled(&data.join("db"));
    let settings = db.open_tree("settings").unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&settings.get("settings").unwrap().expect("settings")).unwrap();
    let obj = v.as_object_mut().unwrap();
    for k in [
        "password",
        "department_sync",
        "audit_forward",
        "audit_retention",
        "oauth_token_lifetime_secs",
    ] {
        assert!(obj.remove(k).is_some(), "{k}");
    }
    settings
        .insert("settings", serde_json::to_vec(&v).unwrap())
        .unwrap();
    assert!(settings.remove("format").unwrap().is_some());
    let creds = db.open_tree("credentials").unwrap();
    let (k, c) = creds.iter().next().unwrap().unwrap();
    let mut c: serde_json::Value = serde_json::from_slice(&c).unwrap();
    assert!(c.as_object_mut().unwrap().remove("last_used").is_some());
    creds.insert(k, serde_json::to_vec(&c).unwrap()).unwrap();
    db.flush().unwrap();
    drop(db);
    std::fs::remove_file(data.join(FORMAT_FILE)).unwrap();
}

/// Whether the stored settings and credential carry the fields format 2 writes.
fn normalized(data: &Path) -> bool {
    let db = open_sled(&data.join("db"));
    let s: serde_json::Value = serde_json::from_slice(
        &db.open_tree("settings")
            .unwrap()
            .get("settings")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let (_, c) = db
        .open_tree("credentials")
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .unwrap();
    let c: serde_json::Value = serde_json::from_slice(&c).unwrap();
    s.get("password").is_some()
        && s.get("oauth_token_lifetime_secs").is_some()
        && c.get("last_used").is_some()
}

#[test]
fn an_older_dir_is_migrated_once_after_a_backup_that_restores() {
    use std::os::unix::fs::PermissionsExt;
    let dir = DataDir::new();
    dir.standard();
    dir.with_store(|s| {
        s.update_settings("test", "settings.idempotency", |st| {
            st.idempotency_window_secs = 300
        })
        .unwrap();
    });
    let records_before = stdout(&cli(&dir.path, &["audit", "export"]))
        .lines()
        .count();
    let departments = stdout(&cli(&dir.path, &["departments", "list"]));
    plant_format_1(&dir.path);
    assert!(!normalized(&dir.path));
    assert!(!audit_in_segments(&dir.path));

    // The first open migrates: backup, steps, stamp, chain verified, one log line.
    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let log = stderr(&o);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("migrated")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(&format!("from format 1 to format {CURRENT_FORMAT}")),
        "{log}"
    );
    let backups = migration_backups(&dir.path);
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    assert_eq!(backup.parent(), dir.path.parent(), "beside the data dir");
    assert!(lines[0].contains(&backup.display().to_string()), "{log}");
    let mode = std::fs::metadata(backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        read_stamp(&dir.path).unwrap().unwrap().format,
        CURRENT_FORMAT
    );
    assert!(normalized(&dir.path));
    assert!(audit_in_segments(&dir.path));
    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert_eq!(export.lines().count(), records_before + 1);
    assert!(export.contains("store.migrate"), "{export}");
    assert_eq!(
        stdout(&cli(&dir.path, &["departments", "list"])),
        departments
    );

    // A second open does not migrate again.
    let o = cli(&dir.path, &["departments", "list"]);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("migrated"), "{}", stderr(&o));
    assert_eq!(migration_backups(&dir.path).len(), 1);
    assert_eq!(
        stdout(&cli(&dir.path, &["audit", "export"]))
            .lines()
            .count(),
        records_before + 1
    );

    // The backup holds the format-1 dir; restoring it migrates the restored copy.
    let restored = dir.path.parent().unwrap().join("restored");
    let o = cli(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(normalized(&restored));
    assert!(audit_in_segments(&restored));
    assert_eq!(
        read_stamp(&restored).unwrap().unwrap().format,
        CURRENT_FORMAT
    );
    let o = cli(&restored, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        stdout(&cli(&restored, &["audit", "export"]))
            .lines()
            .count(),
        records_before + 1
    );
}

/// A format-2 dir (0.2.0 kept the audit batches as values of the `audit` tree) moves them into
/// segment files at its first open, after a backup, in passes; a move a crash cut short (half
/// the batches moved, one pass in both places) reads as one chain, is backed up whole and
/// goes on from there.
#[test]
fn a_format_2_dir_moves_its_audit_into_segment_files() {
    let dir = DataDir::new();
    let cred = dir.standard();
    dir.with_store(|s| {
        // Over two passes of the move (512 batches each) after the moved half.
        for i in 0..1200 {
            s.append_audit(&profilegate::model::AuditEntry::Admin(
                profilegate::model::AdminEntry {
                    actor: "test".into(),
                    action: format!("change {i}"),
                    before: None,
                    after: None,
                },
            ))
            .unwrap();
        }
        s.flush().unwrap();
    });
    let export_before = stdout(&cli(&dir.path, &["audit", "export"]));
    // A move a crash cut short: 150 batches moved, the 3 after them in both places.
    plant_half_moved(&dir.path, 150, 3);
    {
        let db = open_sled(&dir.path.join("db"));
        db.open_tree("settings")
            .unwrap()
            .insert("format", 2u32.to_be_bytes().as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    std::fs::write(
        dir.path.join(FORMAT_FILE),
        "format = 2\nreadable_by = \"0.2.0\"\n",
    )
    .unwrap();
    assert!(!audit_in_segments(&dir.path));

    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(&format!("from format 2 to format {CURRENT_FORMAT}")),
        "{}",
        stderr(&o)
    );
    assert!(audit_in_segments(&dir.path));
    let backups = migration_backups(&dir.path);
    assert_eq!(backups.len(), 1);
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(
        export.starts_with(&export_before),
        "the records before are unchanged"
    );
    // The backup taken first holds the whole chain, the moved half too.
    let restored = dir.path.parent().unwrap().join("restored-2");
    let o = cli(&restored, &["restore", backups[0].to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&cli(&restored, &["audit", "export"])).starts_with(&export_before));
    let migrate = export.lines().last().unwrap();
    assert!(migrate.contains("store.migrate"), "{migrate}");
    assert!(migrate.contains("\"audit_batches\":"), "{migrate}");
    // The server serves on it, and what it writes is kept.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let srv = Server::start(&dir.path).await;
        let r = post(
            &srv.action_url(),
            &Auth::of(&cred),
            profile_event(Some("after-move"), dept(serde_json::json!("HR"))).to_string(),
        )
        .await;
        assert_eq!(r.status, 200);
        srv.stop().await;
    });
    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&cli(&dir.path, &["audit", "export"])).contains("after-move"));
}
