//! Running real processes in tests: free loopback ports, the stand-in binary, and a child
//! that is killed when dropped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) on drop.
pub struct Proc(pub Child, pub String);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The stand-in binary, built on demand.
pub fn standin_bin() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("k8s-standin");
    if !bin.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "k8s-standin"])
            .current_dir(&root)
            .status()
            .expect("cargo build -p k8s-standin");
        assert!(st.success(), "cargo build -p k8s-standin failed");
    }
    bin
}

pub fn spawn(
    name: &str,
    program: &std::path::Path,
    args: &[String],
    env: &[(&str, &str)],
    log: &std::path::Path,
) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut c = Command::new(program);
    c.args(args)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    for (k, v) in env {
        c.env(k, v);
    }
    Proc(
        c.spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display())),
        name.to_string(),
    )
}

/// Wait (bounded) until `f` returns true.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}
