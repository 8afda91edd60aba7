//! End-to-end tests of the export and fork protocols on tiny git repositories.
//!
//! They must pass on a machine with no git identity: the code under test sets
//! its own, and commits made here pass one through the environment.

use std::fs;
use std::path::Path;

use xtask::fork::{apply, check_patches, commit_base, export, sync, write_patches, Record};
use xtask::git::Git;
use xtask::patchset::{PatchSet, FIXED_DATE_HEADER};
use xtask::process::output;
use xtask::Paths;

/// Writes a small "crate" into `dir`.
fn write_base(dir: &Path) {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("Cargo.toml"), "[package]\nname = \"tiny\"\n").unwrap();
    fs::write(dir.join("README.md"), "# tiny\n\nA crate.\n").unwrap();
    fs::write(dir.join("src/lib.rs"), "pub fn one() -> u32 {\n    1\n}\n").unwrap();
}

/// Commits everything in `git`'s work tree as a user would: own author,
/// a real-looking date.
fn user_commit(git: &Git, message: &str, date: &str) {
    let mut cmd = git.cmd(["commit", "-q", "-a", "-m", message]);
    cmd.env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date);
    output(cmd).unwrap();
}

/// Two commits on top of the base in `dir`.
fn two_commits(git: &Git) {
    let dir = git.dir();
    fs::write(
        dir.join("src/lib.rs"),
        "pub fn one() -> u32 {\n    1\n}\n\npub fn two() {}\n",
    )
    .unwrap();
    user_commit(
        git,
        "lib: add two\n\nBecause two follows one.",
        "2025-03-04T12:34:56+01:00",
    );
    fs::write(dir.join("README.md"), "# tiny\n\nA crate, patched.\n").unwrap();
    user_commit(
        git,
        "readme: say it is patched",
        "2025-03-05T08:00:00-05:00",
    );
}

#[test]
fn export_is_deterministic_and_round_trips_through_git_am() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("scratch");
    let first = Git::new(tmp.path().join("first"));
    write_base(first.dir());
    commit_base(&first).unwrap();
    two_commits(&first);

    let a = export(&first, &scratch).unwrap();
    let b = export(&first, &scratch).unwrap();
    assert_eq!(a, b, "two exports of the same commits differ");
    assert_eq!(
        a.names(),
        [
            "0001-lib-add-two.patch",
            "0002-readme-say-it-is-patched.patch"
        ]
    );
    for patch in &a.patches {
        let text = String::from_utf8(patch.bytes.clone()).unwrap();
        assert!(
            text.starts_with("From 0000000000000000000000000000000000000000 "),
            "{text}"
        );
        assert!(text.contains(&format!("\n{FIXED_DATE_HEADER}\n")), "{text}");
        assert!(
            text.contains("\nFrom: A U Thor <author@example.com>\n"),
            "{text}"
        );
        assert!(!text.contains("2025"), "a real date leaked: {text}");
        assert!(!text.ends_with("-- \n2."), "signature present: {text}");
    }

    // A fresh base, the exported patches applied with `git am`, exported again.
    let patches = tmp.path().join("patches");
    a.write_dir(&patches).unwrap();
    let second = Git::new(tmp.path().join("second"));
    write_base(second.dir());
    commit_base(&second).unwrap();
    for name in a.names() {
        apply(&second, &patches.join(name)).unwrap();
    }
    let c = export(&second, &scratch).unwrap();
    assert_eq!(a, c, "export differs after a round trip through git am");
    // Same base commit everywhere: fixed identity and date.
    let head = |g: &Git| g.run(["rev-parse", "pristine", "HEAD"]).unwrap();
    assert_eq!(head(&first).lines().next(), head(&second).lines().next());
    assert!(!scratch
        .join(format!("export-{}", std::process::id()))
        .exists());
}

/// A repository root in a temp dir, and a fake pristine tree beside it.
struct Fixture {
    _tmp: tempfile::TempDir,
    paths: Paths,
    pristine: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let pristine = tmp.path().join("pristine");
        write_base(&pristine);
        fs::write(pristine.join(".pulse-pristine"), "marker, not copied\n").unwrap();
        let paths = Paths::new(tmp.path().join("repo"));
        fs::create_dir_all(paths.patches()).unwrap();
        fs::write(paths.patches().join("series"), "# no patches yet\n").unwrap();
        Self {
            _tmp: tmp,
            paths,
            pristine,
        }
    }

    fn fork(&self, force: bool) -> anyhow::Result<()> {
        sync(&self.paths, force, || Ok(self.pristine.clone()))
    }

    fn vendor(&self) -> Git {
        Git::new(self.paths.vendor_tokio())
    }

    fn commits_since_pristine(&self) -> usize {
        self.vendor()
            .run(["rev-list", "pristine..HEAD"])
            .unwrap()
            .lines()
            .count()
    }
}

