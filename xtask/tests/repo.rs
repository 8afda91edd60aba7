//! `patches --check` as a test (as rust-analyzer's `ensure_file_contents`):
//! `cargo test` in xtask fails while this repository's `vendor/tokio` holds
//! work that `patches/` does not. It passes when there is no `vendor/tokio`.

#[test]
fn patches_hold_all_fork_work() {
    let paths = xtask::Paths::from_env().expect("repository paths");
    if let Err(e) = xtask::fork::check_patches(&paths) {
        panic!("{e:#}");
    }
}
