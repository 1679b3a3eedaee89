//! A round-trip delay on every TCP connection from the control host to a sandbox's nodes
//! (this kernel has no `tc netem`): the `latency_proxy` example in its own process, and an
//! iptables `nat OUTPUT` rule redirecting the sandbox subnet's TCP to it (the proxy's own
//! connections carry its mark and pass). Dropping the guard removes the rule and stops the
//! proxy.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// The mark of the proxy's own connections (see examples/latency_proxy.rs).
const MARK: &str = "0x18";

pub struct Latency {
    rule: Vec<String>,
    proxy: Child,
    pub rtt_ms: u64,
}

/// The subnet of a sandbox's Docker network.
pub fn sandbox_subnet(sandbox: &str) -> String {
    super::sh(Command::new("docker").args([
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        sandbox,
    ]))
    .trim()
    .to_string()
}

impl Latency {
    /// Delay every TCP connection from this host to `subnet` by `rtt_ms` per round trip,
    /// through a proxy on local `port`. `rtt_ms == 0`: nothing is changed.
    pub fn start(subnet: &str, rtt_ms: u64, port: u16) -> Option<Latency> {
        if rtt_ms == 0 {
            return None;
        }
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| Some(p.parent()?.join("latency_proxy")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| {
                super::die("build the latency proxy first: cargo build --release --examples")
            });
        let mut proxy = Command::new(exe)
            .args([port.to_string(), rtt_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| super::die(&format!("latency_proxy: {e}")));
        let mut line = String::new();
        let out = proxy.stdout.take().expect("piped");
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = proxy.kill();
            super::die("latency_proxy did not start");
        }
        let rule: Vec<String> = [
            "OUTPUT",
            "-d",
            subnet,
            "-p",
            "tcp",
            "-m",
            "mark",
            "!",
            "--mark",
            MARK,
            "-m",
            "comment",
            "--comment",
            "k8s-manage-bench-latency",
            "-j",
            "REDIRECT",
            "--to-ports",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([port.to_string()])
        .collect();
        super::sh(
            Command::new("iptables")
                .args(["-t", "nat", "-I"])
                .args(&rule),
        );
        Some(Latency {
            rule,
            proxy,
            rtt_ms,
        })
    }
}

impl Drop for Latency {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-t", "nat", "-D"])
            .args(&self.rule)
            .output();
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
    }
}
