//! `cert check`: lists every certificate of a rendered PKI soonest first, exits 1 when one
//! expires within --warn-days (EXPIRED marked), 2 when there is no PKI, and writes nothing.

mod common;
use assert_cmd::Command;
use common::*;
use k8s_manage::pki::Pki;
use k8s_manage::render::node::pki_request;
use serde_json::Value;
use std::path::Path;

fn check(dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["cert", "check", "-p"])
        .arg(dir)
        .args(["--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_pki_says_so_and_creates_nothing() {
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    let (code, _, stderr) = check(&dir, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no PKI yet: run deploy or render first"),
        "{stderr}"
    );
    assert!(
        !dir.join(".k8s-manage").exists(),
        "cert check created files"
    );
}

#[test]
fn rendered_pki_is_listed_soonest_first_and_warn_days_decide_the_exit() {
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["render", "-p"])
        .arg(&dir)
        .arg("--out")
        .arg(dir.join("out"))
        .assert()
        .success();
    let (code, report, stderr) = check(&dir, &[]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let certs = report["certificates"].as_array().unwrap();
    // 3 CAs and every leaf of 1 master + 1 worker.
    assert!(certs.len() > 10, "{report:#}");
    let names: Vec<&str> = certs.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in [
        "ca",
        "etcd/ca",
        "front-proxy-ca",
        "apiserver",
        "clients/admin",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let after: Vec<&str> = certs
        .iter()
        .map(|c| c["not_after"].as_str().unwrap())
        .collect();
    let mut sorted = after.clone();
    sorted.sort();
    assert_eq!(after, sorted, "not sorted by expiry");
    assert!(certs.iter().all(|c| c["status"] == "ok"));
    let ca = certs.iter().find(|c| c["name"] == "ca").unwrap();
    assert_eq!(ca["subject_cn"], "kubernetes");
    assert!(ca["days_left"].as_i64().unwrap() > 3000);

    let (code, report, _) = check(&dir, &["--warn-days", "100000"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["expiring"].as_u64().unwrap() as usize, certs.len());

    // Text output: one line per certificate plus a header and a summary.
    let out = Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["cert", "check", "-p"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), certs.len() + 2, "{text}");
    assert!(text.contains("none expires within 30 days"), "{text}");
}

#[test]
fn expired_leaves_are_marked_expired() {
    let (_t, dir) = config_dir(&standard(1, 1, false), K8S_OK);
    let c = k8s_manage::model::build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let now = time::OffsetDateTime::now_utc();
    let mut req = pki_request(&c, now);
    req.not_before = now - time::Duration::days(730);
    req.leaf_validity_days = 1;
    Pki::load_or_create(&c.state_dir().join("pki"), &req).unwrap();
    let (code, report, stderr) = check(&dir, &[]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    let certs = report["certificates"].as_array().unwrap();
    let expired: Vec<_> = certs.iter().filter(|c| c["status"] == "EXPIRED").collect();
    let cas: Vec<_> = certs.iter().filter(|c| c["is_ca"] == true).collect();
    assert_eq!(expired.len() + cas.len(), certs.len(), "{report:#}");
    assert!(expired.iter().all(|c| c["days_left"].as_i64().unwrap() < 0));
    // soonest first: the expired leaves before the CAs
    assert_eq!(certs[0]["status"], "EXPIRED");
    assert_eq!(certs.last().unwrap()["is_ca"], true);
    assert_eq!(report["expired"].as_u64().unwrap() as usize, expired.len());

    let out = Command::cargo_bin("k8s-manage")
        .unwrap()
        .args(["cert", "check", "-p"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EXPIRED"), "{text}");
}

#[test]
fn status_and_cert_check_help_have_examples() {
    for args in [&["status", "--help"][..], &["cert", "check", "--help"][..]] {
        let out = Command::cargo_bin("k8s-manage")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{args:?}: {text}");
    }
}
