//! Helpers shared by the integration tests: config dirs written to temp folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const K8S_OK: &str =
    "kubernetes:\n  kubernetes-version: v1.36.1\n  docker-registry: 10.0.0.5:5000/k8s\n";

/// A machine-list entry.
pub fn machine(host: &str, ip: &str, role: &str, etcdid: Option<&str>) -> String {
    let mut s = format!("  - hostname: {host}\n    hostip: {ip}\n    k8s-role: {role}\n");
    if let Some(e) = etcdid {
        s.push_str(&format!("    etcdid: {e}\n"));
    }
    s
}

/// A cluster-configuration.yaml with ssh-agent credentials and the given entries.
pub fn cluster_yaml(entries: &[String]) -> String {
    format!(
        "default-machine-properties:\n  username: root\n  sshport: 22\n  ssh-agent: \"true\"\nmachine-list:\n{}",
        entries.concat()
    )
}

/// `n_masters` masters (10.1.0.1x), `n_workers` workers (10.1.0.2x), optional proxy.
pub fn standard(n_masters: usize, n_workers: usize, proxy: bool) -> String {
    let mut e = Vec::new();
    for i in 1..=n_masters {
        e.push(machine(
            &format!("master-{i}"),
            &format!("10.1.0.{}", 10 + i),
            "master",
            Some(&format!("etcd{i}")),
        ));
    }
    for i in 1..=n_workers {
        e.push(machine(
            &format!("worker-{i}"),
            &format!("10.1.0.{}", 100 + i),
            "worker",
            None,
        ));
    }
    if proxy {
        e.push(machine("proxy-1", "10.1.0.5", "proxy", None));
    }
    cluster_yaml(&e)
}

/// Write a config dir into a new temp folder.
pub fn config_dir(cluster: &str, kubernetes: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("cfg");
    write_config(&dir, cluster, kubernetes);
    (t, dir)
}

pub fn write_config(dir: &Path, cluster: &str, kubernetes: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("cluster-configuration.yaml"), cluster).expect("write");
    std::fs::write(dir.join("kubernetes-configuration.yaml"), kubernetes).expect("write");
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `k8s-manage ARGS -p DIR`: (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(args)
        .arg("-p")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
