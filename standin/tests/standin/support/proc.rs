//! Child processes (the stand-in, etcd) with their stderr collected, and bounded waits.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running child whose stderr lines are collected; killed when dropped.
pub struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    /// Starts the stand-in as `component` with `args`.
    pub fn standin(component: &str, args: &[String]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_k8s-standin"));
        cmd.arg(component)
            .args(args)
            .env("STANDIN_K8S_VERSION", "1.36");
        Proc::spawn(cmd)
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        })
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        // Give the stderr reader a moment to drain.
        std::thread::sleep(Duration::from_millis(100));
        status
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the stand-in with `args` (and `STANDIN_K8S_VERSION` = `version`) expecting it to exit
/// within 10 s; returns whether it succeeded and its stderr.
pub fn run_to_exit(component: &str, args: &[String], version: &str) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k8s-standin"));
    cmd.arg(component)
        .args(args)
        .env("STANDIN_K8S_VERSION", version);
    let mut p = Proc::spawn(cmd);
    let status = p.wait_exit(Duration::from_secs(10));
    let log = p.log();
    let status = status.unwrap_or_else(|| panic!("{component} did not exit within 10 s:\n{log}"));
    (status.success(), log)
}
