//! The README's auditor section, run as a new user would run it: the block of
//! commands between `<!-- auditor-commands -->` and `<!-- end -->` is run by
//! bash, and every output line it promises (`#> text`) must appear in its output.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_auditor_commands_run_and_print_what_the_text_says() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("<!-- auditor-commands -->")
        .expect("README has no auditor block");
    let block = &readme[start..];
    let block = &block[block.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];

    // The binaries a fresh `cargo build --workspace` leaves in target/debug.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_quince-demo"))
        .parent()
        .unwrap();
    assert!(
        bin_dir.join("quince").exists(),
        "{} has no `quince`: run `cargo test --workspace` (or `cargo build --workspace`) first",
        bin_dir.display()
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The block's own first line adds $PWD/target/debug; run it from the
    // workspace root so that is the same folder.
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("PATH", path)
        .env_remove("QUINCE_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README block failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every `#> text` line is output the README promises.
    let promised: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("#> "))
        .collect();
    assert!(promised.len() >= 4, "too few promised lines: {promised:?}");
    for p in &promised {
        assert!(
            stdout.contains(p),
            "README promises {p:?}; output was:\n{stdout}"
        );
    }
}
