//! The swap and undo file protocol, on disk.

use super::manifest::tests::APP;
use super::*;

/// A temporary directory that is the checkout (`paths`) and holds a project
/// `app/` with `manifest`; the directory lives as long as the returned guard.
fn app_in_checkout(manifest: &str) -> (tempfile::TempDir, Paths, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path());
    let app = tmp.path().join("app");
    project(&app, manifest);
    (tmp, paths, app)
}

fn project(dir: &Path, manifest: &str) {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::write(dir.join("src").join("lib.rs"), "").unwrap();
}

#[test]
fn swap_and_undo_on_disk_restore_manifest_and_lock_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path().join("checkout"));
    fs::create_dir_all(&paths.root).unwrap();
    let app = tmp.path().join("app");
    project(&app, APP);
    fs::write(app.join("Cargo.lock"), "# lock before\n").unwrap();

    swap_manifest(&paths, &app).unwrap();
    let swapped = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let root = paths.root.canonicalize().unwrap();
    assert!(swapped.contains(&format!("{}", root.join("vendor/tokio").display())));
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml.pulse-backup")).unwrap(),
        APP
    );
    // A second swap changes nothing (and does not overwrite the backup).
    swap_manifest(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), swapped);
    // A build on the fork rewrites the lock file.
    fs::write(app.join("Cargo.lock"), "# lock after a build on the fork\n").unwrap();

    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
    assert_eq!(
        fs::read_to_string(app.join("Cargo.lock")).unwrap(),
        "# lock before\n"
    );
    assert!(!app.join("Cargo.toml.pulse-backup").exists());
    assert!(!app.join("Cargo.lock.pulse-backup").exists());
    // Again: nothing to do, and nothing changes.
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
    assert_eq!(
        fs::read_to_string(app.join("Cargo.lock")).unwrap(),
        "# lock before\n"
    );
}

#[test]
fn undo_removes_a_lock_that_the_swap_build_created_and_keeps_later_edits() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    swap_manifest(&paths, &app).unwrap();
    fs::write(app.join("Cargo.lock"), "# written by a build\n").unwrap();
    let manifest = app.join("Cargo.toml");
    let edited = fs::read_to_string(&manifest)
        .unwrap()
        .replace("# my app", "# my app, edited");
    fs::write(&manifest, &edited).unwrap();

    undo(&paths, &app).unwrap();
    assert!(!app.join("Cargo.lock").exists());
    assert_eq!(
        fs::read_to_string(&manifest).unwrap().trim_end(),
        APP.replace("# my app", "# my app, edited").trim_end()
    );
    // The original is kept, and the swap's own files are gone.
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
        APP
    );
    assert!(!app.join("Cargo.toml.pulse-backup").exists());
    assert!(!app.join("Cargo.lock.pulse-none").exists());
    // A lock written after the undo is the user's: a second undo keeps it.
    fs::write(app.join("Cargo.lock"), "# a build on stock tokio\n").unwrap();
    undo(&paths, &app).unwrap();
    assert!(app.join("Cargo.lock").exists());
}

#[test]
fn undo_after_an_edit_keeps_the_lock_and_a_second_undo_and_a_new_swap_work() {
    // The path: swap, edit, undo (backup kept), swap, undo, undo.
    let (_tmp, paths, app) = app_in_checkout(APP);
    let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
    fs::write(&lock, "# the user's lock\n").unwrap();

    swap_manifest(&paths, &app).unwrap();
    fs::write(&lock, "# written by a build on the fork\n").unwrap();
    let edited = fs::read_to_string(&manifest)
        .unwrap()
        .replace("serde = \"1\"", "serde = \"1.0.200\"");
    fs::write(&manifest, &edited).unwrap();
    let kept = APP.replace("serde = \"1\"", "serde = \"1.0.200\"");

    undo(&paths, &app).unwrap();
    assert_eq!(
        fs::read_to_string(&manifest).unwrap().trim_end(),
        kept.trim_end()
    );
    assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
    // The original manifest is kept, under a name that does not block a new swap.
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
        APP
    );

    // A repeated --undo changes nothing and succeeds.
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
    assert_eq!(
        fs::read_to_string(&manifest).unwrap().trim_end(),
        kept.trim_end()
    );

    // A new swap works, and its undo gives back exactly what it started from.
    let before = fs::read_to_string(&manifest).unwrap();
    swap_manifest(&paths, &app).unwrap();
    assert_ne!(fs::read_to_string(&manifest).unwrap(), before);
    fs::write(&lock, "# fork lock again\n").unwrap();
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&manifest).unwrap(), before);
    assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
    // Only the keepsake of the first cycle is left.
    assert_eq!(swap_files(&app), ["Cargo.toml.pulse-original"]);
}

