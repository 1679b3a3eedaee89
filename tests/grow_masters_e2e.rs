//! Growing a single-master cluster to three masters through etcd learners, end to end on the
//! real components (etcd 3.6 over mTLS, haproxy, kube-apiserver, kubelet, ...) on one
//! sandbox of 3 masters + 1 worker whose config is trimmed to master1 + worker1 before the
//! first deploy:
//! - deploy 1 master + 1 worker, with the test workload (3 web replicas behind a Service, a
//!   client pod on master1 asking it twice a second) and a ConfigMap;
//! - `add -f` two masters while `/readyz` is asked through worker1's local load balancer
//!   every 200 ms (a loop on the node, so SSH is not measured): each master joined as a
//!   learner and was promoted; afterwards 3 started voting members and no learner, every
//!   load balancer lists 3 apiservers, the objects are read back through each apiserver;
//! - `remove` one master (2 members, 2 backends), then `add` it back (3 again);
//! - throughout, the workload keeps running: at the end every Node is Ready, the 3 web
//!   replicas are available and the Service answers (its failed polls are printed).
//!
//! The `/readyz` failures of each phase are printed; those of the adds are asserted to stay
//! within the one restart of worker1's own load balancer (see `LB_RESTART_POLLS`).

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/availability.rs"]
mod availability;
#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{cluster, k8s_manage, up};
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/machine_entries.rs"]
mod machine_entries;
#[path = "common/workloads.rs"]
mod workloads;
use k8s_manage::model::Cluster;
use machine_entries::split_entries;

/// Every sandbox machine (the config is trimmed, so SSH looks them up in the full one).
static FULL: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();

const NAME: &str = "eb-grow";

/// How many 200 ms polls may fail while adding masters, and why: to learn the new
/// apiservers, worker1's local load balancer (haproxy) is replaced by a new container once
/// (it has no reload), and `127.0.0.1:6444` refuses connections between the old one stopping
/// and the new one listening (one failed poll in the runs so far; 2 s allowed for a loaded
/// machine). Nothing else may fail: the etcd quorum never waits for a member that is not
/// running (learners), and when the existing master's apiserver is replaced the load
/// balancer already has the new apiservers (else that restart alone, 4 s of
/// `LB_DOWN_WAIT` plus the start, would fail 20 polls and more).
const LB_RESTART_POLLS: usize = 10;

fn sh(dir: &Path, host: &str, cmd: &str) -> String {
    let full = FULL.get().unwrap();
    let m = full.machines.iter().find(|m| m.hostname == host).unwrap();
    let s = k8s_manage::ssh::Session::connect(
        &k8s_manage::ssh::Target::from_machine(m),
        &k8s_manage::ssh::KnownHosts::in_config_dir(dir),
        k8s_manage::ssh::HostKeyPolicy::AcceptNew,
        &k8s_manage::ssh::ConnectOptions::default(),
    )
    .unwrap();
    let o = s
        .exec_root("test", cmd, None, Duration::from_secs(60))
        .unwrap();
    o.stdout_str()
}

fn lb_backends(dir: &Path, host: &str) -> usize {
    sh(dir, host, "cat /etc/kubernetes/local-lb/haproxy.cfg")
        .lines()
        .filter(|l| l.trim_start().starts_with("server ") && l.contains(":6443"))
        .count()
}

