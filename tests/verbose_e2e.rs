//! `-v` / `-vv` / `K8S_MANAGE_LOG` end to end on sandbox nodes (1 master + 1 worker): per
//! node, each remote command is logged with its exit status and duration (and at `-vv` its
//! command line); the config's password and the SSH private key never appear, even at the
//! highest level; stdout stays the JSON report alone.

use std::process::{Command, Output};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::up;

fn run(dir: &std::path::Path, args: &[&str], env: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k8s-manage"));
    c.args(args)
        .arg("-p")
        .arg(dir)
        .args(["--output", "json"])
        .env_remove("K8S_MANAGE_LOG");
    if let Some(e) = env {
        c.env("K8S_MANAGE_LOG", e);
    }
    c.output().unwrap()
}

#[test]
fn remote_commands_are_logged_per_node_without_secrets() {
    let sb = up("ea-verbose", 1, 1, false);
    let dir = sb.dir.clone();
    // a password beside the key (login uses the key first): it must never be logged
    let secret = format!("pw-{}-never-logged", std::process::id());
    let path = dir.join("cluster-configuration.yaml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    let cfg = cfg.replacen(
        "  keyfile-path:",
        &format!("  password: {secret}\n  keyfile-path:"),
        1,
    );
    std::fs::write(&path, cfg).unwrap();
    let c = k8s_manage::model::build::load(&dir).unwrap().cluster;
    let key = std::fs::read_to_string(c.machines[0].ssh.keyfile.as_ref().unwrap()).unwrap();
    let key_lines: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!key_lines.is_empty());

    let quiet = run(&dir, &["deploy", "--dry-run"], None);
    let v = run(&dir, &["-v", "deploy", "--dry-run"], None);
    let vv = run(&dir, &["-vv", "deploy", "--dry-run"], None);
    let trace = run(&dir, &["deploy", "--dry-run"], Some("trace"));

    // nothing logged without -v: the output is what it was
    let q = String::from_utf8_lossy(&quiet.stderr);
    assert!(!q.contains("command finished"), "{q}");
    for (name, o) in [("-v", &v), ("-vv", &vv), ("trace", &trace)] {
        let e = String::from_utf8_lossy(&o.stderr);
        for host in ["master1", "worker1"] {
            let line = e
                .lines()
                .find(|l| l.contains("command finished") && l.contains(&format!("host={host}")))
                .unwrap_or_else(|| panic!("{name}: no command of {host} logged:\n{e}"));
            assert!(
                line.contains("step=") && line.contains("status=0") && line.contains("elapsed="),
                "{name}: {line}"
            );
        }
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap_or_else(|err| panic!("{name}: stdout is not the JSON report: {err}"));
        let all = format!("{e}{}", String::from_utf8_lossy(&o.stdout));
        assert!(!all.contains(&secret), "{name}: the password leaked");
        for l in &key_lines {
            assert!(!all.contains(l), "{name}: the private key leaked");
        }
    }
    assert_eq!(v.status.code(), quiet.status.code());
    let e = String::from_utf8_lossy(&v.stderr);
    assert!(!e.contains("command="), "-v shows no command lines: {e}");
    let e = String::from_utf8_lossy(&vv.stderr);
    assert!(e.contains("command="), "-vv shows the command lines: {e}");
}