fn err(result: anyhow::Result<()>) -> String {
    format!("{:#}", result.expect_err("expected an error"))
}

#[test]
fn fork_protocol() {
    let f = Fixture::new();

    // Fresh: materialized with zero patches; then current; marker not copied.
    f.fork(false).unwrap();
    assert_eq!(f.commits_since_pristine(), 0);
    assert!(!f.paths.vendor_tokio().join(".pulse-pristine").exists());
    f.fork(false).unwrap();
    check_patches(&f.paths).unwrap();

    // Uncommitted edits: fork and check refuse, naming the file.
    let readme = f.paths.vendor_tokio().join("README.md");
    fs::write(&readme, "edited\n").unwrap();
    assert!(err(f.fork(false)).contains("README.md"));
    assert!(err(check_patches(&f.paths)).contains("README.md"));

    // Committed but not exported: both refuse, naming the patch file.
    user_commit(&f.vendor(), "readme: edit", "2025-01-01T00:00:00Z");
    let e = err(f.fork(false));
    assert!(
        e.contains("0001-readme-edit.patch") && e.contains("cargo xtask patches"),
        "{e}"
    );
    assert!(err(check_patches(&f.paths)).contains("0001-readme-edit.patch"));

    // Export: patches/ now holds it, and everything agrees.
    write_patches(&f.paths, false).unwrap();
    let series = fs::read_to_string(f.paths.patches().join("series")).unwrap();
    assert!(
        series.lines().any(|l| l == "0001-readme-edit.patch"),
        "{series}"
    );
    check_patches(&f.paths).unwrap();
    f.fork(false).unwrap();

    // From nothing, the same vendor/tokio comes back.
    let exported = PatchSet::read_dir(&f.paths.patches()).unwrap();
    fs::remove_dir_all(f.paths.vendor_tokio()).unwrap();
    f.fork(false).unwrap();
    assert_eq!(f.commits_since_pristine(), 1);
    check_patches(&f.paths).unwrap();
    assert_eq!(
        export(&f.vendor(), &f.paths.scratch()).unwrap().patches,
        exported.patches
    );

    // patches/ changes under it (a pull): fork rebuilds without --force, but
    // `patches` refuses to write over the change.
    fs::remove_file(f.paths.patches().join("0001-readme-edit.patch")).unwrap();
    fs::write(f.paths.patches().join("series"), "# none\n").unwrap();
    let e = err(write_patches(&f.paths, false));
    assert!(
        e.contains("patches/ changed") && e.contains("0001-readme-edit.patch"),
        "{e}"
    );
    let e = err(check_patches(&f.paths));
    assert!(e.contains("cargo xtask fork"), "{e}");
    f.fork(false).unwrap();
    assert_eq!(f.commits_since_pristine(), 0);
    check_patches(&f.paths).unwrap();

    // A patch that does not apply: named; the record says failed; a retry
    // fails the same way; fixing patches/ recovers without --force.
    let bad = exported.patches[0].bytes.clone();
    let bad = String::from_utf8(bad)
        .unwrap()
        .replace("-# tiny", "-# not there");
    fs::write(f.paths.patches().join("0001-readme-edit.patch"), bad).unwrap();
    fs::write(f.paths.patches().join("series"), "0001-readme-edit.patch\n").unwrap();
    assert!(err(f.fork(false)).contains("patches/0001-readme-edit.patch does not apply"));
    let record = Record::read(&f.paths.applied_record()).unwrap();
    assert!(!record.complete);
    assert!(err(f.fork(false)).contains("0001-readme-edit.patch"));
    exported.write_dir(&f.paths.patches()).unwrap();
    f.fork(false).unwrap();
    assert_eq!(f.commits_since_pristine(), 1);

    // Missing series entry: a clear error, and vendor/tokio is untouched.
    fs::write(
        f.paths.patches().join("series"),
        "0001-readme-edit.patch\n0002-gone.patch\n",
    )
    .unwrap();
    assert!(err(f.fork(true)).contains("0002-gone.patch"));
    assert_eq!(f.commits_since_pristine(), 1);

    // --force discards vendor's own commits.
    exported.write_dir(&f.paths.patches()).unwrap();
    fs::write(&readme, "more\n").unwrap();
    user_commit(&f.vendor(), "readme: more", "2025-01-02T00:00:00Z");
    assert!(err(f.fork(false)).contains("0002-readme-more.patch"));
    f.fork(true).unwrap();
    assert_eq!(f.commits_since_pristine(), 1);
    check_patches(&f.paths).unwrap();
}

#[test]
fn check_without_vendor_is_fine_and_patches_needs_it() {
    let f = Fixture::new();
    check_patches(&f.paths).unwrap();
    assert!(err(write_patches(&f.paths, false)).contains("cargo xtask fork"));
}

