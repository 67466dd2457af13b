//! Records which commit the binary is built from, for `profilegate --version` and the start-up
//! banner: a support question starts with "which build is this?", and the version number alone
//! does not say. Sets `PROFILEGATE_VERSION` to e.g. `0.3.0 (commit 1a2b3c4d5e6f, 2026-11-30)`.
//!
//! The commit comes from `git` when the source is a checkout, else from the environment
//! (`PROFILEGATE_COMMIT`, and optionally `PROFILEGATE_COMMIT_DATE`, for builds from a tarball),
//! else it is `unknown`. The date is the commit's, not the build's, so two builds of one commit
//! say the same. Local edits not yet committed are not marked.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    println!("cargo:rerun-if-env-changed=PROFILEGATE_COMMIT");
    println!("cargo:rerun-if-env-changed=PROFILEGATE_COMMIT_DATE");

    let from_git = git(&["rev-parse", "--short=12", "HEAD"]).map(|commit| {
        watch_git_refs();
        (commit, git(&["show", "-s", "--format=%cs", "HEAD"]))
    });
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let (commit, date) = from_git
        .or_else(|| env("PROFILEGATE_COMMIT").map(|c| (c, env("PROFILEGATE_COMMIT_DATE"))))
        .unwrap_or_else(|| ("unknown".into(), None));
    let build = match date {
        Some(d) => format!("commit {commit}, {d}"),
        None => format!("commit {commit}"),
    };
    println!(
        "cargo:rustc-env=PROFILEGATE_VERSION={} ({build})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
}

/// Trimmed stdout of a successful `git` run in the package's directory; `None` without git,
/// outside a checkout, or on any failure.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Reruns this script when HEAD moves (a commit, a checkout) and only then: HEAD itself, the
/// branch it points to, and packed-refs (where the branch lives once packed). Paths that do
/// not exist are left out, since cargo would rerun the script on every build for them.
fn watch_git_refs() {
    let path = |args: &[&str]| git(args).map(PathBuf::from);
    let (Some(git_dir), Some(common)) = (
        path(&["rev-parse", "--absolute-git-dir"]),
        path(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) else {
        return;
    };
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(&branch));
        watched.push(git_dir.join(&branch));
    }
    for p in watched.iter().filter(|p| Path::new(p).is_file()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
