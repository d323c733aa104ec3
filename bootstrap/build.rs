//! Links the bootstrap without unwind tables when nothing can unwind: on
//! Linux, in the `bootstrap` size profile (`panic = "abort"`). The standard
//! library comes precompiled with its tables, so `-C force-unwind-tables=no`
//! cannot remove them; an addition to the linker script does
//! (`link/no-unwind-tables.ld`). A panic still prints its message and
//! aborts; only a backtrace (`RUST_BACKTRACE=1`) has no frames to walk.
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
    if size_profile && linux_gnu {
        let script =
            std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/no-unwind-tables.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
