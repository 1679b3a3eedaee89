//! `status` end to end on sandbox nodes (1 master + 1 worker): healthy after deploy (exit
//! 0, every component running and current, etcd healthy with a leader, both nodes Ready);
//! a stopped kubelet on the worker makes it exit 1 and name the container.

use serde_json::Value;
use std::process::Command;
use std::time::Duration;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{cluster, k8s_manage, ssh, up};

fn containers<'a>(report: &'a Value, host: &str) -> &'a Vec<Value> {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["host"] == host)
        .unwrap_or_else(|| panic!("{host} missing: {report:#}"))["containers"]
        .as_array()
        .unwrap()
}

#[test]
fn status_is_healthy_after_deploy_and_names_a_stopped_kubelet() {
    let sb = up("ea-status", 1, 1, false);
    let dir = sb.dir.clone();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");

    let (code, st, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "status not healthy: {st:#}\n{stderr}");
    assert_eq!(st["ok"], true);
    let nodes = st["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for n in nodes {
        assert_eq!(n["reachable"], true, "{n:#}");
        let host = n["host"].as_str().unwrap();
        let cs = containers(&st, host);
        let want = if n["role"] == "master" { 8 } else { 4 };
        assert_eq!(cs.len(), want, "{host}: {cs:#?}");
        for c in cs {
            assert_eq!(c["state"], "running", "{host}: {c}");
            assert_eq!(c["current"], true, "{host}: {c}");
        }
    }
    let members = st["etcd"]["health"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["healthy"], true);
    assert!(st["etcd"]["health"]["leader"].is_string(), "{st:#}");
    assert_eq!(st["api"]["ready"], true);
    let kn = st["kube_nodes"]["nodes"].as_array().unwrap();
    assert_eq!(kn.len(), 2, "{st:#}");
    assert!(kn.iter().all(|n| n["ready"] == true), "{st:#}");
    assert_eq!(st["certificates"]["ok"], true);

    // the worker's kubelet stopped: status exits 1 and names it
    let o = ssh(&dir, "worker1")
        .run_root(
            "stop kubelet",
            "docker stop kubelet",
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(o.stdout_str().contains("kubelet"), "{}", o.stdout_str());
    let (code, st, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 1, "{st:#}\n{stderr}");
    assert_eq!(st["ok"], false);
    let kubelet = containers(&st, "worker1")
        .iter()
        .find(|c| c["name"] == "kubelet")
        .unwrap();
    assert_eq!(kubelet["state"], "stopped", "{kubelet}");
    assert_eq!(kubelet["ok"], false);
    let problems: Vec<&str> = st["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("worker1: kubelet: not running")),
        "{problems:#?}"
    );
    // the master is still fine
    assert!(
        containers(&st, "master1")
            .iter()
            .all(|c| c["state"] == "running")
    );

    // text output names it too
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["status", "-p"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("worker1: kubelet: not running"), "{text}");

    // etcd snapshot save: keys written before are in the snapshot; the control host's copy
    // matches its checksum; the master's copy was checked there
    let c = cluster(&dir);
    let cred = k8s_manage::run::snapshot::credentials(&c).unwrap();
    let endpoint = format!("https://{}:2379", c.machines[0].hostip);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(&cred.ca_pem))
            .identity(etcd_client::Identity::from_pem(
                &cred.cert_pem,
                &cred.key_pem,
            ));
        let mut cl = etcd_client::Client::connect(
            [endpoint.as_str()],
            Some(etcd_client::ConnectOptions::new().with_tls(tls)),
        )
        .await
        .unwrap();
        for i in 0..100 {
            cl.put(format!("/test/key-{i:03}"), "v", None)
                .await
                .unwrap();
        }
    });
    let (code, snap, stderr) = k8s_manage(&["etcd", "snapshot", "save", "--name", "t1"], &dir);
    assert_eq!(code, 0, "{snap:#} {stderr}");
    assert_eq!(snap["copied_to"], serde_json::json!(["master1"]));
    let path = dir.join(".k8s-manage/snapshots/t1.db");
    assert_eq!(
        k8s_manage::etcd::snapshot::verify(&path).unwrap(),
        snap["snapshot"]["sha256"].as_str().unwrap()
    );
    let o = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&path)
        .output()
        .unwrap();
    let st: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert!(
        st["totalKey"].as_u64().unwrap_or(0) >= 100,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // a tampered copy is detected
    let mut data = std::fs::read(&path).unwrap();
    data[100] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    assert!(k8s_manage::etcd::snapshot::verify(&path).is_err());
}
