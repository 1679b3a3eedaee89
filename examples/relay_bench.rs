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
//! The nodes are light (sshd and dockerd, no components) and hold one unit of the
//! machine's node budget per `bench_support::LIGHT_NODES_PER_UNIT` nodes. The harness prints
//! one link's transfer time and the machine's load work, to show which bounds the run.
//!
//! Run: `cargo run --release --example relay_bench -- [--nodes 16] [--mb 200]
//! [--rate 200mbit] [--runs 3] [--name wt-speed-p2] [--dir EXISTING_SANDBOX_CFG] [--keep]`.

#[path = "bench_support/mod.rs"]
mod bench;
#[path = "../tests/common/bundle.rs"]
mod bundle;

use bench::*;
use k8s_manage::executor::docker::images;
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
            images::load_images(&client, file_stream(bundle))
                .await
                .unwrap_or_else(|e| die(&format!("{}: {e}", tun.host())))
        });
        futures_util::future::join_all(jobs).await
    });
    t.elapsed()
}

/// Bits per second of a tc rate such as `20mbit` or `1gbit`.
fn rate_bits(rate: &str) -> f64 {
    let r = rate.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = r.strip_suffix("gbit") {
        (n, 1e9)
    } else if let Some(n) = r.strip_suffix("mbit") {
        (n, 1e6)
    } else if let Some(n) = r.strip_suffix("kbit") {
        (n, 1e3)
    } else {
        (r.trim_end_matches("bit"), 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mult
}

/// CPU seconds spent so far by a sandbox's node containers (cgroup v1 `cpuacct.usage`,
/// what `docker load`, sshd, `sha256sum` and `tee` cost on the nodes) plus this process's
/// own (the control host's SSH and file reads).
fn load_work_seconds(sandbox: &str) -> f64 {
    let ids = sh(Command::new("docker").args([
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=io.k8s-manage.sandbox={sandbox}"),
    ]));
    let nodes: f64 = ids
        .split_whitespace()
        .filter_map(|id| {
            std::fs::read_to_string(format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"))
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1e9;
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    nodes + secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// Run `f`; (wall time, the machine's busy and steal CPU seconds meanwhile).
fn timed_steal(f: impl FnOnce() -> Duration) -> (Duration, f64, f64) {
    let (b0, s0) = cpu_sample();
    let t = f();
    let (b1, s1) = cpu_sample();
    (t, b1 - b0, s1 - s0)
}

/// A median with its spread and the conditions it was measured in (links shaped, no RTT
/// added).
fn show_steal(label: &str, walls: &[Duration], cpu: &[f64], steal: &[f64]) -> f64 {
    let (med, min, max) = stats(walls);
    println!(
        "{label}: median {med:.2}s (min {min:.2}s, max {max:.2}s, {} runs); CPU {:.1}s [{}]",
        walls.len(),
        median(cpu),
        conditions(med, median(cpu), median(steal), 0)
    );
    med
}

fn main() {
    let nodes: u32 = arg_or("--nodes", 16);
    let mb: u64 = arg_or("--mb", 200);
    let runs: usize = arg_or("--runs", 3);
    let rate = arg("--rate").unwrap_or_else(|| "200mbit".into());
    let name = arg("--name").unwrap_or_else(|| "wt-speed-p2".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let _budget = take_light_nodes(nodes);
    let (dir, made) = light_sandbox_dir(&rt, &name, nodes, tmp.path());
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
    let mut steal: [Vec<f64>; 3] = Default::default();
    let mut one_work = Vec::new();
    for run in 0..runs {
        remove_image(&sessions);
        let w = load_work_seconds(&sandbox);
        let (t, c, st) = timed_steal(|| relay(&sessions[..1], &bundle_path));
        one_work.push(load_work_seconds(&sandbox) - w);
        one.push(t);
        cpu[0].push(c);
        steal[0].push(st);
        remove_image(&sessions);
        let (t, c, st) = timed_steal(|| relay(&sessions, &bundle_path));
        rel.push(t);
        cpu[1].push(c);
        steal[1].push(st);
        remove_image(&sessions);
        let (t, c, st) = timed_steal(|| direct(&rt, &tunnels, &bundle_path));
        dir_push.push(t);
        cpu[2].push(c);
        steal[2].push(st);
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
    let o = show_steal("  one node alone", &one, &cpu[0], &steal[0]);
    let r = show_steal(
        &format!("  relay to {nodes} nodes"),
        &rel,
        &cpu[1],
        &steal[1],
    );
    let d = show_steal(
        &format!("  direct push to {nodes} nodes"),
        &dir_push,
        &cpu[2],
        &steal[2],
    );
    // The link bound vs the CPU bound: one link's transfer time at the shaped rate, and
    // the whole chain's load work (one node's CPU seconds, N times) spread over the cores.
    let link = size as f64 * 8.0 / rate_bits(&rate);
    let work = median(&one_work) * nodes as f64 / cores();
    println!(
        "  one link's transfer at {rate}: {link:.1}s; the machine's load work for {nodes} nodes (one node's {:.2} CPU-s, its container and this process, x {nodes} / {} cores): {work:.1}s -> {}",
        median(&one_work),
        cores(),
        if link > work {
            "link-bound"
        } else {
            "CPU-bound (choose a larger bundle or a lower rate)"
        }
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
