//! Helpers shared by the sandbox tests: the stand-in binary they need, and a guard that
//! removes a sandbox however a test ends.
#![allow(dead_code)]

pub mod docker;

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/k8s-standin`, built with `cargo build -p k8s-standin` (`--release` for
/// a release test build) when it is missing. `scripts/test.sh` builds it before the tests,
/// so a stale one is not used there.
pub fn standin_binary() -> PathBuf {
    // A test binary runs from target/<profile>/deps.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    let binary = profile_dir.join("k8s-standin");
    if binary.is_file() {
        return binary;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "k8s-standin"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    eprintln!("building the stand-in binary: {build:?}");
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "`cargo build -p k8s-standin` failed");
    assert!(binary.is_file(), "{} after the build", binary.display());
    binary
}

/// Removes sandbox `name` when dropped: after a test passes, fails or panics.
pub struct DownGuard(pub String);

impl Drop for DownGuard {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop may run inside a Tokio runtime, which cannot block: use a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(k8s_manage::sandbox::down(&name))
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("removing sandbox {}: {e}", self.0);
        }
    }
}
