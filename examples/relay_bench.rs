//! Benchmark P2 (prints figures, asserts nothing): an image bundle (default 200 MB,
//! incompressible) to N sandbox nodes (default 16) whose links are shaped (default
//! 200 Mbit/s): the node-to-node relay vs a direct push from the control host to every node
//! at once (what `deploy --relay off` does: `docker load` through each node's Docker API
//! tunnel) vs one node alone. Medians of several interleaved runs, with the spread.
//!
//! Shaping (shared/docs/machine-notes.md): `tc ... tbf rate R` on eth0 inside every node's
//! network namespace (each node's uplink), and on the sandbox network's bridge on the
//! control host (the control host's uplink to the nodes); removed at the end.
//!
//! Run: `cargo run --release --example relay_bench -- [--nodes 16] [--mb 200]
//! [--rate 200mbit] [--runs 3] [--name wt-speed-p2] [--dir EXISTING_SANDBOX_CFG] [--keep]`.

#[path = "bench_support/mod.rs"]
mod bench;
#[path = "../tests/common/bundle.rs"]
mod bundle;

use bench::*;
use k8s_manage::executor::docker_ops;
use k8s_manage::run::relay::{RelayOptions, RelayTarget, relay_bundle};
use k8s_manage::ssh::Session;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const IMAGE: &str = "k8s-manage-bench/relay-payload:1";

fn remove_image(sessions: &[Arc<Session>]) {
    on_each(sessions, |s| {
        let _ = s.exec(
            "rmi",
            &format!("docker rmi -f {IMAGE}"),
            None,
            Duration::from_secs(120),
        );
    });
}

fn relay(sessions: &[Arc<Session>], bundle: &Path) -> Duration {
    let targets: Vec<RelayTarget> = sessions
        .iter()
        .map(|s| RelayTarget {
            host: s.host().to_string(),
            session: s.clone(),
        })
        .collect();
    let t = Instant::now();
    let r = relay_bundle(&targets, bundle, &RelayOptions::default(), &|_, _| {})
        .unwrap_or_else(|e| die(&e));
    let d = t.elapsed();
    if let Some(f) = r.failed().next() {
        die(&format!("relay failed on {}: {:?}", f.host, f.result));
    }
    d
}

fn file_stream(
    path: &Path,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let file = std::fs::File::open(path).unwrap_or_else(|e| die(&e.to_string()));
    futures_util::stream::unfold(tokio::fs::File::from_std(file), |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// Every node at once, each through its own Docker API tunnel from the control host.
fn direct(
    rt: &tokio::runtime::Runtime,
    tunnels: &[k8s_manage::ssh::DockerTunnel],
    bundle: &Path,
) -> Duration {
    let t = Instant::now();
    rt.block_on(async {
        let jobs = tunnels.iter().map(|tun| async move {
            // bollard's default request timeout (120 s) is shorter than pushing a large
            // bundle to many nodes over one shaped link takes
            let client = tun.client().clone().with_timeout(Duration::from_secs(3600));
            docker_ops::load_images(&client, file_stream(bundle))
                .await
                .unwrap_or_else(|e| die(&format!("{}: {e}", tun.host())))
        });
        futures_util::future::join_all(jobs).await
    });
    t.elapsed()
}

fn main() {
    let nodes: u32 = arg_or("--nodes", 16);
    let mb: u64 = arg_or("--mb", 200);
    let runs: usize = arg_or("--runs", 3);
    let rate = arg("--rate").unwrap_or_else(|| "200mbit".into());
    let name = arg("--name").unwrap_or_else(|| "wt-speed-p2".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let (dir, made) = sandbox_dir(&rt, &name, 1, nodes, tmp.path());
    let ms: Vec<_> = machines(&dir).into_iter().take(nodes as usize).collect();
    let bundle_path = tmp.path().join("bundle.tar");
    eprintln!("writing a {mb} MB bundle");
    bundle::write_bundle(&bundle_path, IMAGE, mb << 20, 42);
    let size = std::fs::metadata(&bundle_path)
        .map(|m| m.len())
        .unwrap_or(0);

    // shape every node's uplink and the control host's (the sandbox network's bridge)
    let sandbox = arg("--sandbox").unwrap_or_else(|| name.clone());
    let net_id = sh(Command::new("docker").args(["network", "inspect", "-f", "{{.Id}}", &sandbox]));
    let bridge = format!("br-{}", &net_id.trim()[..12]);
    for m in &ms {
        shape_node(&node_container(&sandbox, &m.hostname), Some(&rate));
    }
    sh(Command::new("tc").args([
        "qdisc", "replace", "dev", &bridge, "root", "tbf", "rate", &rate, "burst", "256kb",
        "latency", "50ms",
    ]));

    let sessions: Vec<Arc<Session>> = connect(&dir, &ms).into_iter().map(Arc::new).collect();
    let tunnels: Vec<_> = on_each(&sessions, |s| {
        s.docker().unwrap_or_else(|e| die(&e.to_string()))
    });
    let (mut one, mut rel, mut dir_push) = (vec![], vec![], vec![]);
    let mut cpu: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        remove_image(&sessions);
        let (t, _, c) = timed(|| relay(&sessions[..1], &bundle_path));
        one.push(t);
        cpu[0].push(c);
        remove_image(&sessions);
        let (t, _, c) = timed(|| relay(&sessions, &bundle_path));
        rel.push(t);
        cpu[1].push(c);
        remove_image(&sessions);
        let (t, _, c) = timed(|| direct(&rt, &tunnels, &bundle_path));
        dir_push.push(t);
        cpu[2].push(c);
        eprintln!(
            "run {}: one node {:.1}s, relay to {nodes} {:.1}s, direct push to {nodes} {:.1}s",
            run + 1,
            one[run].as_secs_f64(),
            rel[run].as_secs_f64(),
            dir_push[run].as_secs_f64()
        );
    }
    remove_image(&sessions);
    let _ = Command::new("tc")
        .args(["qdisc", "del", "dev", &bridge, "root"])
        .output();
    for m in &ms {
        shape_node(&node_container(&sandbox, &m.hostname), None);
    }
    println!(
        "P2: {:.0} MB bundle to {nodes} nodes, links shaped to {rate}",
        size as f64 / 1e6
    );
    let o = show_cpu("  one node alone", &one, &cpu[0]);
    let r = show_cpu(&format!("  relay to {nodes} nodes"), &rel, &cpu[1]);
    let d = show_cpu(
        &format!("  direct push to {nodes} nodes"),
        &dir_push,
        &cpu[2],
    );
    println!(
        "  relay / one node: {:.2}x (goal <= 1.5x); direct push / one node: {:.2}x",
        r / o,
        d / o
    );
    drop(tunnels);
    if made && !flag("--keep") {
        let _ = rt.block_on(k8s_manage::sandbox::down(&name));
    }
}
