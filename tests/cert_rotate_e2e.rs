//! End to end on the real components, one sandbox of 3 masters + 2 workers:
//! - `cert rotate` on a cluster whose leaf certificates were issued already expired: deploy
//!   fails (the real etcd refuses expired certificates) and says to rotate; `cert rotate`
//!   reissues them, keeps a backup, restarts what uses them all at once, and finishes the
//!   deploy (add-ons included); `status` is healthy afterwards;
//! - with the test workload running (3 web replicas behind a Service, a PodDisruptionBudget,
//!   a poller asking the Service twice a second from master1's host), a rotation of every
//!   leaf certificate on the healthy cluster rolls node by node; afterwards every component
//!   serves its new certificate, every Node is Ready, kubectl works with the new admin
//!   credential, the Service answers, and logs/exec reach the kubelets;
//! - a rotation of one service's certificate restarts exactly kube-proxy, everywhere.

use k8s_manage::pki::Pki;
use k8s_manage::render::node::pki_request;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[path = "common/availability.rs"]
mod availability;
#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/workloads.rs"]
mod workloads;

use cluster_sandbox::{cluster, k8s_manage, ssh, up};
use kubectl::Kubectl;

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

fn root(dir: &Path, host: &str, script: &str) -> String {
    ssh(dir, host)
        .run_root("test", script, Duration::from_secs(60))
        .unwrap()
        .stdout_str()
}

/// On `host`: (sha256 fingerprint of the certificate served on `port`, of `file`).
fn served_and_file(dir: &Path, host: &str, port: u16, file: &str) -> (String, String) {
    let out = root(
        dir,
        host,
        &format!(
            "echo served $(openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256); echo file $(openssl x509 -in /etc/kubernetes/pki/{file} -noout -fingerprint -sha256)"
        ),
    );
    let get = |what: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(what))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (get("served "), get("file "))
}

/// Every Node Ready (asserted); how many.
fn nodes_ready(k: &Kubectl) -> usize {
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    assert!(nodes.lines().all(|l| l.ends_with(" True")), "{nodes}");
    nodes.lines().count()
}

