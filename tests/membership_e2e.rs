//! `add` and `remove` end to end on one sandbox of 5 masters + 3 workers whose config is
//! trimmed to 3 masters + 1 worker before the first deploy:
//! - refusals first: `remove` of a master while another member is down (quorum), and
//!   `add --dry-run` (changes nothing);
//! - add 2 workers (list form): existing nodes' containers unchanged; then 2 masters (map
//!   form): 5 healthy etcd members, every node's load balancer lists 5 apiservers,
//!   `status` exits 0, the config dir lists them (backups kept);
//! - remove a worker (with a pod bound to it, evicted; a DaemonSet pod left alone) and a
//!   master: 4 members, the removed hosts clean, the config dir updated, `validate` passes.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{admin_client, cluster, k8s_manage, up};
#[path = "common/machine_entries.rs"]
mod machine_entries;
use k8s_manage::ssh::{ConnectOptions, HostKeyPolicy, KnownHosts, Session, Target};
use machine_entries::split_entries;

/// Every sandbox machine (the config is trimmed, so look them up in the full one).
static FULL: std::sync::OnceLock<k8s_manage::model::Cluster> = std::sync::OnceLock::new();

fn sh(dir: &Path, host: &str, cmd: &str) -> String {
    let full = FULL.get().unwrap();
    let m = full.machines.iter().find(|m| m.hostname == host).unwrap();
    let s = Session::connect(
        &Target::from_machine(m),
        &KnownHosts::in_config_dir(dir),
        HostKeyPolicy::AcceptNew,
        &ConnectOptions::default(),
    )
    .unwrap();
    let o = s
        .exec_root("test", cmd, None, Duration::from_secs(60))
        .unwrap();
    o.stdout_str()
}

fn managed_containers(dir: &Path, host: &str) -> String {
    sh(
        dir,
        host,
        "docker ps -a --no-trunc --filter label=io.k8s-manage.managed=true --format '{{.Names}} {{.ID}}' | sort",
    )
}

fn lb_backends(dir: &Path, host: &str) -> usize {
    sh(dir, host, "cat /etc/kubernetes/local-lb/haproxy.cfg")
        .lines()
        .filter(|l| l.trim_start().starts_with("server ") && l.contains(":6443"))
        .count()
}

fn validate(dir: &Path) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["validate", "-p"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn cluster_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap()
}

fn backups(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".k8s-manage/backups"))
        .map(|r| r.count())
        .unwrap_or(0)
}

