//! Two linker steps for the `bootstrap` size profile on Linux:
//!
//! - No unwind tables when nothing can unwind (`panic = "abort"`): the
//!   standard library comes precompiled with its tables, so `-C
//!   force-unwind-tables=no` cannot remove them; an addition to the linker
//!   script does (`link/no-unwind-tables.ld`). A panic still prints its
//!   message and aborts; only a backtrace (`RUST_BACKTRACE=1`) has no
//!   frames to walk. About 550 KB.
//! - Identical code folding (`--icf=all` to the linker, which is rust-lld
//!   on x86_64 Linux from Rust 1.90): functions whose machine code is the
//!   same are kept once. Rust promises no distinct addresses for distinct
//!   functions (they are `unnamed_addr`), and lld folds only code under
//!   this flag, never data, so statics keep their own addresses. About 46 KB.
//!
//! Build scripts are not told the profile's panic strategy
//! (`CARGO_CFG_PANIC` says `unwind` there too), so the profile is known by
//! its `opt-level = "z"`, which only the `bootstrap` profile has
//! (`Cargo.toml`; keep the two together).

fn main() {
    println!("cargo:rerun-if-changed=link/no-unwind-tables.ld");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let size_profile = var("OPT_LEVEL") == "z";
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !(size_profile && linux_gnu) {
        return;
    }
    let script = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/no-unwind-tables.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64" && rust_lld_by_default(&var("RUSTC")) {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}

/// Whether this rustc links x86_64 Linux programs with rust-lld by default
/// (1.90 and later); GNU ld, before it, has no `--icf`.
fn rust_lld_by_default(rustc: &str) -> bool {
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version: Vec<u32> = text
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or_default()
        .split(['.', '-'])
        .take(2)
        .map_while(|n| n.parse().ok())
        .collect();
    version.as_slice() >= [1, 90].as_slice()
}
