use std::io::Write;
use std::path::Path;

use super::import::parse_line_for_tests as parse;
use super::*;

fn sha1_hex(p: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, p.as_bytes());
    hex::encode_upper(d.as_ref())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write input");
    p
}

fn quiet(_: &Progress) {}

#[test]
fn lines_parse_in_both_formats() {
    let h = sha1_hex("password");
    let key = key_of("password");
    assert_eq!(
        parse(format!("{h}:42\r\n").as_bytes()),
        Ok((Some(key), Some(42)))
    );
    assert_eq!(
        parse(format!("{}\n", h.to_lowercase()).as_bytes()),
        Ok((Some(key), None))
    );
    assert_eq!(parse(b"\r\n"), Ok((None, None)));
    for bad in [
        "abc:1",
        &format!("{}:1", &h[..39]),
        &format!("{}x:1", &h[..39]),
        &format!("{h}:"),
        &format!("{h}:1x"),
        &format!("{h};1"),
        &format!("{h}:-1"),
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn import_load_lookup_and_status() {
    let dir = tempfile::tempdir().expect("dir");
    // Mixed case, CRLF, a duplicate, a blank line at the end, enough keys for most shards.
    let mut text = format!(
        "{}:3\r\n{}:1\n",
        sha1_hex("P@ssw0rd"),
        sha1_hex("rare").to_lowercase()
    );
    text.push_str(&format!("{}:7\n", sha1_hex("P@ssw0rd")));
    for i in 0..5000 {
        text.push_str(&format!("{}:{}\n", sha1_hex(&format!("pw{i}")), i % 5 + 1));
    }
    text.push('\n');
    let src = write(dir.path(), "pwned.txt", &text);
    // Into a data dir that does not exist yet.
    let data = dir.path().join("data");
    let meta = import(&data, &src, 1, &mut quiet).expect("import");
    assert_eq!(meta.entries, 5002);
    assert_eq!(meta.source_name, "pwned.txt");
    let f = Filter::load(&path(&data)).expect("load");
    assert_eq!(f.meta(), &meta);
    assert_eq!(filter::read_meta(&path(&data)).expect("meta"), meta);
    for p in ["P@ssw0rd", "rare", "pw0", "pw4999"] {
        assert_eq!(f.check(p), BreachAnswer::Found, "{p}");
    }
    let absent = (0..10_000)
        .filter(|i| f.check(&format!("other{i}")) == BreachAnswer::Found)
        .count();
    assert!(absent <= 2, "{absent} false positives in 10000");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(&data))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary files are left in the data dir.
    let names: Vec<_> = std::fs::read_dir(&data)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // --min-count 3 keeps counts 3, 4, 5 (and P@ssw0rd's 3 and 7).
    let meta = import(&data, &src, 3, &mut quiet).expect("import");
    assert_eq!(meta.entries, 3001);
    let f = Filter::load(&path(&data)).expect("load");
    assert_eq!(f.check("P@ssw0rd"), BreachAnswer::Found);
    assert_eq!(f.check("pw2"), BreachAnswer::Found);
    assert_eq!(f.check("rare"), BreachAnswer::NotFound);
}

#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    // What a killed import left (a pid that cannot be running), and a live one's (ours).
    let abandoned = dir.path().join("breached-import-4294967295-00.tmp");
    let running = dir
        .path()
        .join(format!("breached-import-{}-00.tmp", std::process::id()));
    std::fs::create_dir(&abandoned).expect("mkdir");
    std::fs::create_dir(&running).expect("mkdir");
    let good = write(dir.path(), "good.txt", &format!("{}\n", sha1_hex("first")));
    import(dir.path(), &good, 1, &mut quiet).expect("import");
    let before = std::fs::read(path(dir.path())).expect("read");
    if Path::new("/proc/self").exists() {
        assert!(!abandoned.exists());
    }
    assert!(running.exists());

    let damaged = write(
        dir.path(),
        "damaged.txt",
        &format!("{}:1\n{}:2\nnot a hash\n", sha1_hex("a"), sha1_hex("b")),
    );
    let e = import(dir.path(), &damaged, 1, &mut quiet).expect_err("damaged");
    assert!(matches!(e, BreachedError::BadLine { line: 3, .. }), "{e}");
    assert!(!e.to_string().contains("not a hash"), "{e}");

    let bare = write(dir.path(), "bare.txt", &format!("{}\n", sha1_hex("a")));
    let e = import(dir.path(), &bare, 2, &mut quiet).expect_err("bare");
    assert!(
        matches!(
            e,
            BreachedError::NoCount {
                line: 1,
                min_count: 2
            }
        ),
        "{e}"
    );

    let low = write(dir.path(), "low.txt", &format!("{}:1\n", sha1_hex("a")));
    let e = import(dir.path(), &low, 5, &mut quiet).expect_err("empty");
    assert!(matches!(e, BreachedError::Empty { min_count: 5 }), "{e}");
    let empty = write(dir.path(), "empty.txt", "");
    assert!(import(dir.path(), &empty, 1, &mut quiet).is_err());

    assert_eq!(std::fs::read(path(dir.path())).expect("read"), before);
    let f = Filter::load(&path(dir.path())).expect("load");
    assert_eq!(f.check("first"), BreachAnswer::Found);
}

#[test]
fn a_damaged_filter_file_is_refused_and_the_live_one_stays() {
    let dir = tempfile::tempdir().expect("dir");
    let src = write(
        dir.path(),
        "a.txt",
        &(0..300)
            .map(|i| format!("{}\n", sha1_hex(&format!("x{i}"))))
            .collect::<String>(),
    );
    import(dir.path(), &src, 1, &mut quiet).expect("import");
    let live = Live::default();
    assert!(matches!(
        live.reload_if_changed(dir.path()),
        Ok(Reload::Loaded(_))
    ));
    assert!(matches!(
        live.reload_if_changed(dir.path()),
        Ok(Reload::Unchanged)
    ));

    let p = path(dir.path());
    let good = std::fs::read(&p).expect("read");
    // A flipped bit anywhere: in the header, the table, the checksum or a fingerprint.
    for at in [9, 60, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&p, &bad).expect("write");
        assert!(Filter::load(&p).is_err(), "byte {at}");
    }
    std::fs::write(&p, &good[..good.len() - 3]).expect("write");
    assert!(Filter::load(&p).is_err());
    assert!(live.reload_if_changed(dir.path()).is_err());
    // The one in use still answers.
    let f = live.get().expect("still loaded");
    assert_eq!(f.check("x7"), BreachAnswer::Found);
}

#[test]
fn keys_are_the_first_eight_bytes_of_sha1() {
    // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
    assert_eq!(key_of("password"), 0x5BAA61E4C9B93F3F);
}