fn etcd_members(st: &Value) -> Vec<Value> {
    st["etcd"]["health"]["members"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn wait_status_ok(dir: &Path) -> Value {
    let start = Instant::now();
    loop {
        let (code, st, stderr) = k8s_manage(&["status"], dir);
        if code == 0 {
            return st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "status not healthy: {st:#}\n{stderr}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

#[test]
fn add_workers_and_masters_then_remove_a_worker_and_a_master() {
    let t0 = Instant::now();
    let sb = up("wt-mem-e2e", 5, 3, false);
    let dir = sb.dir.clone();
    let tmp = tempfile::tempdir().unwrap();

    FULL.set(cluster(&dir)).ok();
    // trim the config to master1-3 + worker1; the rest become node lists
    let (head, entries) = split_entries(&cluster_file(&dir));
    let keep = ["master1", "master2", "master3", "worker1"];
    let mut trimmed = head.clone();
    for (h, e) in &entries {
        if keep.contains(&h.as_str()) {
            trimmed.push_str(e);
        }
    }
    std::fs::write(dir.join("cluster-configuration.yaml"), &trimmed).unwrap();
    let entry = |h: &str| entries.iter().find(|(x, _)| x == h).unwrap().1.clone();
    let workers_list = tmp.path().join("new-workers.yaml");
    std::fs::write(
        &workers_list,
        format!(
            "# two workers\nmachine-list:{}{}",
            entry("worker2"),
            entry("worker3")
        ),
    )
    .unwrap();
    // the map form: `name:` keys, the entry's other keys below
    let as_map = |h: &str| {
        let e = entry(h);
        let body: Vec<String> = e
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("hostname:"))
            .map(|l| format!("  {l}"))
            .collect();
        format!("  {h}:\n{}\n", body.join("\n"))
    };
    let masters_list = tmp.path().join("new-masters.yaml");
    std::fs::write(
        &masters_list,
        format!("machinelist:\n{}{}", as_map("master4"), as_map("master5")),
    )
    .unwrap();
    let wl = workers_list.to_str().unwrap();
    let ml = masters_list.to_str().unwrap();

    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    let t_deploy = t0.elapsed();

    // refused: removing a master while another member is down would lose quorum
    sh(&dir, "master3", "docker stop etcd");
    let one = tmp.path().join("master2.yaml");
    std::fs::write(&one, format!("machine-list:{}", entry("master2"))).unwrap();
    let (code, report, stderr) =
        k8s_manage(&["remove", "--dry-run", "-f", one.to_str().unwrap()], &dir);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert!(
        report
            .to_string()
            .contains("refusing to remove etcd member etcd2"),
        "{report:#}"
    );
    sh(&dir, "master3", "docker start etcd");
    assert_eq!(cluster_file(&dir), trimmed);

    // dry run: checks, changes nothing
    let (code, report, stderr) = k8s_manage(&["add", "--dry-run", "-f", wl], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["nodes"][0]["result"], "would join", "{report:#}");
    assert_eq!(cluster_file(&dir), trimmed);
    assert_eq!(managed_containers(&dir, "worker2"), "");
    assert_eq!(backups(&dir), 0);
    wait_status_ok(&dir);

    // add 2 workers: existing nodes untouched
    let before: Vec<String> = keep.iter().map(|h| managed_containers(&dir, h)).collect();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["add", "-f", wl], &dir);
    assert_eq!(code, 0, "add workers failed: {report:#}\n{stderr}");
    let t_add_workers = t.elapsed();
    let after: Vec<String> = keep.iter().map(|h| managed_containers(&dir, h)).collect();
    assert_eq!(
        before, after,
        "adding workers changed containers on existing nodes"
    );
    assert!(
        report["snapshot"].is_null(),
        "no etcd change, no snapshot: {report:#}"
    );
    assert_eq!(report["deploy"]["nodes"].as_array().unwrap().len(), 2);
    let text = cluster_file(&dir);
    assert!(text.starts_with(&trimmed), "existing text changed:\n{text}");
    assert!(text.contains("  - hostname: worker2\n") && text.contains("  - hostname: worker3\n"));
    assert_eq!(backups(&dir), 1);

    // add 2 masters, one etcd member at a time
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["add", "-f", ml], &dir);
    assert_eq!(code, 0, "add masters failed: {report:#}\n{stderr}");
    let t_add_masters = t.elapsed();
    assert!(
        report["snapshot"].as_str().unwrap().contains("auto-add-"),
        "{report:#}"
    );
    let names: Vec<&str> = report["etcd_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(names.len(), 5, "{report:#}");
    // written back after each member joined, then validated
    assert_eq!(report["config_written"].as_array().unwrap().len(), 2);
    assert_eq!(backups(&dir), 3);
    validate(&dir);
    assert_eq!(cluster(&dir).masters().count(), 5);
    let st = wait_status_ok(&dir);
    let members = etcd_members(&st);
    assert_eq!(members.len(), 5, "{st:#}");
    assert!(members.iter().all(|m| m["healthy"] == true), "{st:#}");
    for h in [
        "master1", "master2", "master3", "master4", "master5", "worker1", "worker2", "worker3",
    ] {
        assert_eq!(lb_backends(&dir, h), 5, "{h}'s load balancer");
    }

    // a pod bound to worker3 is evicted; a DaemonSet pod stays
    let api = admin_client(&dir);
    let worker3 = cluster(&dir)
        .machines
        .iter()
        .find(|m| m.hostname == "worker3")
        .unwrap()
        .nodename
        .clone();
    let pods = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: default\nspec:\n  nodeName: {worker3}\n  containers:\n  - name: c\n    image: x\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ds-pod\n  namespace: kube-system\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: DaemonSet\n    name: ds\n    uid: 0\nspec:\n  nodeName: {worker3}\n  containers:\n  - name: c\n    image: x\n"
    );
    sb.rt
        .block_on(api.apply_manifest("pods.yaml", &pods, "test"))
        .unwrap();
    assert_eq!(sb.rt.block_on(api.pods_on_node(&worker3)).unwrap().len(), 2);

    // remove a worker and a master
    let leaving = tmp.path().join("leaving.yaml");
    std::fs::write(
        &leaving,
        format!("machine-list:{}{}", entry("worker3"), entry("master5")),
    )
    .unwrap();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["remove", "-f", leaving.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "remove failed: {report:#}\n{stderr}");
    let t_remove = t.elapsed();
    assert!(
        report["snapshot"]
            .as_str()
            .unwrap()
            .contains("auto-remove-"),
        "{report:#}"
    );
    let drained = report["drained"].as_array().unwrap();
    let w3 = drained
        .iter()
        .find(|d| d["node"] == worker3.as_str())
        .unwrap();
    assert_eq!(w3["pods"], serde_json::json!(["default/app"]), "{report:#}");
    assert_eq!(w3["skipped"], serde_json::json!(["kube-system/ds-pod"]));
    let left = sb.rt.block_on(api.pods_on_node(&worker3)).unwrap();
    assert!(left.iter().all(|p| p.name != "app"), "{left:?}");
    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["result"], "removed");
        assert_eq!(n["host_cleaned"], true);
    }
    assert_eq!(
        report["etcd_members"].as_array().unwrap().len(),
        4,
        "{report:#}"
    );
    for h in ["worker3", "master5"] {
        assert_eq!(
            managed_containers(&dir, h),
            "",
            "{h} still runs containers of ours"
        );
        assert_eq!(
            sh(
                &dir,
                h,
                "test -e /etc/kubernetes && echo present || echo absent"
            )
            .trim(),
            "absent"
        );
    }
    let text = cluster_file(&dir);
    assert!(!text.contains("hostname: worker3") && !text.contains("hostname: master5"));
    assert!(text.contains("hostname: master4") && text.contains("hostname: worker2"));
    assert_eq!(backups(&dir), 4);
    validate(&dir);
    let st = wait_status_ok(&dir);
    assert_eq!(etcd_members(&st).len(), 4, "{st:#}");
    let nodes: Vec<String> = sb
        .rt
        .block_on(api.nodes())
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    for h in ["master1", "master4", "worker1", "worker2"] {
        assert_eq!(lb_backends(&dir, h), 4, "{h}'s load balancer");
    }

    // a node that cannot be reached: refused without --force; with it, removed from the
    // API and the config, and reported as not cleaned
    let gone = tmp.path().join("gone.yaml");
    std::fs::write(&gone, format!("machine-list:{}", entry("worker2"))).unwrap();
    let o = std::process::Command::new("docker")
        .args(["stop", "-t", "2", "wt-mem-e2e-worker2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = cluster_file(&dir);
    let (code, report, stderr) = k8s_manage(&["remove", "-f", gone.to_str().unwrap()], &dir);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert!(report.to_string().contains("--force"), "{report:#}");
    assert_eq!(cluster_file(&dir), before);
    let t = Instant::now();
    let (code, report, stderr) =
        k8s_manage(&["remove", "--force", "-f", gone.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let t_force = t.elapsed();
    assert_eq!(report["nodes"][0]["host_cleaned"], false, "{report:#}");
    assert!(
        report.to_string().contains("host not cleaned"),
        "{report:#}"
    );
    assert!(!cluster_file(&dir).contains("hostname: worker2"));
    validate(&dir);
    let nodes: Vec<String> = sb
        .rt
        .block_on(api.nodes())
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    eprintln!("figures: remove --force of an unreachable worker {t_force:.1?}");

    eprintln!(
        "figures: deploy 3+1 {:.1?}, add 2 workers {:.1?}, add 2 masters {:.1?}, remove 1+1 {:.1?}, total {:.1?}",
        t_deploy,
        t_add_workers,
        t_add_masters,
        t_remove,
        t0.elapsed()
    );
}
