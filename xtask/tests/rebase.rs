//! `cargo xtask rebase` on tiny synthetic "releases": real git, no network.

use std::fs;
use std::path::Path;

use xtask::fork::{commit_base_of, export};
use xtask::git::Git;
use xtask::process::output;
use xtask::rebase::{rebase_series, Outcome, Plan, FROM_REF};

/// Release `version` of a tiny crate; `line` is the body of `one()`.
fn write_release(dir: &Path, line: &str, readme: &str) {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("Cargo.toml"), "[package]\nname = \"tiny\"\n").unwrap();
    fs::write(dir.join("README.md"), readme).unwrap();
    fs::write(
        dir.join("src/lib.rs"),
        format!("pub fn zero() -> u32 {{\n    0\n}}\n\npub fn one() -> u32 {{\n    {line}\n}}\n\npub fn two() -> u32 {{\n    2\n}}\n"),
    )
    .unwrap();
}

fn user_commit(git: &Git, message: &str) {
    let mut cmd = git.cmd(["commit", "-q", "-a", "-m", message]);
    cmd.env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com");
    output(cmd).unwrap();
}

/// Replaces `from` with `to` in `git`'s `src/lib.rs` and commits that as
/// the user, with `message`.
fn commit_lib_edit(git: &Git, (from, to): (&str, &str), message: &str) {
    let lib = git.dir().join("src/lib.rs");
    let text = fs::read_to_string(&lib).unwrap();
    fs::write(&lib, text.replace(from, to)).unwrap();
    user_commit(git, message);
}

/// A fork of release 1.0.0 with two patches (the first rewrites `one()`'s
/// body, the second touches `two()`), exported into `<tmp>/patches`; and
/// release 1.0.1 of the crate, whose `one()` body is `upstream_one`.
fn setup(tmp: &Path, upstream_one: &str) -> Plan {
    let from = Git::new(tmp.join("from"));
    write_release(from.dir(), "1", "# tiny\n");
    commit_base_of(&from, "1.0.0").unwrap();
    commit_lib_edit(
        &from,
        ("    1\n", "    probes::poll();\n    1\n"),
        "rt: count polls\n\nWhy: to count them.",
    );
    commit_lib_edit(
        &from,
        ("    2\n", "    probes::two();\n    2\n"),
        "rt: count twos",
    );
    let patches = tmp.join("patches");
    export(&from, &tmp.join("scratch"))
        .unwrap()
        .write_dir(&patches)
        .unwrap();

    let onto = tmp.join("pristine-1.0.1");
    write_release(&onto, upstream_one, "# tiny\n\nNow with docs.\n");
    Plan {
        from_repo: from.dir().to_owned(),
        from_patches: patches,
        from_version: "1.0.0".into(),
        onto_pristine: onto,
        onto_version: "1.0.1".into(),
        dest: tmp.join("vendor/tiny-1.0.1-pulse"),
        scratch: tmp.join("scratch"),
        onto_series: None,
    }
}

#[test]
fn a_clean_rebase_carries_every_patch_and_drops_its_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = setup(tmp.path(), "1");
    let Outcome::Applied(set) = rebase_series(&plan).unwrap() else {
        panic!("expected the series to apply")
    };
    assert_eq!(
        set.names(),
        ["0001-rt-count-polls.patch", "0002-rt-count-twos.patch"]
    );
    let lib = fs::read_to_string(plan.dest.join("src/lib.rs")).unwrap();
    assert!(lib.contains("probes::poll();\n    1\n") && lib.contains("probes::two()"));
    // The upstream change is there too, and the base commit names the release.
    let readme = fs::read_to_string(plan.dest.join("README.md")).unwrap();
    assert!(readme.contains("Now with docs."), "{readme}");
    let git = Git::new(&plan.dest);
    let base = git.run(["log", "-1", "--format=%s", "pristine"]).unwrap();
    assert_eq!(base.trim(), "tokio 1.0.1 as published");
    assert!(git
        .run(["rev-parse", "--verify", "--quiet", FROM_REF])
        .is_err());
}

