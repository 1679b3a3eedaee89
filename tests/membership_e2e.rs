//! `add` and `remove` end to end on the real components, on one sandbox of 3 masters +
//! 3 workers whose config is trimmed to 3 masters + 1 worker before the first deploy, with
//! the test workload (3 web replicas behind a Service, a PodDisruptionBudget of one
//! unavailable, a client pod on master1 asking the Service twice a second) running
//! throughout:
//! - refusals first: `remove` of a master while another member is down (quorum), and
//!   `add --dry-run` (changes nothing);
//! - add 2 workers (list form): existing nodes' containers unchanged, the new nodes Ready;
//! - remove a worker that runs all 3 web replicas and a bare pod, and a master: a real drain
//!   (the DaemonSet pod stays, the others are evicted through the Eviction API, and the
//!   PodDisruptionBudget holds: never fewer than 2 healthy web pods, one eviction at a
//!   time), the web pods recreated on other workers, the bare pod gone, the Node objects
//!   gone, 2 members, the removed hosts clean, the config dir updated, `validate` passes;
//! - add that master back (map form): 3 healthy etcd members, every node's load balancer
//!   lists 3 apiservers, `status` exits 0, the config dir lists it (backups kept); (adding
//!   several masters in one run, through learners, is `grow_masters_e2e`'s; a master that
//!   was removed and comes back needs no 7th node on a machine whose test budget is 8);
//! - a worker that cannot be reached: refused without `--force`; with it, removed from the
//!   API and the config, its pods recreated elsewhere, the Service answering.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "common/availability.rs"]
mod availability;
#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/machine_entries.rs"]
mod machine_entries;
#[path = "common/workloads.rs"]
mod workloads;

use availability::unix_now;
use cluster_sandbox::{cluster, k8s_manage, up};
use k8s_manage::ssh::{ConnectOptions, HostKeyPolicy, KnownHosts, Session, Target};
use kubectl::Kubectl;
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

/// The Node name of a sandbox host.
fn node(host: &str) -> String {
    FULL.get()
        .unwrap()
        .machines
        .iter()
        .find(|m| m.hostname == host)
        .unwrap()
        .nodename
        .clone()
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

/// Every Node: (name, Ready).
fn nodes_ready(k: &Kubectl) -> Vec<(String, bool)> {
    k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ])
    .lines()
    .filter_map(|l| {
        let (n, r) = l.split_once(' ')?;
        Some((n.to_string(), r.trim() == "True"))
    })
    .collect()
}

/// The Node names, each Ready (asserted).
fn all_ready(k: &Kubectl) -> BTreeSet<String> {
    let nodes = nodes_ready(k);
    assert!(
        nodes.iter().all(|(_, r)| *r),
        "a node is not Ready: {nodes:?}"
    );
    nodes.into_iter().map(|(n, _)| n).collect()
}

/// `kubectl get KIND NAME` answers NotFound.
fn gone(k: &Kubectl, what: &[&str]) -> bool {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let o = k.run(&args);
    !o.ok() && o.stderr.contains("NotFound")
}

