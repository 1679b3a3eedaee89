//! GPU machines end to end on sandbox nodes (real sshd and Docker engines, the real
//! upstream Kubernetes components, no GPU, no NVIDIA driver): a worker whose `machine-type`
//! names a GPU SKU is refused by preflight, before anything starts, with the exact
//! message; with `nvidia-device-plugin: false` (a GPU operator of the user's own) the same
//! findings are warnings, deploy completes (nodes Ready, add-ons rolled out) and the node
//! gets its GPU labels; `status` reports the GPU machine and what it lacks.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{admin_client, k8s_manage, managed_containers, ssh, up};

/// Give worker1 the OpenI example's GPU kind, with `count` GPUs.
fn make_worker1_a_gpu_machine(dir: &Path, count: u32) {
    let path = dir.join("cluster-configuration.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let sku = format!(
        "machine-sku:\n  NC24R:\n    mem: 224\n    gpu:\n      type: teslak80\n      count: {count}\n    cpu:\n      vcore: 24\n\nmachine-list:\n"
    );
    let mut out = text.replacen("machine-list:\n", &sku, 1);
    let at = out
        .find("hostname: worker1")
        .expect("worker1 in the sandbox config");
    let role = at + out[at..].find("k8s-role: worker\n").unwrap() + "k8s-role: worker\n".len();
    out.insert_str(role, "    machine-type: NC24R\n");
    std::fs::write(&path, out).unwrap();
}

#[test]
fn gpu_sku_on_a_node_without_driver() {
    let sb = up("ea-gpu", 1, 1, false);
    let dir = sb.dir.clone();
    make_worker1_a_gpu_machine(&dir, 2);

    // What the worker's own Docker engine says about its runtimes (the message names them).
    let info = ssh(&dir, "worker1")
        .run_root(
            "docker info",
            "docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}|{{.DefaultRuntime}}'",
            Duration::from_secs(20),
        )
        .unwrap()
        .stdout_str();
    let (names, default) = info.trim().split_once('|').unwrap();
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    let runtimes = names.join(", ");

    // Refused in preflight, naming the node, what was found and the fix.
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(report["failed_phase"], "preflight", "{report:#}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    assert_eq!(errors[0]["host"], "worker1");
    assert_eq!(errors[0]["step"], "preflight: GPU");
    assert_eq!(
        errors[0]["message"],
        format!(
            "machine-sku NC24R says 2 GPU(s) (teslak80), but nvidia-smi is not installed; \
             Docker has no `nvidia` runtime (its runtimes: {runtimes}; default: {default})"
        )
    );
    let hint = errors[0]["hint"].as_str().unwrap();
    for needle in [
        "apt-get install nvidia-driver",
        "apt-get install nvidia-container-toolkit",
        "nvidia-ctk runtime configure --runtime=docker --set-as-default",
        "\"default-runtime\": \"nvidia\"",
        "/etc/docker/daemon.json",
        "systemctl restart docker",
    ] {
        assert!(hint.contains(needle), "{needle:?} missing from: {hint}");
    }
    // Nothing started anywhere.
    for host in ["master1", "worker1"] {
        assert_eq!(managed_containers(&dir, host), "0", "{host}");
    }

    // A GPU operator of the user's own: the same findings are a warning, deploy goes on,
    // and the GPU node is labelled.
    let kfile = dir.join("kubernetes-configuration.yaml");
    let k = std::fs::read_to_string(&kfile).unwrap().replacen(
        "kubernetes:\n",
        "kubernetes:\n  nvidia-device-plugin: false\n",
        1,
    );
    std::fs::write(&kfile, k).unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(
        code, 0,
        "deploy with nvidia-device-plugin: false: {report:#}\n{stderr}"
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(
            "worker1: machine-sku NC24R says 2 GPU(s) (teslak80), but nvidia-smi is not installed"
        ) && warnings.contains("not refused: `nvidia-device-plugin: false`"),
        "{report:#}"
    );
    let api = admin_client(&dir);
    let nodes = sb.rt.block_on(api.nodes()).unwrap();
    let c = cluster_sandbox::cluster(&dir);
    let labels_of = |host: &str| -> serde_json::Map<String, Value> {
        let name = &c.machine(host).unwrap().nodename;
        nodes
            .iter()
            .find(|n| &n.name == name)
            .unwrap_or_else(|| panic!("{host} not registered"))
            .labels
            .clone()
    };
    // Both nodes are real kubelets, Ready (deploy waited for that and the add-ons).
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.ready), "{nodes:?}");
    let w = labels_of("worker1");
    assert_eq!(w["k8s-manage.io/gpu-type"], "teslak80", "{w:?}");
    assert_eq!(w["k8s-manage.io/gpu-count"], "2", "{w:?}");
    assert_eq!(w["machinetype"], "gpu", "{w:?}");
    assert_eq!(w["node-role.kubernetes.io/worker"], "", "{w:?}");
    let m = labels_of("master1");
    assert!(
        !m.keys()
            .any(|k| k.starts_with("k8s-manage.io/gpu") || k == "machinetype"),
        "{m:?}"
    );
    assert_eq!(m["node-role.kubernetes.io/master"], "");
    // Turned off: no device plugin was applied.
    let ds = sb
        .rt
        .block_on(api.get_object(
            "/apis/apps/v1/namespaces/kube-system/daemonsets/nvidia-device-plugin-daemonset",
        ))
        .unwrap();
    assert!(ds.is_none(), "{ds:?}");

    // status: per GPU machine what the SKU says and what the node has (here: nothing).
    let (_, status, stderr) = k8s_manage(&["status"], &dir);
    let gpus = status["gpus"]
        .as_array()
        .unwrap_or_else(|| panic!("{status:#}\n{stderr}"));
    assert_eq!(gpus.len(), 1, "{status:#}");
    assert_eq!(gpus[0]["host"], "worker1");
    assert_eq!(gpus[0]["sku_count"], 2);
    assert_eq!(gpus[0]["ok"], false);
    assert_eq!(
        gpus[0]["error"],
        "machine-sku NC24R says 2 (teslak80), but nvidia-smi is not installed; node offers no nvidia.com/gpu"
    );
    assert!(
        status["problems"]
            .to_string()
            .contains("worker1: GPUs: machine-sku NC24R says 2"),
        "{status:#}"
    );
}