#[test]
fn vendor_without_repo_is_refused_unless_forced() {
    let f = Fixture::new();
    fs::create_dir_all(f.paths.vendor_tokio()).unwrap();
    let e = err(f.fork(false));
    assert!(
        e.contains("not a git repository") && e.contains("--force"),
        "{e}"
    );
    assert!(err(check_patches(&f.paths)).contains("not a git repository"));
    f.fork(true).unwrap();
    assert_eq!(f.commits_since_pristine(), 0);
}

/// Runs a user's git command in `git`'s work tree (own identity).
fn user_git(git: &Git, args: &[&str]) -> String {
    let mut cmd = git.cmd(args);
    cmd.env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "A U Thor")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_DATE", "2025-02-01T00:00:00Z");
    output(cmd).unwrap()
}

/// A fixture whose vendor/tokio holds one exported patch, and a "pull" that
/// changes patches/ afterwards (so `fork` wants to rebuild).
fn exported_then_pulled() -> (Fixture, PatchSet) {
    let f = Fixture::new();
    f.fork(false).unwrap();
    fs::write(f.paths.vendor_tokio().join("README.md"), "edited\n").unwrap();
    user_commit(&f.vendor(), "readme: edit", "2025-01-01T00:00:00Z");
    write_patches(&f.paths, false).unwrap();
    let exported = PatchSet::read_dir(&f.paths.patches()).unwrap();
    (f, exported)
}

fn pull(f: &Fixture) {
    fs::remove_file(f.paths.patches().join("0001-readme-edit.patch")).unwrap();
    fs::write(f.paths.patches().join("series"), "# none\n").unwrap();
}

#[test]
fn a_rebuild_refuses_to_delete_branches_stashes_and_tags_unless_forced() {
    // A branch with a commit HEAD does not have.
    let (f, _) = exported_then_pulled();
    let v = f.vendor();
    user_git(&v, &["checkout", "-q", "-b", "wip"]);
    fs::write(f.paths.vendor_tokio().join("src/lib.rs"), "// wip\n").unwrap();
    user_commit(&v, "lib: work in progress", "2025-01-02T00:00:00Z");
    user_git(&v, &["checkout", "-q", "main"]);
    pull(&f);
    let e = err(f.fork(false));
    assert!(
        e.contains("branch `wip`") && e.contains("lib: work in progress") && e.contains("--force"),
        "{e}"
    );
    assert_eq!(f.commits_since_pristine(), 1, "vendor/tokio was rebuilt");
    // Other commands that rebuild it (they all call the same sync) refuse too,
    // and `--force` deletes it.
    f.fork(true).unwrap();
    assert_eq!(f.commits_since_pristine(), 0);

    // A stash.
    let (f, _) = exported_then_pulled();
    fs::write(f.paths.vendor_tokio().join("src/lib.rs"), "// stashed\n").unwrap();
    user_git(&f.vendor(), &["stash", "push", "-q", "-m", "half a fix"]);
    pull(&f);
    let e = err(f.fork(false));
    assert!(e.contains("stash@{0}") && e.contains("half a fix"), "{e}");
    assert_eq!(f.commits_since_pristine(), 1);

    // A tag of the user's, on a commit HEAD has: the name is the user's work.
    let (f, _) = exported_then_pulled();
    user_git(&f.vendor(), &["tag", "-a", "-m", "reviewed", "good"]);
    pull(&f);
    let e = err(f.fork(false));
    assert!(e.contains("tag `good`"), "{e}");

    // A detached HEAD away from a branch that holds its own commit.
    let (f, _) = exported_then_pulled();
    let v = f.vendor();
    fs::write(f.paths.vendor_tokio().join("src/lib.rs"), "// more\n").unwrap();
    user_commit(&v, "lib: more", "2025-01-03T00:00:00Z");
    user_git(&v, &["checkout", "-q", "--detach", "HEAD~1"]);
    pull(&f);
    let e = err(f.fork(false));
    assert!(
        e.contains("branch `main`") && e.contains("lib: more"),
        "{e}"
    );

    // A linked worktree (it may hold uncommitted work of its own).
    let (f, _) = exported_then_pulled();
    let linked = f.paths.root.join("linked");
    user_git(
        &f.vendor(),
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            linked.to_str().unwrap(),
        ],
    );
    pull(&f);
    let e = err(f.fork(false));
    assert!(
        e.contains("linked worktree at") && e.contains("linked"),
        "{e}"
    );
    eprintln!("{e}");
}

#[test]
fn a_rebuild_goes_ahead_when_every_ref_is_on_head() {
    // A branch the user made and left at HEAD's history holds nothing that
    // the rebuild would lose: no refusal.
    let (f, _) = exported_then_pulled();
    user_git(&f.vendor(), &["branch", "old-main", "HEAD~1"]);
    user_git(&f.vendor(), &["checkout", "-q", "-b", "topic"]);
    pull(&f);
    f.fork(false).unwrap();
    assert_eq!(f.commits_since_pristine(), 0);
}
