//! End to end on sandbox nodes: `upgrade` between two versions of the stand-in images while
//! a thread polls `/readyz` through a worker's local load balancer (127.0.0.1:6444 inside
//! the worker, over SSH, with the LB's client certificate) and counts failures. Also: the
//! skew check refuses a downgrade, a worker's ordinary pod is evicted and its DaemonSet pod
//! kept, and the worker is uncordoned afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{admin_client, cluster, k8s_manage, ssh, up_versions};

const OLD: &str = "v1.35.4";
const NEW: &str = "v1.36.1";

const READYZ: &str = "printf 'GET /readyz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 5 openssl s_client -quiet -connect 127.0.0.1:6444 -cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | head -1";

fn set_version(dir: &std::path::Path, from: &str, to: &str) {
    let f = dir.join("kubernetes-configuration.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    let line = format!("kubernetes-version: {from}");
    assert!(text.contains(&line), "{text}");
    std::fs::write(
        &f,
        text.replace(&line, &format!("kubernetes-version: {to}")),
    )
    .unwrap();
}

/// `name image` of every container of ours on a node.
fn images(dir: &std::path::Path, host: &str) -> Vec<(String, String)> {
    let o = ssh(dir, host)
        .run_root(
            "docker ps",
            "docker ps --filter label=io.k8s-manage.managed=true --format '{{.Names}} {{.Image}}'",
            Duration::from_secs(30),
        )
        .unwrap();
    o.stdout_str()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn upgrade_rolls_every_component_while_the_api_answers() {
    let sb = up_versions("wt-rot-upg", 3, 1, false, &[OLD, NEW]);
    let dir = sb.dir.clone();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy {OLD}: {report:#}\n{stderr}");
    assert_eq!(report["update"], "all at once");
    let c = cluster(&dir);
    let worker = c
        .machines
        .iter()
        .find(|m| m.role == k8s_manage::model::Role::Worker)
        .unwrap()
        .clone();
    assert!(
        images(&dir, "master1")
            .iter()
            .any(|(n, i)| n == "kube-apiserver" && i.ends_with(OLD))
    );

    // two pods bound to the worker: an ordinary one (evicted) and a DaemonSet's (kept)
    let rt = tokio::runtime::Runtime::new().unwrap();
    let api = admin_client(&dir);
    let pods = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  nodeName: {n}\n  containers: [{{name: web, image: nginx}}]\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: agent\n  namespace: default\n  ownerReferences: [{{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: 1}}]\nspec:\n  nodeName: {n}\n  containers: [{{name: agent, image: agent}}]\n",
        n = worker.nodename
    );
    rt.block_on(api.apply_manifest("pods.yaml", &pods, "upgrade-test"))
        .unwrap();

    // the skew check: a downgrade is refused before anything changes
    set_version(&dir, OLD, "v1.34.0");
    let (code, report, _) = k8s_manage(&["upgrade"], &dir);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["failed_phase"], "version skew", "{report:#}");
    assert!(report["errors"].to_string().contains("--allow-downgrade"));
    set_version(&dir, "v1.34.0", NEW);

    // poll the API from the worker through its local load balancer during the upgrade
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let poller = {
        let (stop, ok, failed, failures) =
            (stop.clone(), ok.clone(), failed.clone(), failures.clone());
        let (dir, host) = (dir.clone(), worker.hostname.clone());
        std::thread::spawn(move || {
            let s = ssh(&dir, &host);
            let start = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                let line = s
                    .run_root("readyz", READYZ, Duration::from_secs(10))
                    .map(|o| o.stdout_str())
                    .unwrap_or_else(|e| format!("ssh: {e}"));
                if line.contains(" 200") {
                    ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut f) = failures.lock() {
                        f.push(format!("{:.1}s: {line:?}", start.elapsed().as_secs_f64()));
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let started = Instant::now();
    let (code, report, stderr) = k8s_manage(&["upgrade"], &dir);
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    poller.join().unwrap();
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!(
        "upgrade took {:.1}s; /readyz through the worker's LB: {ok} answered, {failed} failed {:?}",
        took.as_secs_f64(),
        failures.lock().map(|f| f.clone()).unwrap_or_default()
    );
    assert_eq!(code, 0, "upgrade: {report:#}\n{stderr}");
    assert_eq!(report["update"], "rolling", "{report:#}");
    assert!(ok >= 20, "the poll ran too little to mean anything: {ok}");
    assert_eq!(failed, 0, "the API did not answer throughout the upgrade");

    // every Kubernetes component runs the new version; nothing is left on the old one
    for m in &c.machines {
        let list = images(&dir, &m.hostname);
        assert!(!list.is_empty(), "{}", m.hostname);
        for (name, image) in &list {
            assert!(
                !image.ends_with(OLD),
                "{}: {name} still runs {image}",
                m.hostname
            );
        }
        let kube: Vec<_> = list
            .iter()
            .filter(|(n, _)| {
                [
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "kube-proxy",
                    "kubelet",
                    "cri-dockerd",
                ]
                .contains(&n.as_str())
            })
            .collect();
        let want = if m.role == k8s_manage::model::Role::Master {
            6
        } else {
            3
        };
        assert_eq!(kube.len(), want, "{}: {list:?}", m.hostname);
        assert!(
            kube.iter().all(|(_, i)| i.ends_with(NEW)),
            "{}: {kube:?}",
            m.hostname
        );
    }

    // drained and uncordoned: the ordinary pod was evicted, the DaemonSet's kept
    rt.block_on(async {
        assert!(
            !api.pod_exists("default", "web").await.unwrap(),
            "web was not evicted"
        );
        assert!(
            api.pod_exists("default", "agent").await.unwrap(),
            "the DaemonSet pod was evicted"
        );
        let nodes = api.nodes().await.unwrap();
        assert!(nodes.iter().all(|n| n.ready), "{nodes:?}");
    });
    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "{status:#}\n{stderr}");
    let unschedulable = ssh(&dir, "master1")
        .run_root(
            "node",
            &format!(
                "docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key get /registry/nodes/{} --print-value-only",
                worker.nodename
            ),
            Duration::from_secs(30),
        )
        .unwrap()
        .stdout_str();
    let node: serde_json::Value = serde_json::from_str(unschedulable.trim()).unwrap();
    assert_ne!(node["spec"]["unschedulable"], true, "{node:#}");

    // a second upgrade to the same version changes nothing
    let (code, report, stderr) = k8s_manage(&["upgrade"], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["replaced"], serde_json::json!([]), "{n:#}");
    }
}
