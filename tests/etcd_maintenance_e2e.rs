//! `etcdfix` and `etcd snapshot restore` end to end on the real components (etcd 3.6 over
//! mTLS, kube-apiserver, kubelets, ...), on one sandbox of 3 masters + 1 worker with the
//! test workload running: a wiped member is rebuilt and every key written before is still
//! there; with two of three members wiped etcdfix refuses and points to a restore, a
//! tampered snapshot is refused, and the restore brings the cluster back with the keys and
//! the Kubernetes objects of the snapshot (and without those written after it), the
//! workload running. Plus the input checks, which need no nodes: two machines in the list,
//! or a worker, are refused.

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
mod common;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/workloads.rs"]
mod workloads;

use cluster_sandbox::{cluster, k8s_manage, ssh, up};
use kubectl::Kubectl;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: usize = 1000;

/// A node list with the cluster's own entries for `hosts`, in the list or the map form.
fn node_list(dir: &Path, hosts: &[&str], map_form: bool) -> PathBuf {
    let c = cluster(dir);
    let mut s = String::from(if map_form {
        "machinelist:\n"
    } else {
        "machine-list:\n"
    });
    for h in hosts {
        let m = c.machines.iter().find(|m| m.hostname == *h).unwrap();
        let mut body = format!("hostip: {}\n    k8s-role: {}\n", m.hostip, m.role);
        if let Some(e) = &m.etcdid {
            body.push_str(&format!("    etcdid: {e}\n"));
        }
        if map_form {
            s.push_str(&format!("  {h}:\n    {body}"));
        } else {
            s.push_str(&format!("  - hostname: {h}\n    {body}"));
        }
    }
    let path = dir.join(format!("nodes-{}.yaml", hosts.join("-")));
    std::fs::write(&path, s).unwrap();
    path
}

async fn etcd(dir: &Path, host: &str) -> etcd_client::Client {
    let c = cluster(dir);
    let cred = k8s_manage::run::snapshot::credentials(&c).unwrap();
    let m = c.machines.iter().find(|m| m.hostname == host).unwrap();
    let tls = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(&cred.ca_pem))
        .identity(etcd_client::Identity::from_pem(
            &cred.cert_pem,
            &cred.key_pem,
        ));
    etcd_client::Client::connect(
        [format!("https://{}:2379", m.hostip)],
        Some(
            etcd_client::ConnectOptions::new()
                .with_tls(tls)
                .with_timeout(Duration::from_secs(10)),
        ),
    )
    .await
    .unwrap()
}

fn write_keys(rt: &tokio::runtime::Runtime, dir: &Path, prefix: &str, n: usize) {
    rt.block_on(async {
        let mut cl = etcd(dir, "master1").await;
        for i in 0..n {
            cl.put(format!("{prefix}{i:04}"), format!("value-{i}"), None)
                .await
                .unwrap();
        }
    });
}

/// Keys under `prefix`, read (linearizable) through `host`'s member.
fn count_keys(rt: &tokio::runtime::Runtime, dir: &Path, host: &str, prefix: &str) -> i64 {
    rt.block_on(async {
        let mut cl = etcd(dir, host).await;
        cl.get(
            prefix,
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_count_only(),
            ),
        )
        .await
        .unwrap()
        .count()
    })
}

/// Stop a master's etcd and wipe its data dir.
fn wipe(dir: &Path, host: &str) {
    ssh(dir, host)
        .run_root(
            "wipe etcd",
            "docker stop etcd && rm -rf /var/lib/etcd/member && [ -z \"$(ls -A /var/lib/etcd)\" ]",
            Duration::from_secs(60),
        )
        .unwrap();
}

fn etcd_running(dir: &Path, host: &str) -> String {
    ssh(dir, host)
        .run_root(
            "etcd state",
            "docker inspect -f '{{.State.Running}}' etcd",
            Duration::from_secs(30),
        )
        .unwrap()
        .stdout_str()
        .trim()
        .to_string()
}

fn healthy_members(report: &Value) -> usize {
    report["health"]["members"]
        .as_array()
        .map(|m| m.iter().filter(|x| x["healthy"] == true).count())
        .unwrap_or(0)
}

