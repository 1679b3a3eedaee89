//! End to end on sandbox nodes: `cert rotate` on a cluster whose leaf certificates were
//! issued already expired. Deploy fails (the real etcd refuses expired certificates) and
//! says to rotate; `cert rotate` reissues them, keeps a backup, restarts what uses them all
//! at once; `status` is healthy afterwards.

use k8s_manage::pki::Pki;
use k8s_manage::render::node::pki_request;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{cluster, k8s_manage, up};

fn cert_check(dir: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["cert", "check", "-p"])
        .arg(dir)
        .args(["--output", "json"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn rotate_repairs_a_cluster_whose_leaf_certificates_expired() {
    let sb = up("wt-rot-cert", 3, 1, false);
    let dir = sb.dir.clone();
    let c = cluster(&dir);
    let pki_dir = dir.join(".k8s-manage/pki");

    // a PKI issued 400 days ago with 365-day leaves: every leaf expired 35 days ago
    let now = time::OffsetDateTime::now_utc();
    let mut req = pki_request(&c, now - time::Duration::days(400));
    req.leaf_validity_days = 365;
    Pki::load_or_create(&pki_dir, &req).unwrap();
    let old_apiserver = std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap();
    let (code, check) = cert_check(&dir);
    assert_eq!(code, 1, "{check:#}");
    assert!(check["expired"].as_u64().unwrap_or(0) > 10, "{check:#}");

    // deploy keeps the expired leaves (no silent rotation) and fails at etcd, saying why
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(
        code, 1,
        "deploy with expired certificates must fail: {report:#}\n{stderr}"
    );
    assert_eq!(report["failed_phase"], "etcd-health", "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("EXPIRED"), "{warnings}");
    assert!(
        report["errors"].to_string().contains("cert rotate"),
        "{report:#}"
    );
    assert_eq!(
        std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap(),
        old_apiserver,
        "deploy must not reissue expired certificates by itself"
    );

    // rotate: everything reissued, the old files backed up, the cluster comes up
    let started = std::time::Instant::now();
    let (code, report, stderr) = k8s_manage(&["cert", "rotate"], &dir);
    eprintln!("cert rotate took {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(code, 0, "cert rotate failed: {report:#}\n{stderr}");
    assert_eq!(report["action"], "cert rotate");
    assert!(stderr.contains("had already expired"), "{stderr}");
    assert_eq!(report["update"], "all at once", "{report:#}");
    assert_ne!(
        std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap(),
        old_apiserver
    );
    let backups: Vec<_> = std::fs::read_dir(dir.join(".k8s-manage/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        std::fs::read_to_string(backups[0].join("apiserver.crt")).unwrap(),
        old_apiserver
    );
    let (code, check) = cert_check(&dir);
    assert_eq!(code, 0, "{check:#}");

    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "status after rotation: {status:#}\n{stderr}");

    // a second rotation of one service on the now healthy cluster rolls and restarts
    // exactly kube-proxy, everywhere
    let (code, report, stderr) = k8s_manage(&["cert", "rotate", "--service", "kube-proxy"], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["update"], "rolling", "{report:#}");
    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["replaced"], serde_json::json!(["kube-proxy"]), "{n:#}");
    }
    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "{status:#}\n{stderr}");
}