/// The pods bound to `node`: (`namespace/name`, owned by a DaemonSet).
fn pods_on(k: &Kubectl, node: &str) -> Vec<(String, bool)> {
    let v: Value = serde_json::from_str(&k.ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        "json",
    ]))
    .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let ds = p["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|o| o.iter().any(|r| r["kind"] == "DaemonSet"));
            (
                format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap(),
                    p["metadata"]["name"].as_str().unwrap()
                ),
                ds,
            )
        })
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn add_workers_and_masters_then_remove_a_worker_and_a_master() {
    let t0 = Instant::now();
    let sb = up("eb-mem", 3, 3, false);
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
        format!("machinelist:\n{}", as_map("master3")),
    )
    .unwrap();
    let wl = workers_list.to_str().unwrap();
    let ml = masters_list.to_str().unwrap();

    // (t0 counts the wait for room in the node budget and the sandbox's start too)
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    let t_deploy = t.elapsed();

    // the workload, running from now on: 3 web replicas on worker1, a client on master1
    // asking the Service twice a second
    let c = cluster(&dir);
    let domain = c.kubernetes.cluster_domain.clone();
    let k = Kubectl::new(&sb.rt, &dir, &c.kubernetes.version.to_string());
    workloads::deploy_web(&k);
    workloads::start_client(&k, "client", &node("master1"));
    let poller = availability::start_service_poller(&k, "client");
    assert_eq!(all_ready(&k).len(), 4);

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
    // after the checks, each phase of the list says what it would do: workers join
    // without etcd, a snapshot or the other nodes' load balancers
    let would: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .filter(|s| s.starts_with("would "))
        .collect();
    assert_eq!(
        would,
        [
            "would deploy the new nodes (existing nodes unchanged)",
            "would write cluster-configuration.yaml (with a backup)"
        ],
        "{report:#}"
    );
    assert_eq!(cluster_file(&dir), trimmed);
    assert_eq!(managed_containers(&dir, "worker2"), "");
    assert_eq!(backups(&dir), 0);
    wait_status_ok(&dir);

    // add 2 workers: existing nodes untouched, the new ones Ready
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
    let nodes = all_ready(&k);
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(nodes.contains(&node("worker2")) && nodes.contains(&node("worker3")));

    // all 3 web replicas onto worker3 (the others cordoned meanwhile), so that its drain
    // must evict them one at a time for the PodDisruptionBudget; a bare pod there too
    let (w1, w2, w3, m3) = (
        node("worker1"),
        node("worker2"),
        node("worker3"),
        node("master3"),
    );
    for n in [&w1, &w2] {
        k.ok(&["cordon", n]);
    }
    k.ok(&["rollout", "restart", "deployment/web"]);
    k.rollout("default", "deployment/web", "300s");
    for n in [&w1, &w2] {
        k.ok(&["uncordon", n]);
    }
    // the old pods may still be terminating
    workloads::wait_web_pods(&k, 3, Duration::from_secs(120));
    let on_w3 = workloads::web_nodes(&k);
    assert_eq!(on_w3, vec![w3.clone(); 3], "web pods not all on worker3");
    workloads::start_client(&k, "app", &w3);
    let on_node = pods_on(&k, &w3);
    let evictable: BTreeSet<String> = on_node
        .iter()
        .filter(|(_, ds)| !ds)
        .map(|(p, _)| p.clone())
        .collect();
    let web_before: BTreeSet<String> = evictable
        .iter()
        .filter(|p| p.starts_with("default/web-"))
        .cloned()
        .collect();
    assert_eq!(web_before.len(), 3, "{on_node:?}");
    assert!(evictable.contains("default/app"), "{on_node:?}");
    assert!(
        on_node
            .iter()
            .any(|(p, ds)| *ds && p.starts_with("kube-flannel/")),
        "no flannel pod on worker3: {on_node:?}"
    );

    // remove a worker and a master
    let leaving = tmp.path().join("leaving.yaml");
    std::fs::write(
        &leaving,
        format!("machine-list:{}{}", entry("worker3"), entry("master3")),
    )
    .unwrap();
    // its dry run: the checks run, each later phase says what it would do, nothing changes
    let before = cluster_file(&dir);
    let (code, dry, stderr) = k8s_manage(
        &["remove", "--dry-run", "-f", leaving.to_str().unwrap()],
        &dir,
    );
    assert_eq!(code, 0, "{dry:#}\n{stderr}");
    let would: Vec<&str> = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| s.starts_with("would "))
        .collect();
    assert_eq!(would.len(), 5, "{dry:#}");
    assert!(
        would[0].contains("drain") && would[1].contains("etcd member etcd3"),
        "{dry:#}"
    );
    assert!(would[4].contains("clean the hosts"), "{dry:#}");
    let planned: Vec<&str> = dry["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["result"].as_str())
        .collect();
    assert_eq!(planned, ["would be removed"; 2], "{dry:#}");
    assert_eq!(cluster_file(&dir), before);
    let watch = availability::watch_web_pods(&k);
    let rm_from = unix_now();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["remove", "-f", leaving.to_str().unwrap()], &dir);
    let t_remove = t.elapsed();
    let rm_to = unix_now();
    let web = watch.stop();
    assert_eq!(code, 0, "remove failed: {report:#}\n{stderr}");
    assert!(
        report["snapshot"]
            .as_str()
            .unwrap()
            .contains("auto-remove-"),
        "{report:#}"
    );
    let drained = report["drained"].as_array().unwrap();
    let d3 = drained.iter().find(|d| d["node"] == w3.as_str()).unwrap();
    assert_eq!(strings(&d3["pods"]), evictable, "{report:#}");
    let skipped = strings(&d3["skipped"]);
    assert!(
        skipped.iter().any(|p| p.starts_with("kube-flannel/")),
        "the DaemonSet pod is not reported as left in place: {report:#}"
    );
    assert!(
        drained.iter().any(|d| d["node"] == m3.as_str()),
        "{report:#}"
    );

    if let Some(d) = report["deploy"]["nodes"].as_array() {
        for n in d {
            eprintln!(
                "remove: deploy of the remaining nodes on {}: replaced {}",
                n["host"], n["replaced"]
            );
        }
    }
    eprintln!("web pods during the remove:\n{}", web.timeline.join("\n"));

    // the drain ends when the last of worker3's web pods is gone: until then the
    // PodDisruptionBudget held, never fewer than 2 healthy web pods, and the 3 pods went
    // one at a time (the healthy count dropped once per eviction, each time after a
    // replacement elsewhere was Ready)
    for p in &web_before {
        let name = p.trim_start_matches("default/");
        assert!(
            web.deleted.iter().any(|d| d == name),
            "{p} was not evicted: {web:?}"
        );
    }
    let drained_at = web
        .timeline
        .iter()
        .zip(&web.times)
        .filter(|(l, _)| {
            l.contains(" DELETED ")
                && web_before
                    .iter()
                    .any(|p| l.contains(&format!(" {} ", p.trim_start_matches("default/"))))
        })
        .map(|(_, t)| *t)
        .fold(0.0, f64::max);
    let (during, after_drain) = web.split_at(drained_at);
    eprintln!("figures: web pods healthy during the drain: {during:?}; after it: {after_drain:?}");
    assert_eq!(during.first(), Some(&3), "{web:?}");
    assert!(
        during.iter().all(|h| *h >= 2),
        "the drain took more web pods than the PodDisruptionBudget allows: healthy went {during:?}"
    );
    assert!(
        during.windows(2).filter(|w| w[1] < w[0]).count() >= 3,
        "{during:?}"
    );
    // the rest of the remove (member remove, the deploy of the remaining nodes, cleaning)
    // does not touch the pods of the remaining workers
    assert!(
        after_drain.iter().all(|h| *h >= 2),
        "web pods failed after the drain: healthy went {after_drain:?}"
    );
    // recreated elsewhere: 3 web pods, new ones, none on worker3 (nor on a master)
    k.rollout("default", "deployment/web", "300s");
    let now_on = workloads::web_nodes(&k);
    assert_eq!(now_on.len(), 3, "{now_on:?}");
    assert!(
        now_on.iter().all(|n| *n == w1 || *n == w2),
        "web pods not on the remaining workers: {now_on:?}"
    );
    let web_now = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}default/{.metadata.name}{\"\\n\"}{end}",
    ]);
    assert!(
        web_now.lines().all(|p| !web_before.contains(p)),
        "{web_now}"
    );
    assert!(gone(&k, &["pod", "app"]), "the bare pod was not evicted");
    for n in [&w3, &m3] {
        assert!(gone(&k, &["node", n]), "the Node object {n} is still there");
    }
    let (n, failed) = poller.tally(rm_from, rm_to);
    let gap = poller.longest_outage(rm_from, rm_to);
    eprintln!(
        "figures: remove 1+1 {t_remove:.1?}: the Service answered {}/{n} polls, longest outage {gap} s",
        n - failed
    );
    assert!(n > 0, "the Service poller stopped");
    // a real drain keeps the Service up: 2 of 3 replicas stay Ready throughout
    assert!(
        gap <= 10,
        "the Service did not answer for {gap} s during the remove"
    );

    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["result"], "removed");
        assert_eq!(n["host_cleaned"], true);
    }
    assert_eq!(
        report["etcd_members"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
    for h in ["worker3", "master3"] {
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
    assert!(!text.contains("hostname: worker3") && !text.contains("hostname: master3"));
    assert!(text.contains("hostname: master2") && text.contains("hostname: worker2"));
    assert_eq!(backups(&dir), 2);
    validate(&dir);
    let st = wait_status_ok(&dir);
    assert_eq!(etcd_members(&st).len(), 2, "{st:#}");
    let nodes = all_ready(&k);
    assert_eq!(nodes.len(), 4, "{nodes:?}");
    for h in ["master1", "master2", "worker1", "worker2"] {
        assert_eq!(lb_backends(&dir, h), 2, "{h}'s load balancer");
    }
    assert!(
        workloads::service_answers(&k, "client", &domain, Duration::from_secs(5)),
        "the Service does not answer after the remove"
    );

    // add the master back (the map form)
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["add", "-f", ml], &dir);
    assert_eq!(code, 0, "add master failed: {report:#}\n{stderr}");
    let t_add_master = t.elapsed();
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
    assert_eq!(names.len(), 3, "{report:#}");
    // written back after the member joined, then validated
    assert_eq!(report["config_written"].as_array().unwrap().len(), 1);
    assert_eq!(backups(&dir), 3);
    validate(&dir);
    assert_eq!(cluster(&dir).masters().count(), 3);
    let st = wait_status_ok(&dir);
    let members = etcd_members(&st);
    assert_eq!(members.len(), 3, "{st:#}");
    assert!(members.iter().all(|m| m["healthy"] == true), "{st:#}");
    for h in ["master1", "master2", "master3", "worker1", "worker2"] {
        assert_eq!(lb_backends(&dir, h), 3, "{h}'s load balancer");
    }
    assert_eq!(all_ready(&k).len(), 5);
    // a pod runs on the master that left and joined again: its new pod subnet is not
    // blocked by the old one (remove deleted the pod network's bridge and VXLAN device)
    workloads::start_client(&k, "rejoined", &node("master3"));
    k.ok(&["delete", "pod", "rejoined", "--wait=false"]);

    // a node that cannot be reached: refused without --force; with it, removed from the
    // API and the config, and reported as not cleaned; its pods come back elsewhere
    let gone_list = tmp.path().join("gone.yaml");
    std::fs::write(&gone_list, format!("machine-list:{}", entry("worker2"))).unwrap();
    let o = std::process::Command::new("docker")
        .args(["stop", "-t", "2", "eb-mem-worker2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = cluster_file(&dir);
    let (code, report, stderr) = k8s_manage(&["remove", "-f", gone_list.to_str().unwrap()], &dir);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert!(report.to_string().contains("--force"), "{report:#}");
    assert_eq!(cluster_file(&dir), before);
    let force_from = unix_now();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(
        &["remove", "--force", "-f", gone_list.to_str().unwrap()],
        &dir,
    );
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let t_force = t.elapsed();
    assert_eq!(report["nodes"][0]["host_cleaned"], false, "{report:#}");
    assert!(
        report.to_string().contains("host not cleaned"),
        "{report:#}"
    );
    assert!(!cluster_file(&dir).contains("hostname: worker2"));
    validate(&dir);
    let nodes = all_ready(&k);
    assert_eq!(nodes.len(), 4, "{nodes:?}");
    assert!(gone(&k, &["node", &w2]));
    k.rollout("default", "deployment/web", "300s");
    let on = workloads::wait_web_pods(&k, 3, Duration::from_secs(120));
    assert_eq!(on, vec![w1.clone(); 3], "web pods not all on worker1");
    k.rollout("kube-system", "deployment/coredns", "300s");
    workloads::check_service_and_dns(&k, "client", &domain);
    let (n, failed) = poller.tally(force_from, unix_now());
    poller.stop();
    eprintln!(
        "figures: remove --force of an unreachable worker {t_force:.1?}: the Service answered {}/{n} polls",
        n - failed
    );

    eprintln!(
        "figures: deploy 3+1 {:.1?}, add 2 workers {:.1?}, add the master back {:.1?}, remove 1+1 {:.1?}, total {:.1?}",
        t_deploy,
        t_add_workers,
        t_add_master,
        t_remove,
        t0.elapsed()
    );
}
