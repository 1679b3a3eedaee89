//! End to end on sandbox nodes running the real components: `upgrade` from Kubernetes
//! v1.35.4 to v1.36.1 (both built from source by the sandbox) on 3 masters + 2 workers with
//! a workload running: a 3-replica web Deployment behind a ClusterIP Service with a
//! PodDisruptionBudget, and a DaemonSet. During the rolling upgrade two pollers count
//! failures, and must count none:
//! - a client of the Service: on a master, through kube-proxy's rules and the pod network
//!   (an HTTP GET of the ClusterIP from the node's own network namespace, over SSH);
//! - an API request through a worker's local load balancer (127.0.0.1:6444 inside the
//!   worker): a ServiceAccount's GET of the web Service, which the apiserver serves from
//!   etcd. (Not `/readyz`: one apiserver's readiness answer can be 500 for a moment under
//!   load, for example its etcd check timing out, while every request is served; the load
//!   balancers' own checks use it to take an apiserver out.)
//!
//! Also: the skew check refuses a downgrade; every node ends on kubelet v1.36.1 and every
//! component container on a v1.36.1 image; the workers' web pods were evicted (real
//! drain, PDB honoured) and the DaemonSet's pods kept; every node is schedulable again; a
//! second upgrade replaces nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/workloads.rs"]
mod workloads;
use cluster_sandbox::{cluster, k8s_manage, ssh, up_versions};
use kubectl::Kubectl;

const OLD: &str = "v1.35.4";
const NEW: &str = "v1.36.1";

/// Where the worker keeps the poller's ServiceAccount token (0600).
const API_TOKEN: &str = "/tmp/e2e-api-token";

/// A GET of the web Service through the node's local load balancer, with the token in
/// [`API_TOKEN`] (the apiserver's certificate verified against the cluster CA): the
/// response's status line and, when it is not 200, the start of its body.
fn api_get() -> String {
    format!(
        "printf 'GET /api/v1/namespaces/default/services/web HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer %s\\r\\nConnection: close\\r\\n\\r\\n' \"$(cat {API_TOKEN})\" | timeout 5 openssl s_client -quiet -connect 127.0.0.1:6444 -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | tr -d '\\r' | awk 'NR == 1 {{ print; ok = / 200 / }} !ok && /^[{{]/ {{ print substr($0, 1, 300) }}'"
    )
}

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

/// The web workload written for zero-downtime rollouts, as a user would: a pod being
/// removed keeps serving for 5 s (preStop) while its endpoint leaves every node's rules.
fn graceful_web() -> String {
    let m = workloads::web_manifest()
        .replace(
            "      terminationGracePeriodSeconds: 2\n",
            "      terminationGracePeriodSeconds: 15\n",
        )
        .replace(
            "          ports:\n",
            "          lifecycle:\n            preStop:\n              exec:\n                command: [\"sleep\", \"5\"]\n          ports:\n",
        );
    assert!(
        m.contains("preStop") && m.contains("GracePeriodSeconds: 15"),
        "{m}"
    );
    m
}

/// A DaemonSet on every node (masters included): its pods are kept by a drain.
const AGENT: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{operator: Exists}]
      containers:
        - name: agent
          image: IMAGE
          command: ["sh", "-c", "exec sleep 100000"]
"#;

/// `name uid` of the pods matching `selector` on `node`.
fn pods_on(k: &Kubectl, selector: &str, node: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.uid}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