/// The files in `dir` whose names mention the swap, sorted.
fn swap_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("pulse"))
        .collect();
    names.sort();
    names
}

/// After an undo: the manifest is `APP` again, the lock holds `lock`, and
/// no file of the swap is left.
#[track_caller]
fn assert_undone(app: &Path, lock: &str) {
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
    assert_eq!(fs::read_to_string(app.join("Cargo.lock")).unwrap(), lock);
    let left = swap_files(app);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_interrupted_swap_is_finished_by_swap_or_cleaned_up_by_undo() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
    fs::write(&lock, "# the user's lock\n").unwrap();

    // Stopped after the backup, before the lock record and the manifest.
    fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
    swap_manifest(&paths, &app).unwrap();
    assert_ne!(fs::read_to_string(&manifest).unwrap(), APP);
    fs::write(&lock, "# fork lock\n").unwrap();
    undo(&paths, &app).unwrap();
    assert_undone(&app, "# the user's lock\n");

    // Stopped after the backup and the lock record; then the user builds
    // on stock tokio (a new lock) and runs --undo: nothing of theirs goes.
    fs::remove_file(&lock).unwrap();
    fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
    fs::write(app.join("Cargo.lock.pulse-none"), "").unwrap();
    fs::write(&lock, "# written by a build on stock tokio\n").unwrap();
    undo(&paths, &app).unwrap();
    assert_undone(&app, "# written by a build on stock tokio\n");
    undo(&paths, &app).unwrap();
    assert!(lock.exists());

    // The same state, then swap: it records the lock as it is now.
    fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
    fs::write(app.join("Cargo.lock.pulse-none"), "").unwrap();
    swap_manifest(&paths, &app).unwrap();
    assert!(!app.join("Cargo.lock.pulse-none").exists());
    fs::write(&lock, "# fork lock\n").unwrap();
    undo(&paths, &app).unwrap();
    assert_undone(&app, "# written by a build on stock tokio\n");
}

#[test]
fn an_interrupted_undo_is_finished_by_undo() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
    swap_manifest(&paths, &app).unwrap();
    fs::write(&lock, "# fork lock\n").unwrap();
    // Stopped after the lock step (the lock the build wrote is gone, and
    // so is the record), before the manifest was restored.
    fs::remove_file(&lock).unwrap();
    fs::remove_file(app.join("Cargo.lock.pulse-none")).unwrap();
    fs::write(&lock, "# the user's own lock, made since\n").unwrap();
    undo(&paths, &app).unwrap();
    assert_undone(&app, "# the user's own lock, made since\n");

    // Stopped after the manifest was restored, before the backup went.
    swap_manifest(&paths, &app).unwrap();
    fs::write(&manifest, APP).unwrap();
    fs::remove_file(app.join("Cargo.lock.pulse-backup")).unwrap();
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
    assert!(lock.exists());
    assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));
}

#[test]
fn swap_twice_undo_twice_and_a_half_undone_manifest() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    let manifest = app.join("Cargo.toml");
    swap_manifest(&paths, &app).unwrap();
    let swapped = fs::read_to_string(&manifest).unwrap();
    swap_manifest(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&manifest).unwrap(), swapped);

    // The user takes one entry out by hand: swap refuses and says to
    // undo; undo then works, and so does the next swap.
    let half = remove_entries(&swapped, &targets_for(&paths))
        .unwrap()
        .replace("serde = \"1\"", "serde = \"1.0.1\"");
    let half = edit_manifest(&half, &targets_for(&paths)).unwrap();
    let Edit::Changed { text: half, .. } = half else {
        panic!()
    };
    let doc = half.parse::<DocumentMut>().unwrap();
    let mut doc = doc;
    doc.remove("patch");
    fs::write(&manifest, doc.to_string()).unwrap();
    let err = format!("{:#}", swap_manifest(&paths, &app).unwrap_err());
    assert!(err.contains("cargo xtask swap --undo"), "{err}");
    undo(&paths, &app).unwrap();
    let after = fs::read_to_string(&manifest).unwrap();
    assert!(
        !after.contains("tokio-pulse-rt") && after.contains("1.0.1"),
        "{after}"
    );
    swap_manifest(&paths, &app).unwrap();
    undo(&paths, &app).unwrap();
    undo(&paths, &app).unwrap();
    assert_eq!(fs::read_to_string(&manifest).unwrap(), after);
    assert_eq!(swap_files(&app), ["Cargo.toml.pulse-original"]);
    // A second keepsake does not overwrite the first.
    swap_manifest(&paths, &app).unwrap();
    let edited = fs::read_to_string(&manifest).unwrap() + "# more\n";
    fs::write(&manifest, edited).unwrap();
    undo(&paths, &app).unwrap();
    assert_eq!(
        swap_files(&app),
        ["Cargo.toml.pulse-original", "Cargo.toml.pulse-original.2"]
    );
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
        APP
    );
}

