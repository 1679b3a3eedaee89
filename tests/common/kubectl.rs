//! The real kubectl (built from source with the sandbox's Kubernetes) against a config
//! dir's admin kubeconfig, for the end-to-end tests on real components.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// kubectl of `version`, with the admin kubeconfig `DIR/.k8s-manage/admin.kubeconfig`.
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
}

/// What one kubectl run gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

impl Kubectl {
    pub fn new(rt: &tokio::runtime::Runtime, dir: &Path, version: &str) -> Kubectl {
        let binary = rt
            .block_on(k8s_manage::sandbox::upstream::kubectl(
                version,
                &|m: &str| eprintln!("kubectl: {m}"),
            ))
            .expect("kubectl is built");
        Kubectl {
            binary,
            kubeconfig: dir.join(".k8s-manage/admin.kubeconfig"),
        }
    }

    /// Run `kubectl ARGS` (with a 60 s request timeout) and wait for it.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    /// Like [`run`](Self::run), feeding `stdin` (a manifest for `apply -f -`).
    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        use std::io::Write;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--request-timeout=60s")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            });
        let mut child = cmd.spawn().expect("kubectl starts");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("kubectl runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `run`, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.ok(),
            "kubectl {args:?} failed ({}): {}{}",
            o.code,
            o.stdout,
            o.stderr
        );
        o.stdout
    }

    /// `rollout status` of `what` (e.g. `deployment/web`) in `namespace`, bounded by
    /// `timeout` (e.g. `300s`); on failure the panic carries what explains it: the
    /// namespace's pods with their nodes, the object described, and the latest events.
    pub fn rollout(&self, namespace: &str, what: &str, timeout: &str) {
        let o = self.run(&[
            "-n",
            namespace,
            "rollout",
            "status",
            what,
            &format!("--timeout={timeout}"),
        ]);
        if o.ok() {
            return;
        }
        let pods = self.run(&["-n", namespace, "get", "pods", "-o", "wide"]);
        let described = self.run(&["-n", namespace, "describe", what]);
        let events = self.run(&["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]);
        let tail: Vec<&str> = events.stdout.lines().rev().take(30).collect();
        panic!(
            "rollout of {namespace}/{what} not done within {timeout}: {}{}\n\
             pods:\n{}\n{what}:\n{}\nlatest events:\n{}",
            o.stdout,
            o.stderr,
            pods.stdout,
            described.stdout,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    /// `apply -f -` of `manifest`, asserting success.
    pub fn apply(&self, manifest: &str) {
        let o = self.run_stdin(&["apply", "-f", "-"], Some(manifest));
        assert!(o.ok(), "kubectl apply failed: {}{}", o.stdout, o.stderr);
    }

    /// Poll `kubectl ARGS` until `check(stdout)` holds, within `wait`; the last output.
    pub fn wait_for(&self, args: &[&str], wait: Duration, check: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let o = self.run(args);
            if o.ok() && check(&o.stdout) {
                return o.stdout;
            }
            if start.elapsed() > wait {
                panic!(
                    "kubectl {args:?}: condition not met after {wait:?}; last output:\n{}{}",
                    o.stdout, o.stderr
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}