/// A poller in a thread: runs `probe` every 200 ms until stopped, counting answers that
/// pass `good` and the others (with the time and what was seen).
struct Poller {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Poller {
    fn start(dir: &std::path::Path, host: &str, script: String, good: fn(&str) -> bool) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            let (dir, host) = (dir.to_path_buf(), host.to_string());
            std::thread::spawn(move || {
                let s = ssh(&dir, &host);
                let start = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let line = s
                        .run_root("poll", &script, Duration::from_secs(10))
                        .map(|o| o.stdout_str())
                        .unwrap_or_else(|e| format!("ssh: {e}"));
                    if good(&line) {
                        ok.fetch_add(1, Ordering::SeqCst);
                    } else if let Ok(mut f) = failures.lock() {
                        f.push(format!("{:.1}s: {line:?}", start.elapsed().as_secs_f64()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Poller {
            stop,
            ok,
            failures,
            thread,
        }
    }

    /// Stop it: (answers that passed, the failures).
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        (self.ok.load(Ordering::SeqCst), failures)
    }
}

#[test]
fn upgrade_rolls_every_component_while_the_service_and_the_api_answer() {
    let sb = up_versions("ec-upg", 3, 2, false, &[OLD, NEW]);
    let dir = sb.dir.clone();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy {OLD}: {report:#}\n{stderr}");
    assert_eq!(report["update"], "all at once");
    eprintln!("deploy {OLD}: {:.1}s", t.elapsed().as_secs_f64());
    let c = cluster(&dir);
    let workers: Vec<_> = c
        .machines
        .iter()
        .filter(|m| m.role == k8s_manage::model::Role::Worker)
        .cloned()
        .collect();
    assert!(
        images(&dir, "master1")
            .iter()
            .any(|(n, i)| n == "kube-apiserver" && i.ends_with(OLD))
    );
    // kubectl of the new version (one minor of skew either way is supported).
    let k = Kubectl::new(&sb.rt, &dir, NEW);
    let kubelets = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}",
    ]);
    assert!(kubelets.lines().all(|l| l == OLD), "{kubelets}");

    // The workload: web on the workers behind a Service and a PDB; the agent DaemonSet.
    k.apply(&graceful_web());
    k.apply(&AGENT.replace("IMAGE", workloads::IMAGE));
    k.rollout("default", "deployment/web", "300s");
    k.rollout("default", "daemonset/agent", "300s");
    let web_before = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.uid}",
    ]);
    let agents_before: Vec<Vec<String>> = workers
        .iter()
        .map(|w| pods_on(&k, "app=agent", &w.nodename))
        .collect();
    assert!(
        agents_before.iter().all(|a| a.len() == 1),
        "{agents_before:?}"
    );
    // The node has no nc: bash's /dev/tcp makes the request.
    let cluster_ip = k.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let get_web = format!(
        "exec 3<>/dev/tcp/{}/80 || exit 1\nprintf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n' >&3\ntimeout 3 cat <&3 | tail -n 1\n",
        cluster_ip.trim()
    );
    let s = ssh(&dir, "master1");
    let o = s
        .exec_root(
            "script",
            "cat > /tmp/e2e-get-web.sh",
            Some(get_web.as_bytes()),
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(o.success());
    let o = s
        .run_root(
            "GET",
            "timeout 4 bash /tmp/e2e-get-web.sh",
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(
        o.stdout_str().trim().starts_with("web-"),
        "{}",
        o.stdout_str()
    );

    // the skew check: a downgrade is refused before anything changes
    set_version(&dir, OLD, "v1.34.0");
    let (code, report, _) = k8s_manage(&["upgrade"], &dir);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["failed_phase"], "version skew", "{report:#}");
    assert!(report["errors"].to_string().contains("--allow-downgrade"));
    set_version(&dir, "v1.34.0", NEW);

    // A ServiceAccount that may read Services, for the API poller.
    k.ok(&["create", "serviceaccount", "api-poller"]);
    k.ok(&[
        "create",
        "role",
        "read-services",
        "--verb=get",
        "--resource=services",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "api-poller",
        "--role=read-services",
        "--serviceaccount=default:api-poller",
    ]);
    let token = k.ok(&["create", "token", "api-poller", "--duration=2h"]);
    let o = ssh(&dir, &workers[0].hostname)
        .exec_root(
            "token",
            &format!("umask 077 && cat > {API_TOKEN}"),
            Some(token.trim().as_bytes()),
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(o.success());

    // The Service from master1, the API through a worker's local load balancer.
    let service = Poller::start(
        &dir,
        "master1",
        "timeout 4 bash /tmp/e2e-get-web.sh".into(),
        |l| l.trim().starts_with("web-"),
    );
    let api = Poller::start(&dir, &workers[0].hostname, api_get(), |l| {
        l.starts_with("HTTP/1.1 200 ")
    });
    let started = Instant::now();
    let (code, report, stderr) = k8s_manage(&["upgrade"], &dir);
    let took = started.elapsed();
    let (service_ok, service_failed) = service.finish();
    let (api_ok, api_failed) = api.finish();
    eprintln!(
        "upgrade {OLD} → {NEW} took {:.1}s; the Service from master1: {service_ok} answered, {} failed {service_failed:?}; the API through {}'s LB: {api_ok} answered, {} failed {api_failed:?}",
        took.as_secs_f64(),
        service_failed.len(),
        workers[0].hostname,
        api_failed.len(),
    );
    assert_eq!(code, 0, "upgrade: {report:#}\n{stderr}");
    assert_eq!(report["update"], "rolling", "{report:#}");
    assert!(
        service_ok >= 20 && api_ok >= 20,
        "the polls ran too little to mean anything: {service_ok}, {api_ok}"
    );
    assert!(
        service_failed.is_empty(),
        "the Service did not answer throughout the upgrade"
    );
    assert!(
        api_failed.is_empty(),
        "the API did not answer throughout the upgrade: {api_failed:?}\nthe upgrade's progress:\n{stderr}"
    );

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
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type==\"Ready\")].status} {.spec.unschedulable}{\"\\n\"}{end}",
    ]);
    assert_eq!(nodes.lines().count(), 5, "{nodes}");
    for line in nodes.lines() {
        // Ready, on the new kubelet, and uncordoned (no `true` after Ready)
        assert!(line.ends_with(&format!("{NEW} True ")), "{nodes}");
    }
    let server = k.ok(&["version", "-o", "json"]);
    let server: serde_json::Value = serde_json::from_str(&server).unwrap();
    assert_eq!(server["serverVersion"]["gitVersion"], NEW, "{server:#}");

    // Drained: every web pod was evicted and replaced (one at a time, the PDB), the
    // Deployment is whole again; the DaemonSet's pods were kept.
    k.rollout("default", "deployment/web", "120s");
    let web_after = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.uid}",
    ]);
    for uid in web_before.split_whitespace() {
        assert!(
            !web_after.contains(uid),
            "web pod {uid} was not evicted: {web_after}"
        );
    }
    for (w, before) in workers.iter().zip(&agents_before) {
        assert_eq!(
            &pods_on(&k, "app=agent", &w.nodename),
            before,
            "the DaemonSet pod on {} was evicted",
            w.hostname
        );
    }
    let (code, status, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "{status:#}\n{stderr}");

    // a second upgrade to the same version changes nothing
    let (code, report, stderr) = k8s_manage(&["upgrade"], &dir);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    for n in report["nodes"].as_array().unwrap() {
        assert_eq!(n["replaced"], serde_json::json!([]), "{n:#}");
    }
}