#[test]
fn a_conflict_names_the_patch_files_upstream_change_and_how_to_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = setup(tmp.path(), "ONE");
    let Outcome::Conflict(message) = rebase_series(&plan).unwrap() else {
        panic!("expected a conflict")
    };
    let dest = plan.dest.display().to_string();
    for needle in [
        "patch 0001-rt-count-polls.patch",
        "does not apply to tokio 1.0.1",
        "src/lib.rs: upstream changed it between 1.0.0 and 1.0.1: 1 file changed, 1 insertion(+), 1 deletion(-)",
        &format!("git -C {dest} diff refs/pulse/from-pristine pristine -- <file>"),
        &format!("git -C {dest} am --continue"),
        "the 1 patch(es) after it",
        "cargo xtask patches --tokio 1.0.1",
        "am --abort",
    ] {
        assert!(message.contains(needle), "{needle:?} missing from:\n{message}");
    }
    assert!(!message.contains("README.md"), "{message}");

    // The session is open: resolve, continue, and the rest of the series follows.
    let lib = plan.dest.join("src/lib.rs");
    let text = fs::read_to_string(&lib).unwrap();
    assert!(text.contains("<<<<<<<"), "{text}");
    fs::write(
        &lib,
        "pub fn zero() -> u32 {\n    0\n}\n\npub fn one() -> u32 {\n    probes::poll();\n    ONE\n}\n\npub fn two() -> u32 {\n    2\n}\n",
    )
    .unwrap();
    let git = Git::new(&plan.dest);
    git.run(["add", "src/lib.rs"]).unwrap();
    let mut cont = git.cmd(["am", "--continue"]);
    cont.env("GIT_EDITOR", "true");
    output(cont).unwrap();
    let set = export(&git, &plan.scratch).unwrap();
    assert_eq!(set.patches.len(), 2);
    assert!(fs::read_to_string(&lib).unwrap().contains("probes::two()"));
}

#[test]
fn a_second_rebase_carries_only_the_new_patches_and_keeps_earlier_resolutions() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = setup(tmp.path(), "ONE");
    let Outcome::Conflict(_) = rebase_series(&plan).unwrap() else {
        panic!("expected a conflict")
    };
    // Resolved by hand, with a message that says why this base differs.
    let resolved = "pub fn zero() -> u32 {\n    0\n}\n\npub fn one() -> u32 {\n    probes::poll();\n    ONE\n}\n\npub fn two() -> u32 {\n    2\n}\n";
    fs::write(plan.dest.join("src/lib.rs"), resolved).unwrap();
    let git = Git::new(&plan.dest);
    git.run(["add", "src/lib.rs"]).unwrap();
    let mut cont = git.cmd(["am", "--continue"]);
    cont.env("GIT_EDITOR", "true");
    output(cont).unwrap();
    let onto_series = tmp.path().join("patches-1.0.1");
    export(&git, &plan.scratch)
        .unwrap()
        .write_dir(&onto_series)
        .unwrap();

    // Upstream work goes on: a third patch on the --from base.
    let from = Git::new(&plan.from_repo);
    commit_lib_edit(
        &from,
        ("    0\n", "    probes::zero();\n    0\n"),
        "rt: count zeros",
    );
    export(&from, &plan.scratch)
        .unwrap()
        .write_dir(&plan.from_patches)
        .unwrap();

    let again = Plan {
        onto_series: Some(onto_series),
        ..plan.clone()
    };
    let Outcome::Applied(set) = rebase_series(&again).unwrap() else {
        panic!("the new patch touches lines upstream did not change")
    };
    assert_eq!(set.patches.len(), 3);
    let lib = fs::read_to_string(plan.dest.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("probes::zero();\n    0") && lib.contains("probes::poll();\n    ONE"),
        "{lib}"
    );
}

/// A patch changed on the `--from` side after it was carried is named (so
/// `rebase` stops on it), until `--mark-carried` records its new form; a
/// patch the target does not carry yet is left for `rebase` to carry.
#[test]
fn a_patch_changed_since_it_was_carried_is_named_until_marked_carried() {
    use xtask::patchset::{Patch, PatchSet};
    use xtask::rebase::{changed_since_carried, mark_carried};

    let patch = |name: &str, body: &str| Patch {
        name: name.to_owned(),
        bytes: body.as_bytes().to_vec(),
    };
    let old = PatchSet {
        patches: vec![patch("0001-a.patch", "a"), patch("0002-b.patch", "b")],
        stale: Vec::new(),
    };
    let mut carried = Vec::new();
    mark_carried(
        &mut carried,
        &old,
        &["0001-a.patch".to_owned(), "0002-b.patch".to_owned()],
    );
    let onto = ["0001-a.patch", "0002-b.patch"];
    assert!(changed_since_carried(&old, &onto, &carried).is_empty());

    let new = PatchSet {
        patches: vec![
            patch("0001-a.patch", "a"),
            patch("0002-b.patch", "b, reworded"),
            patch("0003-c.patch", "c"),
        ],
        stale: Vec::new(),
    };
    let changed = changed_since_carried(&new, &onto, &carried);
    assert_eq!(changed, ["0002-b.patch"]);
    mark_carried(&mut carried, &new, &changed);
    assert!(changed_since_carried(&new, &onto, &carried).is_empty());
    assert_eq!(carried.len(), 2, "0003 is not carried yet: {carried:?}");
}