/// The member list as the real etcdctl on `host` reports it: (name, is learner).
fn etcd_members(dir: &Path, host: &str) -> Vec<(String, bool)> {
    let out = sh(
        dir,
        host,
        "docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list -w json",
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or_default().to_string(),
                m["isLearner"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// How many members answer `endpoint health --cluster` healthy.
fn etcd_healthy(dir: &Path, host: &str) -> usize {
    let out = sh(
        dir,
        host,
        "docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health --cluster -w json",
    );
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v.as_array()
        .map(|a| a.iter().filter(|e| e["health"] == true).count())
        .unwrap_or(0)
}

/// An admin client on one apiserver (not through a load balancer).
fn api_on(dir: &Path, ip: std::net::IpAddr) -> k8s_manage::kubeapi::KubeClient {
    use k8s_manage::pki::{KubeconfigUser, Pki};
    let c = cluster(dir);
    let pki = Pki::load_read_only(
        &c.state_dir().join("pki"),
        &k8s_manage::render::node::pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let (cert, key) = pki.client_credential(&KubeconfigUser::Admin).unwrap();
    k8s_manage::kubeapi::KubeClient::new(
        &format!("https://{ip}:6443"),
        pki.ca_cert_pem(),
        &cert,
        &key,
        Duration::from_secs(10),
    )
    .unwrap()
}

/// The workload and the ConfigMap are there, read through every master's own apiserver.
fn objects_survive(rt: &tokio::runtime::Runtime, dir: &Path) {
    for m in cluster(dir).masters() {
        let api = api_on(dir, m.hostip);
        for path in [
            "/apis/apps/v1/namespaces/default/deployments/web",
            "/api/v1/namespaces/default/configmaps/grow-check",
        ] {
            let obj = rt
                .block_on(api.get_object(path))
                .unwrap_or_else(|e| panic!("{}: {path}: {e}", m.hostname));
            let obj = obj.unwrap_or_else(|| panic!("{}: {path} is gone", m.hostname));
            if path.ends_with("grow-check") {
                assert_eq!(obj["data"]["written"], "before the masters joined");
            }
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `/readyz` through worker1's local load balancer every 200 ms, from a loop on worker1
/// (each request in the background, so a slow answer does not delay the next): one line
/// per request, `<unix time> <status line or "none">`.
const POLLER: &str = r#"rm -f /tmp/h20-readyz.log; touch /tmp/h20-readyz.run
nohup sh -c 'while [ -e /tmp/h20-readyz.run ]; do
  ( t=$(date +%s.%N)
    r=$(printf "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" | timeout 5 openssl s_client -quiet -connect 127.0.0.1:6444 -cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | head -1 | tr -d "\r")
    echo "$t ${r:-none}" >> /tmp/h20-readyz.log ) &
  sleep 0.2
done' >/dev/null 2>&1 &
echo started"#;

/// (time, ok) of every poll so far.
fn polls(dir: &Path) -> Vec<(f64, bool)> {
    sh(dir, "worker1", "cat /tmp/h20-readyz.log 2>/dev/null")
        .lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            Some((t.parse::<f64>().ok()?, rest.contains(" 200")))
        })
        .collect()
}

/// Polls within [from, to]: (count, failed, longest run of consecutive failures).
fn tally(p: &[(f64, bool)], from: f64, to: f64) -> (usize, usize, usize) {
    let mut inside: Vec<&(f64, bool)> = p.iter().filter(|(t, _)| *t >= from && *t <= to).collect();
    inside.sort_by(|a, b| a.0.total_cmp(&b.0));
    let failed = inside.iter().filter(|(_, ok)| !ok).count();
    let (mut run, mut longest) = (0, 0);
    for (_, ok) in inside.iter() {
        run = if *ok { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    (inside.len(), failed, longest)
}

/// The failed polls' times, relative to `from`, for the message.
fn failures(p: &[(f64, bool)], from: f64, to: f64) -> String {
    let mut failed: Vec<f64> = p
        .iter()
        .filter(|(t, ok)| !ok && *t >= from && *t <= to)
        .map(|(t, _)| t - from)
        .collect();
    failed.sort_by(f64::total_cmp);
    failed
        .iter()
        .map(|t| format!("{t:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
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

fn steps(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn grow_one_master_to_three_through_learners_then_remove_and_add_back() {
    let t0 = Instant::now();
    let sb = up(NAME, 3, 1, false);
    let dir = sb.dir.clone();
    let tmp = tempfile::tempdir().unwrap();
    FULL.set(cluster(&dir)).ok();

    // trim the config to master1 + worker1: the issue's "single master" start
    let text = std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap();
    let (head, entries) = split_entries(&text);
    let entry = |h: &str| entries.iter().find(|(x, _)| x == h).unwrap().1.clone();
    std::fs::write(
        dir.join("cluster-configuration.yaml"),
        format!("{head}{}{}", entry("master1"), entry("worker1")),
    )
    .unwrap();
    let two = tmp.path().join("two-masters.yaml");
    std::fs::write(
        &two,
        format!("machine-list:{}{}", entry("master2"), entry("master3")),
    )
    .unwrap();
    let one = tmp.path().join("master3.yaml");
    std::fs::write(&one, format!("machine-list:{}", entry("master3"))).unwrap();

    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    assert_eq!(cluster(&dir).masters().count(), 1);
    assert_eq!(etcd_members(&dir, "master1").len(), 1);

    // the workload and a ConfigMap that must survive every change
    let c = cluster(&dir);
    let domain = c.kubernetes.cluster_domain.clone();
    let k = kubectl::Kubectl::new(&sb.rt, &dir, &c.kubernetes.version.to_string());
    workloads::deploy_web(&k);
    let master1 = c.masters().next().unwrap().nodename.clone();
    workloads::start_client(&k, "client", &master1);
    let svc = availability::start_service_poller(&k, "client");
    let svc_from = availability::unix_now();
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: grow-check\n  namespace: default\ndata:\n  written: before the masters joined\n";
    let api = api_on(&dir, c.masters().next().unwrap().hostip);
    sb.rt
        .block_on(api.apply_manifest("grow.yaml", manifest, "test"))
        .unwrap();
    objects_survive(&sb.rt, &dir);

    // /readyz through worker1's local load balancer, every 200 ms, from now on
    assert!(sh(&dir, "worker1", POLLER).contains("started"));
    std::thread::sleep(Duration::from_secs(3));
    let p = polls(&dir);
    assert!(
        p.len() >= 5 && p.iter().all(|(_, ok)| *ok),
        "the poller does not see a ready API before the add: {p:?}"
    );

    // a dry run checks (etcd would take the first learner) and changes nothing; each phase
    // after the checks says what it would do, in the list's order
    let config_before = std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap();
    let (code, dry, stderr) = k8s_manage(&["add", "--dry-run", "-f", two.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "add --dry-run failed: {dry:#}\n{stderr}");
    let would: Vec<String> = steps(&dry)
        .into_iter()
        .filter(|s| s.starts_with("would "))
        .collect();
    let starts: Vec<&str> = would
        .iter()
        .map(|s| s.split(" (").next().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        [
            "would add etcd member etcd2",
            "would add etcd member etcd3",
            "would deploy the new nodes: the new masters' control plane, their load balancers and node agents",
            "would deploy the load balancers of the other nodes",
            "would deploy the merged cluster: the existing masters one at a time",
            "would write cluster-configuration.yaml",
        ],
        "{dry:#}"
    );
    assert!(would[0].contains("as a learner"), "{would:?}");
    assert!(dry["snapshot"].is_null(), "{dry:#}");
    assert_eq!(
        std::fs::read_to_string(dir.join("cluster-configuration.yaml")).unwrap(),
        config_before
    );

    // add two masters, one etcd member at a time, each as a learner
    let add_from = now();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["add", "-f", two.to_str().unwrap()], &dir);
    let add_to = now();
    let t_add = t.elapsed();
    assert_eq!(code, 0, "add of two masters failed: {report:#}\n{stderr}");
    let st = steps(&report);
    for name in ["etcd2", "etcd3"] {
        for what in [
            "added as a learner",
            "caught up with the leader",
            "promoted to a voting member",
        ] {
            assert!(
                st.iter().any(|s| s.contains(name) && s.contains(what)),
                "no step says {name} {what}: {st:#?}"
            );
        }
    }
    assert!(
        st.iter()
            .any(|s| s.contains("etcd3") && s.contains("3 voting members, quorum 2")),
        "{st:#?}"
    );
    assert!(
        report["snapshot"].as_str().unwrap().contains("auto-add-"),
        "{report:#}"
    );
    assert_eq!(cluster(&dir).masters().count(), 3);

    // 3 started voting members, no learner left
    let members = etcd_members(&dir, "master1");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|(_, learner)| !learner), "{members:?}");
    assert_eq!(etcd_healthy(&dir, "master2"), 3);
    for h in ["master1", "master2", "master3", "worker1"] {
        assert_eq!(lb_backends(&dir, h), 3, "{h}'s load balancer");
    }
    objects_survive(&sb.rt, &dir);
    wait_status_ok(&dir);

    // the API answered throughout
    let p = polls(&dir);
    let (n, failed, longest) = tally(&p, add_from, add_to);
    eprintln!(
        "figures: add 2 masters {t_add:.1?}: /readyz via worker1's load balancer {n} polls, {failed} failed (longest run {longest}; at s: {})",
        failures(&p, add_from, add_to)
    );
    assert!(
        n as f64 >= (add_to - add_from) / 0.2 * 0.5,
        "too few polls ({n}) in {:.1} s: the poller fell behind",
        add_to - add_from
    );
    assert!(
        longest <= LB_RESTART_POLLS,
        "the API did not answer for {longest} polls in a row (failed at s: {})",
        failures(&p, add_from, add_to)
    );
    assert!(
        failed <= LB_RESTART_POLLS,
        "{failed} polls failed: more than the one load balancer restart explains (at s: {})",
        failures(&p, add_from, add_to)
    );

    // remove one master: 2 members; then add it back
    let rm_from = now();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["remove", "-f", one.to_str().unwrap()], &dir);
    let rm_to = now();
    let t_remove = t.elapsed();
    assert_eq!(code, 0, "remove of master3 failed: {report:#}\n{stderr}");
    let members = etcd_members(&dir, "master1");
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(etcd_healthy(&dir, "master1"), 2);
    for h in ["master1", "master2", "worker1"] {
        assert_eq!(lb_backends(&dir, h), 2, "{h}'s load balancer");
    }
    objects_survive(&sb.rt, &dir);

    let back_from = now();
    let t = Instant::now();
    let (code, report, stderr) = k8s_manage(&["add", "-f", one.to_str().unwrap()], &dir);
    let back_to = now();
    let t_back = t.elapsed();
    assert_eq!(code, 0, "adding master3 back failed: {report:#}\n{stderr}");
    let st = steps(&report);
    assert!(
        st.iter()
            .any(|s| s.contains("etcd3") && s.contains("added as a learner")),
        "{st:#?}"
    );
    let members = etcd_members(&dir, "master1");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|(_, learner)| !learner), "{members:?}");
    assert_eq!(etcd_healthy(&dir, "master3"), 3);
    for h in ["master1", "master2", "master3", "worker1"] {
        assert_eq!(lb_backends(&dir, h), 3, "{h}'s load balancer");
    }
    objects_survive(&sb.rt, &dir);
    wait_status_ok(&dir);

    sh(&dir, "worker1", "rm -f /tmp/h20-readyz.run");
    std::thread::sleep(Duration::from_secs(6));
    let p = polls(&dir);
    let (n_rm, f_rm, l_rm) = tally(&p, rm_from, rm_to);
    let (n_back, f_back, l_back) = tally(&p, back_from, back_to);
    eprintln!(
        "figures: remove master3 {t_remove:.1?}: {n_rm} polls, {f_rm} failed (longest run {l_rm}; at s: {})",
        failures(&p, rm_from, rm_to)
    );
    eprintln!(
        "figures: add master3 back {t_back:.1?}: {n_back} polls, {f_back} failed (longest run {l_back}; at s: {})",
        failures(&p, back_from, back_to)
    );
    assert!(
        l_back <= LB_RESTART_POLLS && f_back <= LB_RESTART_POLLS,
        "adding master3 back: {f_back} polls failed, {l_back} in a row (at s: {})",
        failures(&p, back_from, back_to)
    );

    // the workload ran throughout: every Node Ready, 3 web replicas, the Service answers
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    assert_eq!(nodes.lines().count(), 4, "{nodes}");
    assert!(nodes.lines().all(|l| l.ends_with(" True")), "{nodes}");
    k.rollout("default", "deployment/web", "300s");
    assert_eq!(workloads::web_nodes(&k).len(), 3);
    workloads::check_service_and_dns(&k, "client", &domain);
    let svc_to = availability::unix_now();
    let (n, failed) = svc.tally(svc_from, svc_to);
    let gap = svc.longest_outage(svc_from, svc_to);
    svc.stop();
    eprintln!(
        "figures: the web Service through all of it: {}/{n} polls answered, longest outage {gap} s",
        n - failed
    );
    assert!(n > 0, "the Service poller stopped");
    eprintln!("figures: whole test {:.1?}", t0.elapsed());
}