fn targets_for(paths: &Paths) -> Targets {
    Targets::new(&paths.root.canonicalize().unwrap()).unwrap()
}

#[test]
fn undo_without_a_backup_removes_only_the_entries_and_never_the_lock() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    swap_manifest(&paths, &app).unwrap();
    fs::write(app.join("Cargo.lock"), "# fork lock\n").unwrap();
    for f in ["Cargo.toml.pulse-backup", "Cargo.lock.pulse-none"] {
        fs::remove_file(app.join(f)).unwrap();
    }
    undo(&paths, &app).unwrap();
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml"))
            .unwrap()
            .trim_end(),
        APP.trim_end()
    );
    assert!(app.join("Cargo.lock").exists());
}

#[test]
fn an_unreadable_manifest_stops_undo_before_anything_changes() {
    let (_tmp, paths, app) = app_in_checkout(APP);
    fs::write(app.join("Cargo.lock"), "# the user's lock\n").unwrap();
    swap_manifest(&paths, &app).unwrap();
    fs::write(app.join("Cargo.lock"), "# fork lock\n").unwrap();
    fs::write(app.join("Cargo.toml"), "[package\n").unwrap();
    let err = format!("{:#}", undo(&paths, &app).unwrap_err());
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        fs::read_to_string(app.join("Cargo.lock")).unwrap(),
        "# fork lock\n"
    );
    assert_eq!(
        swap_files(&app),
        ["Cargo.lock.pulse-backup", "Cargo.toml.pulse-backup"]
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_manifest_stays_a_symlink_and_keeps_its_mode() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let (tmp, paths, app) = app_in_checkout(APP);
    let shared = tmp.path().join("shared.toml");
    fs::rename(app.join("Cargo.toml"), &shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o640)).unwrap();
    symlink(&shared, app.join("Cargo.toml")).unwrap();

    let check = |expect_swapped: bool| {
        let link = fs::symlink_metadata(app.join("Cargo.toml")).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "Cargo.toml is no longer a symlink"
        );
        let meta = fs::metadata(&shared).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        let text = fs::read_to_string(&shared).unwrap();
        assert_eq!(text.contains("tokio-pulse-rt"), expect_swapped, "{text}");
        assert!(!tmp.path().join("shared.toml.pulse-tmp").exists());
    };
    swap_manifest(&paths, &app).unwrap();
    check(true);
    undo(&paths, &app).unwrap();
    check(false);
    assert_eq!(fs::read_to_string(&shared).unwrap(), APP);
    // The edited path (entries removed in place) keeps them too.
    swap_manifest(&paths, &app).unwrap();
    let edited = fs::read_to_string(&shared).unwrap() + "# edited\n";
    fs::write(&shared, edited).unwrap();
    undo(&paths, &app).unwrap();
    check(false);
}

#[test]
fn refuses_a_workspace_member_and_names_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path());
    let root = tmp.path().join("ws");
    fs::create_dir_all(&root).unwrap();
    fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"app\"]\n",
    )
    .unwrap();
    project(&root.join("app"), APP);
    let err = format!(
        "{:#}",
        swap_manifest(&paths, &root.join("app")).unwrap_err()
    );
    let shown = root.canonicalize().unwrap();
    assert!(
        err.contains(&format!("member of the workspace at {}", shown.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("cargo xtask swap {}", shown.display())),
        "{err}"
    );
    assert!(!root.join("app").join("Cargo.toml.pulse-backup").exists());
    swap_manifest(&paths, &root).unwrap();
}

