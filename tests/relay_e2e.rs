//! The image relay on real sandbox nodes (real sshd, OpenSSH clients and Docker engines on
//! every node): a bundle passed node to node arrives verified and loaded everywhere; a
//! node killed mid-stream is routed around and named; the run leaves no key, file or
//! authorized_keys line behind; `deploy --images` relays by default and `--relay off` still
//! pushes directly.

use k8s_manage::run::relay::{RelayOptions, RelayTarget, relay_bundle};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{cluster, k8s_manage, ssh, up, up_with};
#[path = "common/bundle.rs"]
mod bundle;

fn targets(dir: &Path) -> Vec<RelayTarget> {
    cluster(dir)
        .machines
        .iter()
        .map(|m| RelayTarget {
            host: m.hostname.clone(),
            session: Arc::new(ssh(dir, &m.hostname)),
        })
        .collect()
}

fn image_on(dir: &Path, host: &str, image: &str) -> bool {
    ssh(dir, host)
        .exec(
            "inspect",
            &format!("docker image inspect {image} >/dev/null 2>&1"),
            None,
            Duration::from_secs(30),
        )
        .unwrap()
        .success()
}

fn leftovers(dir: &Path, host: &str) -> String {
    ssh(dir, host)
        .exec(
            "leftovers",
            "ls -d /tmp/k8s-manage-relay-* 2>/dev/null; grep -c k8s-manage-relay ~/.ssh/authorized_keys; true",
            None,
            Duration::from_secs(30),
        )
        .unwrap()
        .stdout_str()
}

/// Shape a node's outgoing link (as in shared/docs/machine-notes.md) so a stream lasts long
/// enough to kill a node in the middle of it.
fn shape(container: &str, rate: &str) {
    let st = Command::new("docker")
        .args([
            "exec", container, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
        ])
        .args(["rate", rate, "burst", "256kb", "latency", "50ms"])
        .status()
        .unwrap();
    assert!(st.success(), "tc on {container}");
}