/// `kubectl get configmap NAME` finds it.
fn configmap_exists(k: &Kubectl, name: &str) -> bool {
    let o = k.run(&["get", "configmap", name, "-o", "name"]);
    assert!(
        o.ok() || o.stderr.contains("NotFound"),
        "kubectl get configmap {name}: {}",
        o.stderr
    );
    o.ok()
}

/// Every Node Ready (within 3 minutes: after a restore the kubelets report again).
fn wait_nodes_ready(k: &Kubectl, count: usize) {
    k.wait_for(
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ],
        Duration::from_secs(180),
        |out| out.lines().count() == count && out.lines().all(|l| l.ends_with(" True")),
    );
}

/// The workload runs: 3 web replicas available, the Service answers the client by name
/// from several replicas, DNS resolves.
fn workload_runs(k: &Kubectl, domain: &str) {
    k.rollout("default", "deployment/web", "300s");
    assert_eq!(workloads::web_nodes(k).len(), 3);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=180s",
    ]);
    workloads::check_service_and_dns(k, "client", domain);
}

/// One sandbox (3 masters + 1 worker, the test workload running) for both:
/// - etcdfix rebuilds a wiped member: every key written before is there, read through each
///   member, and the workload keeps running;
/// - with two of three members wiped (quorum lost) etcdfix refuses and points to a restore,
///   a tampered snapshot is refused, a restore without `--yes` asks and changes nothing, and
///   the restore brings back the keys and the Kubernetes objects of the snapshot (and not
///   those written after it), with the workload running.
#[test]
fn etcdfix_and_snapshot_restore_with_the_workload_running() {
    let t0 = Instant::now();
    let sb = up("eb-etcd", 3, 1, false);
    let dir = sb.dir.clone();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    let c = cluster(&dir);
    let domain = c.kubernetes.cluster_domain.clone();
    let k = Kubectl::new(&sb.rt, &dir, &c.kubernetes.version.to_string());
    workloads::deploy_web(&k);
    let master1 = c.masters().next().unwrap().nodename.clone();
    workloads::start_client(&k, "client", &master1);
    for name in ["kept", "deleted-after-snapshot"] {
        k.ok(&[
            "create",
            "configmap",
            name,
            "--from-literal=written=before the snapshot",
        ]);
    }
    write_keys(&sb.rt, &dir, "/fix/key-", KEYS);

    // ---- etcdfix: one member wiped
    wipe(&dir, "master2");
    assert_eq!(etcd_running(&dir, "master2"), "false");

    // a dry run changes nothing
    let list = node_list(&dir, &["master2"], false);
    let l = list.to_str().unwrap();
    let (code, dry, stderr) = k8s_manage(&["etcdfix", "-f", l, "--dry-run"], &dir);
    assert_eq!(code, 0, "{dry:#}\n{stderr}");
    assert_eq!(dry["dry_run"], true);
    assert!(dry["snapshot"].is_null(), "{dry:#}");
    // the quorum check ran; each phase after `connect` says what it would do, in order
    let said: Vec<&str> = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(said[0].starts_with("quorum: "), "{dry:#}");
    let would: Vec<&str> = said[1..]
        .iter()
        .map(|s| s.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        would,
        ["take", "stop", "remove", "start", "wait"],
        "{dry:#}"
    );
    assert_eq!(etcd_running(&dir, "master2"), "false");

    let t = Instant::now();
    let (code, r, stderr) = k8s_manage(&["etcdfix", "-f", l], &dir);
    let t_fix = t.elapsed();
    assert_eq!(code, 0, "etcdfix failed: {r:#}\n{stderr}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["member_was_healthy"], false);
    assert_eq!(healthy_members(&r), 3, "{r:#}");
    assert_eq!(r["members"].as_array().unwrap().len(), 3, "{r:#}");
    assert_ne!(r["removed_member_id"], r["added_member_id"], "{r:#}");
    assert!(r["removed_member_id"].is_string(), "{r:#}");
    // the automatic snapshot, kept with its checksum
    let snap = r["snapshot"]["snapshot"]["name"].as_str().unwrap();
    assert!(snap.starts_with("auto-etcdfix-"), "{snap}");
    let path = dir.join(format!(".k8s-manage/snapshots/{snap}.db"));
    k8s_manage::etcd::snapshot::verify(&path).unwrap();
    assert_eq!(r["snapshot"]["copied_to"].as_array().unwrap().len(), 3);

    // every key, read through each member, the rebuilt one included
    for h in ["master1", "master2", "master3"] {
        assert_eq!(
            count_keys(&sb.rt, &dir, h, "/fix/key-"),
            KEYS as i64,
            "through {h}"
        );
    }
    // the rebuilt member's container is current: status is healthy and a deploy keeps it
    let (code, st, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "status after etcdfix: {st:#}\n{stderr}");
    let (code, d, stderr) = k8s_manage(&["deploy", "--dry-run"], &dir);
    assert_eq!(code, 0, "{d:#}\n{stderr}");
    let m2 = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["host"] == "master2")
        .unwrap();
    assert!(
        m2["unchanged"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "etcd"),
        "a deploy would touch the rebuilt etcd: {m2:#}"
    );
    // the Kubernetes state is whole: the objects are there and the workload runs
    assert!(configmap_exists(&k, "kept"));
    wait_nodes_ready(&k, 4);
    workload_runs(&k, &domain);
    let t_fix_part = t0.elapsed();

    // ---- quorum lost: a snapshot, changes after it, two members wiped
    let (code, snap, stderr) = k8s_manage(&["etcd", "snapshot", "save", "--name", "before"], &dir);
    assert_eq!(code, 0, "{snap:#}\n{stderr}");
    write_keys(&sb.rt, &dir, "/after/key-", 50);
    k.ok(&["delete", "configmap", "deleted-after-snapshot"]);
    k.ok(&[
        "create",
        "configmap",
        "created-after-snapshot",
        "--from-literal=written=after the snapshot",
    ]);

    wipe(&dir, "master2");
    wipe(&dir, "master3");

    // etcdfix refuses (the map form of the node list) and says to restore
    let list = node_list(&dir, &["master2"], true);
    let (code, r, stderr) = k8s_manage(&["etcdfix", "-f", list.to_str().unwrap()], &dir);
    assert_eq!(code, 1, "{r:#}\n{stderr}");
    assert!(stderr.contains("lost quorum"), "{stderr}");
    assert!(stderr.contains("etcd snapshot restore"), "{stderr}");
    assert!(
        stderr.contains("before"),
        "the hint lists the snapshots: {stderr}"
    );
    assert_eq!(r["ok"], false);
    assert_eq!(etcd_running(&dir, "master2"), "false");

    // a tampered snapshot is refused before anything changes
    let snaps = dir.join(".k8s-manage/snapshots");
    let mut data = std::fs::read(snaps.join("before.db")).unwrap();
    data[4096] ^= 0xff;
    std::fs::write(snaps.join("tampered.db"), data).unwrap();
    let sum = std::fs::read_to_string(snaps.join("before.db.sha256")).unwrap();
    std::fs::write(
        snaps.join("tampered.db.sha256"),
        sum.replace("before.db", "tampered.db"),
    )
    .unwrap();
    let (code, r, stderr) = k8s_manage(
        &["etcd", "snapshot", "restore", "--name", "tampered", "--yes"],
        &dir,
    );
    assert_eq!(code, 1, "{r:#}\n{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(stderr.contains("refusing to restore"), "{stderr}");
    assert_eq!(etcd_running(&dir, "master1"), "true", "nothing may change");

    // without --yes (no terminal) it asks, says what is lost, and changes nothing
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["etcd", "snapshot", "restore", "--name", "before", "-p"])
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("is lost") && e.contains("--yes"), "{e}");
    assert_eq!(etcd_running(&dir, "master1"), "true");

    // no such snapshot: invalid input
    let (code, _, stderr) = k8s_manage(
        &["etcd", "snapshot", "restore", "--name", "nope", "--yes"],
        &dir,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("before"), "{stderr}");

    let t = Instant::now();
    let (code, r, stderr) = k8s_manage(
        &["etcd", "snapshot", "restore", "--name", "before", "--yes"],
        &dir,
    );
    let t_restore = t.elapsed();
    assert_eq!(code, 0, "restore failed: {r:#}\n{stderr}");
    assert_eq!(r["ok"], true);
    assert_eq!(healthy_members(&r), 3, "{r:#}");
    assert_eq!(r["control_plane"]["ok"], true, "{r:#}");
    let nodes = r["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    // etcd 3.6 has no `etcdctl snapshot restore`: etcdutl
    assert!(nodes.iter().all(|n| n["tool"] == "etcdutl"), "{r:#}");
    // master1's data was not wiped: it was moved aside and kept
    let m1 = nodes.iter().find(|n| n["host"] == "master1").unwrap();
    let aside = m1["moved_aside"].as_str().unwrap();
    ssh(&dir, "master1")
        .run_root(
            "kept data",
            &format!("[ -d {aside}/member/wal ]"),
            Duration::from_secs(30),
        )
        .unwrap();

    for h in ["master1", "master2", "master3"] {
        assert_eq!(
            count_keys(&sb.rt, &dir, h, "/fix/key-"),
            KEYS as i64,
            "through {h}"
        );
        assert_eq!(count_keys(&sb.rt, &dir, h, "/after/key-"), 0, "through {h}");
    }
    // the Kubernetes objects are those of the snapshot
    assert!(configmap_exists(&k, "kept"));
    assert!(
        configmap_exists(&k, "deleted-after-snapshot"),
        "a ConfigMap deleted after the snapshot is not back"
    );
    assert!(
        !configmap_exists(&k, "created-after-snapshot"),
        "a ConfigMap created after the snapshot survived the restore"
    );
    let (code, st, stderr) = k8s_manage(&["status"], &dir);
    assert_eq!(code, 0, "status after restore: {st:#}\n{stderr}");
    // and the cluster works: every Node Ready, the workload runs, new objects are taken
    wait_nodes_ready(&k, 4);
    workload_runs(&k, &domain);
    workloads::check_logs_and_exec(&k, "client", &master1);
    k.ok(&[
        "create",
        "configmap",
        "written-after-the-restore",
        "--from-literal=k=v",
    ]);
    assert!(configmap_exists(&k, "written-after-the-restore"));
    eprintln!(
        "figures: etcdfix {t_fix:.1?} (deploy and etcdfix part {t_fix_part:.1?}), restore {t_restore:.1?}, whole test {:.1?}",
        t0.elapsed()
    );
}

