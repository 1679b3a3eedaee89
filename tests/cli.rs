//! The command line: help with examples, exit statuses, JSON output.

mod common;
use assert_cmd::Command;
use common::*;
use predicates::prelude::*;

fn bin() -> Command {
    Command::cargo_bin("k8s-manage").unwrap()
}

#[test]
fn help_and_version() {
    bin()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    for cmd in ["validate", "plan", "render"] {
        bin()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

#[test]
fn validate_exit_statuses() {
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    bin()
        .args(["validate", "-p"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("valid"));
    let (_t2, bad) = config_dir(
        &standard(1, 1, false),
        "kubernetes:\n  kubernetes-version: v1.9.4\n",
    );
    bin()
        .args(["validate", "--color", "never", "-p"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("kubernetes-configuration.yaml:2:23")
                .and(predicate::str::contains("help:")),
        );
}

#[test]
fn validate_json_lists_every_problem() {
    let (_t, bad) = config_dir(
        &cluster_yaml(&[machine("m", "IP", "master", None)]),
        "kubernetes:\n  api-servers-port: x\n",
    );
    let out = bin()
        .args(["validate", "--output", "json", "-p"])
        .arg(&bad)
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["errors"].as_u64().unwrap() >= 3, "{v}");
    assert!(v["diagnostics"][0]["at"]["line"].is_u64(), "{v}");
}

#[test]
fn plan_text_and_json() {
    let (_t, dir) = config_dir(&standard(3, 1, false), K8S_OK);
    bin()
        .args(["plan", "-p"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("everything is new"));
    let out = bin()
        .args(["plan", "-p"])
        .arg(&dir)
        .args(["deploy", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["action"], "deploy");
    assert!(v["phases"].as_array().unwrap().len() >= 10);
    bin()
        .args(["plan", "-p"])
        .arg(&dir)
        .arg("add")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-f NODES.yaml"));
}

#[test]
fn secrets_never_reach_the_output() {
    let cluster = "default-machine-properties:\n  username: root\n  password: s3cr3t-pw\nmachine-list:\n  - hostname: m1\n    hostip: 10.1.0.11\n    k8s-role: master\n    etcdid: e1\n";
    let (_t, dir) = config_dir(cluster, K8S_OK);
    for args in [
        vec!["plan", "--output", "json"],
        vec!["plan"],
        vec!["validate", "--output", "json"],
    ] {
        let a = bin().args(&args).arg("-p").arg(&dir).assert().success();
        let o = a.get_output();
        assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cr3t-pw"));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("s3cr3t-pw"));
    }
}