#[test]
fn rotate_repairs_expired_certificates_and_rolls_new_ones_under_a_workload() {
    let t0 = std::time::Instant::now();
    let sb = up("eb-cert", 3, 2, false);
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
    let t_expired = started.elapsed();
    assert_eq!(code, 0, "cert rotate failed: {report:#}\n{stderr}");
    assert_eq!(report["action"], "cert rotate");
    // the `reissue` phase says what it did, at the head of the report
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("had already expired"), "{report:#}");
    assert!(warnings.contains("reissued "), "{report:#}");
    let timed: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert!(
        timed
            .iter()
            .any(|p| p.starts_with("reissuing certificates")),
        "{timed:?}"
    );
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

    // the workload on the repaired cluster
    let domain = c.kubernetes.cluster_domain.clone();
    let k = Kubectl::new(&sb.rt, &dir, &c.kubernetes.version.to_string());
    assert_eq!(nodes_ready(&k), 5);
    workloads::deploy_web(&k);
    let master1 = c.masters().next().unwrap();
    workloads::start_client(&k, "client", &master1.nodename);
    workloads::check_service_and_dns(&k, "client", &domain);
    let poller = availability::start_node_service_poller(&k, |s: &str| root(&dir, "master1", s));

    // rotate every leaf on the healthy cluster: node by node, each drained (the
    // PodDisruptionBudget holds), the Service answering
    let kubeconfig = dir.join(".k8s-manage/admin.kubeconfig");
    let old_admin = std::fs::read_to_string(&kubeconfig).unwrap();
    let hosts: Vec<(String, bool)> = c
        .machines
        .iter()
        .map(|m| (m.hostname.clone(), m.role.to_string() == "master"))
        .collect();
    let before: Vec<(String, String)> = hosts
        .iter()
        .map(|(h, _)| served_and_file(&dir, h, 10250, "kubelet.crt"))
        .collect();
    let from = availability::unix_now();
    let started = std::time::Instant::now();
    let (code, report, stderr) = k8s_manage(&["cert", "rotate"], &dir);
    let t_rolling = started.elapsed();
    let to = availability::unix_now();
    assert_eq!(code, 0, "cert rotate failed: {report:#}\n{stderr}");
    assert_eq!(report["update"], "rolling", "{report:#}");
    let (code, check) = cert_check(&dir);
    assert_eq!(code, 0, "{check:#}");
    let (n, failed) = poller.tally(from, to);
    let gap = poller.longest_outage(from, to);
    poller.stop();
    eprintln!(
        "figures: rolling rotation of every leaf {t_rolling:.1?}: the Service answered {}/{n} polls, longest outage {gap} s",
        n - failed
    );
    assert!(n > 0, "the Service poller stopped");
    assert!(
        gap <= 10,
        "the Service did not answer for {gap} s during the rolling rotation"
    );

    // every kubelet and apiserver serves its new certificate
    for ((h, master), (old_served, _)) in hosts.iter().zip(&before) {
        let (served, file) = served_and_file(&dir, h, 10250, "kubelet.crt");
        assert!(!served.is_empty(), "{h}: the kubelet serves nothing");
        assert_eq!(served, file, "{h}: the kubelet serves an old certificate");
        assert_ne!(
            &served, old_served,
            "{h}: the kubelet certificate was not rotated"
        );
        if *master {
            let (served, file) = served_and_file(&dir, h, 6443, "apiserver.crt");
            assert_eq!(served, file, "{h}: the apiserver serves an old certificate");
            assert_eq!(
                root(&dir, h, "cat /etc/kubernetes/pki/apiserver.crt"),
                std::fs::read_to_string(pki_dir.join("apiserver.crt")).unwrap(),
                "{h}: not the control host's new apiserver certificate"
            );
        }
    }
    // kubectl with the new admin credential: every Node Ready, the workload runs, the
    // apiserver reaches the kubelets with its new client certificate (logs, exec)
    let new_admin = std::fs::read_to_string(&kubeconfig).unwrap();
    assert_ne!(new_admin, old_admin, "the admin kubeconfig was not renewed");
    assert_eq!(nodes_ready(&k), 5);
    k.rollout("default", "deployment/web", "300s");
    assert_eq!(workloads::web_nodes(&k).len(), 3);
    // the client pod was evicted with master1's drain: a new one
    workloads::start_client(&k, "client-after", &master1.nodename);
    workloads::check_service_and_dns(&k, "client-after", &domain);
    workloads::check_logs_and_exec(&k, "client-after", &master1.nodename);
    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(
        code, 0,
        "status after the rolling rotation: {status:#}\n{stderr}"
    );

    // a rotation of one service on the healthy cluster rolls and restarts exactly
    // kube-proxy, everywhere; the Service answers afterwards
    let (code, report, stderr) = k8s_manage(&["cert", "rotate", "--service", "kube-proxy"], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["update"], "rolling", "{report:#}");
    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["replaced"], serde_json::json!(["kube-proxy"]), "{n:#}");
    }
    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "{status:#}\n{stderr}");
    // a rolling update drains each node first: the client pod went with master1's drain
    assert!(
        k.run(&["get", "pod", "client-after"])
            .stderr
            .contains("NotFound"),
        "the rolling update did not drain master1"
    );
    k.rollout("default", "deployment/web", "300s");
    workloads::start_client(&k, "client-last", &master1.nodename);
    assert!(
        workloads::service_answers(&k, "client-last", &domain, Duration::from_secs(5)),
        "the Service does not answer after kube-proxy's rotation"
    );
    eprintln!(
        "figures: cert rotate of expired leaves {t_expired:.1?}, rolling rotation {t_rolling:.1?}, whole test {:.1?}",
        t0.elapsed()
    );
}