#[test]
fn etcdfix_takes_exactly_one_master() {
    let (_t, dir) = common::config_dir(&common::standard(3, 1, false), common::K8S_OK);
    let two = dir.join("two.yaml");
    std::fs::write(
        &two,
        format!(
            "machine-list:\n{}{}",
            common::machine("master-1", "10.1.0.11", "master", Some("etcd1")),
            common::machine("master-2", "10.1.0.12", "master", Some("etcd2"))
        ),
    )
    .unwrap();
    let (code, _, stderr) = k8s_manage(&["etcdfix", "-f", two.to_str().unwrap()], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("one by one"), "{stderr}");

    let worker = dir.join("worker.yaml");
    std::fs::write(
        &worker,
        "machinelist:\n  worker-1:\n    hostip: 10.1.0.101\n    k8s-role: worker\n",
    )
    .unwrap();
    let (code, _, stderr) = k8s_manage(&["etcdfix", "-f", worker.to_str().unwrap()], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("master") && stderr.contains("worker-1"),
        "{stderr}"
    );

    // a machine that is not in the cluster
    let stranger = dir.join("stranger.yaml");
    std::fs::write(
        &stranger,
        format!(
            "machine-list:\n{}",
            common::machine("master-9", "10.1.0.19", "master", Some("etcd9"))
        ),
    )
    .unwrap();
    let (code, _, stderr) = k8s_manage(&["etcdfix", "-f", stranger.to_str().unwrap()], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a machine of this cluster"), "{stderr}");
}