#[test]
fn refuses_a_directory_without_a_manifest_and_a_config_patch() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path());
    let err = format!("{:#}", swap_manifest(&paths, tmp.path()).unwrap_err());
    assert!(err.contains("is not a cargo project"), "{err}");
    let missing = format!(
        "{:#}",
        swap_manifest(&paths, &tmp.path().join("nope")).unwrap_err()
    );
    assert!(missing.contains("does not exist"), "{missing}");

    let app = tmp.path().join("app");
    project(&app, APP);
    fs::create_dir_all(app.join(".cargo")).unwrap();
    fs::write(
        app.join(".cargo").join("config.toml"),
        "[patch.crates-io]\ntokio = { path = \"/x\" }\n",
    )
    .unwrap();
    let err = format!("{:#}", swap_manifest(&paths, &app).unwrap_err());
    assert!(err.contains("config.toml already patches tokio"), "{err}");
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
}

/// An app whose only tokio dependency has requirement `req`.
fn app_requiring(req: &str) -> String {
    format!(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\n\
         tokio = {{ version = \"{req}\", features = [\"full\"] }}\n"
    )
}

#[test]
fn swap_picks_the_newest_base_the_apps_requirement_accepts() {
    for (req, base) in [
        ("~1.53", "1.53.3"),
        ("1.53", "1.54.1"),
        ("1", "1.54.1"),
        (">=1.40, <1.54", "1.53.3"),
        ("=1.54.1", "1.54.1"),
    ] {
        let (_tmp, paths, app) = app_in_checkout(&app_requiring(req));
        let picked = choose_base(&paths, None, &app).unwrap();
        assert_eq!(picked.tokio, base, "tokio = {req:?}");
    }
    // Every requirement counts: a dev-dependency pinned to the LTS line
    // holds the whole app there.
    let both = format!(
        "{}\n[dev-dependencies]\ntokio = \"~1.53\"\n",
        app_requiring("1")
    );
    let (_tmp, paths, app) = app_in_checkout(&both);
    assert_eq!(choose_base(&paths, None, &app).unwrap().tokio, "1.53.3");
}

#[test]
fn swap_refuses_with_the_list_when_no_base_fits() {
    for req in ["~1.52", "=1.53.0", "1.55"] {
        let (_tmp, paths, app) = app_in_checkout(&app_requiring(req));
        let err = format!("{:#}", choose_base(&paths, None, &app).unwrap_err());
        assert!(
            err.contains(&format!("tokio = \"{req}\""))
                && err.contains("supported: 1.54.1, 1.53.3"),
            "{err}"
        );
    }
    // `--tokio` names a base the app does not accept: refused by the edit,
    // naming both, with nothing written.
    let (_tmp, paths, app) = app_in_checkout(&app_requiring("~1.53"));
    let lts = choose_base(&paths, Some("1.54.1"), &app).unwrap();
    let err = format!("{:#}", swap_manifest(&lts, &app).unwrap_err());
    assert!(
        err.contains("~1.53") && err.contains("1.54.1") && err.contains("--tokio"),
        "{err}"
    );
    assert!(!app.join("Cargo.toml.pulse-backup").exists());
    // An unsupported `--tokio` is named, with the list.
    let err = choose_base(&paths, Some("1.52.0"), &app)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"1.52.0\"") && err.contains("1.54.1, 1.53.3"),
        "{err}"
    );
}

#[test]
fn swap_onto_the_lts_base_points_at_its_tree_and_undo_finds_it() {
    let (_tmp, paths, app) = app_in_checkout(&app_requiring("~1.53"));
    let original = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let lts = choose_base(&paths, None, &app).unwrap();
    swap_manifest(&lts, &app).unwrap();
    let swapped = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let root = paths.root.canonicalize().unwrap();
    let tree = root.join("target/pulse/base-1.53.3/vendor/tokio");
    let rt = root.join("target/pulse/base-1.53.3/tokio-pulse-rt");
    assert!(
        swapped.contains(&format!("tokio = {{ path = \"{}\" }}", tree.display())),
        "{swapped}"
    );
    assert!(swapped.contains(&rt.display().to_string()), "{swapped}");
    // Undo without --tokio (default paths) recognizes the LTS tree.
    undo(&paths, &app).unwrap();
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        original
    );
}