#[test]
fn relay_chain_reroute_cleanup_and_deploy_paths() {
    // Parts 1 and 2 need only sshd and the Docker engines: nodes without components.
    let sb = up_with(
        "ec-relay",
        1,
        3,
        false,
        &[],
        k8s_manage::sandbox::Components::None,
    );
    let dir = sb.dir.clone();
    let tmp = tempfile::tempdir().unwrap();
    let hosts: Vec<String> = cluster(&dir)
        .machines
        .iter()
        .map(|m| m.hostname.clone())
        .collect();
    assert_eq!(hosts.len(), 4);

    // 1. A 24 MB bundle down one chain through all four nodes.
    let small = tmp.path().join("small.tar");
    bundle::write_bundle(&small, "ec-relay/small:1", 24 << 20, 7);
    let log = |h: &str, l: &str| eprintln!("[{h}] {l}");
    let t = Instant::now();
    let report = relay_bundle(&targets(&dir), &small, &RelayOptions::default(), &log).unwrap();
    eprintln!("relay to 4 nodes: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(report.rounds, 1, "{report:#?}");
    for n in &report.nodes {
        let loaded = n
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", n.host));
        assert_eq!(loaded, &vec!["ec-relay/small:1".to_string()], "{}", n.host);
        assert!(image_on(&dir, &n.host, "ec-relay/small:1"), "{}", n.host);
    }
    assert!(
        report.cleanup_failed.is_empty(),
        "{:?}",
        report.cleanup_failed
    );
    for h in &hosts {
        assert_eq!(
            leftovers(&dir, h).trim(),
            "0",
            "relay files or keys left on {h}"
        );
    }

    // 2. The second node is killed mid-stream: the others still get the bundle (the nodes
    // after it are re-fed from the control host), the report names it.
    let big = tmp.path().join("big.tar");
    bundle::write_bundle(&big, "ec-relay/big:1", 96 << 20, 11);
    for h in &hosts {
        shape(&format!("ec-relay-{h}"), "100mbit");
    }
    let victim = hosts[1].clone();
    let container = format!("ec-relay-{victim}");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        Command::new("docker")
            .args(["kill", &container])
            .status()
            .unwrap()
    });
    let opts = RelayOptions {
        stall: Duration::from_secs(20),
        ..Default::default()
    };
    let t = Instant::now();
    let report = relay_bundle(&targets(&dir), &big, &opts, &log).unwrap();
    eprintln!(
        "relay with a node killed: {:.2}s, {} rounds",
        t.elapsed().as_secs_f64(),
        report.rounds
    );
    assert!(killer.join().unwrap().success());
    let failed: Vec<&str> = report.failed().map(|n| n.host.as_str()).collect();
    assert_eq!(failed, vec![victim.as_str()], "{report:#?}");
    let why = report.failed().next().unwrap().result.clone().unwrap_err();
    assert!(why.contains("stopped answering"), "{why}");
    assert!(report.rounds >= 2, "{report:#?}");
    for h in hosts.iter().filter(|h| **h != victim) {
        assert!(image_on(&dir, h, "ec-relay/big:1"), "{h}");
        assert_eq!(
            leftovers(&dir, h).trim(),
            "0",
            "relay files or keys left on {h}"
        );
    }
    assert_eq!(
        report.cleanup_failed.len(),
        1,
        "{:?}",
        report.cleanup_failed
    );
    assert!(report.cleanup_failed[0].starts_with(&victim));
    drop(sb);

    // 3. deploy --images relays by default; --relay off pushes from the control host.
    let sb = up("ec-relay2", 1, 1, false);
    let dir = sb.dir.clone();
    let hosts: Vec<String> = cluster(&dir)
        .machines
        .iter()
        .map(|m| m.hostname.clone())
        .collect();
    let haproxy = "k8s-manage-sandbox/haproxy:2.6";
    let lb_bundle = tmp.path().join("haproxy.tar");
    let st = Command::new("docker")
        .args(["save", "-o"])
        .arg(&lb_bundle)
        .arg(haproxy)
        .status()
        .unwrap();
    assert!(st.success(), "docker save {haproxy}");
    let rmi = |h: &str| {
        ssh(&dir, h)
            .run(
                "rmi",
                &format!("docker rmi {haproxy}"),
                Duration::from_secs(60),
            )
            .unwrap();
        assert!(!image_on(&dir, h, haproxy));
    };
    for h in &hosts {
        rmi(h);
    }
    let b = lb_bundle.to_str().unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy", "--images", b], &dir);
    assert_eq!(code, 0, "deploy --images: {report:#}\n{stderr}");
    for h in &hosts {
        assert!(image_on(&dir, h, haproxy), "{h}");
    }
    let log_dir = report["log_dir"].as_str().unwrap().to_string();
    let log =
        std::fs::read_to_string(Path::new(&log_dir).join(format!("{}.log", hosts[0]))).unwrap();
    assert!(log.contains("images: relayed bundle"), "{log}");
    assert!(log.contains("verified and loaded"), "{log}");

    // Remove it from one node only; --relay off pushes the bundle directly to that node.
    // haproxy runs now: stop nothing, just untag it (the running container keeps its image).
    ssh(&dir, &hosts[1])
        .run(
            "untag",
            &format!("docker rmi -f {haproxy}"),
            Duration::from_secs(60),
        )
        .unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy", "--images", b, "--relay", "off"], &dir);
    assert_eq!(code, 0, "deploy --relay off: {report:#}\n{stderr}");
    assert!(image_on(&dir, &hosts[1], haproxy));
    let log_dir = report["log_dir"].as_str().unwrap().to_string();
    let log =
        std::fs::read_to_string(Path::new(&log_dir).join(format!("{}.log", hosts[1]))).unwrap();
    assert!(log.contains("loaded from bundle"), "{log}");
    assert!(!log.contains("relay"), "{log}");
}
