//! Sets `cfg(stack_capture)` where the stall stacks are built: Linux on
//! x86_64 and AArch64, outside loom's model checking and Miri (which runs
//! no signal handlers and no `/proc` reads).
//!
//! The single-colon `cargo:` syntax (not `cargo::`, Rust 1.77) keeps the
//! probes building with Tokio 1.53.x's MSRV, Rust 1.71; the cfg is declared
//! to the `unexpected_cfgs` lint in `Cargo.toml`'s `[lints]`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let loom = std::env::var_os("CARGO_CFG_LOOM").is_some();
    let miri = std::env::var_os("CARGO_CFG_MIRI").is_some();
    if os == "linux" && (arch == "x86_64" || arch == "aarch64") && !loom && !miri {
        println!("cargo:rustc-cfg=stack_capture");
    }
}
