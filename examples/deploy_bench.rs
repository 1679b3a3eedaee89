//! Benchmarks P3/P4 (print figures, assert nothing): on sandbox nodes, deploy from nothing
//! and the no-op re-deploy (median of several runs, with the spread), 3 masters and the rest
//! workers, for each size given (default 5 and 20).
//! Run: `cargo run --release --example deploy_bench -- [--sizes 5,20,50] [--noop-runs 5]
//! [--prefix bench-deploy]` (needs a Docker engine and the k8s-standin binary:
//! `cargo build --release -p k8s-standin`). Sandboxes are named `<prefix>-<size>`.

use k8s_manage::sandbox;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn deploy(bin: &Path, dir: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["deploy", "--output", "json", "-p"])
        .arg(dir)
        .output()
        .expect("run k8s-manage");
    let d = t.elapsed();
    if !out.status.success() {
        eprintln!(
            "deploy failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    d
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn scenario(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    name: &str,
    masters: u32,
    workers: u32,
    noop_runs: usize,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cfg");
    let mut opts = sandbox::UpOptions::new(dir.clone());
    opts.name = name.into();
    opts.masters = masters;
    opts.workers = workers;
    let _ = rt.block_on(sandbox::down(name));
    if let Err(e) = rt.block_on(sandbox::up(&opts, &|_| {})) {
        eprintln!("sandbox up: {e}");
        std::process::exit(1);
    }
    let first = deploy(bin, &dir);
    let noops: Vec<Duration> = (0..noop_runs).map(|_| deploy(bin, &dir)).collect();
    let (med, min, max) = median(noops);
    println!(
        "{} nodes ({masters} masters + {workers} workers): deploy from nothing {:.1}s; no-op re-deploy median {:.2}s (min {:.2}s, max {:.2}s, {noop_runs} runs)",
        masters + workers,
        first.as_secs_f64(),
        med.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64()
    );
    let _ = rt.block_on(sandbox::down(name));
}

fn main() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("k8s-manage")))
        .filter(|p| p.exists());
    let Some(bin) = bin else {
        eprintln!("build the binary first: cargo build --release");
        std::process::exit(1);
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let args: Vec<String> = std::env::args().collect();
    let value = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let prefix = value("--prefix").unwrap_or_else(|| "bench-deploy".into());
    let runs: usize = value("--noop-runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let sizes: Vec<u32> = value("--sizes")
        .unwrap_or_else(|| "5,20".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|&n| n >= 3)
        .collect();
    for n in sizes {
        scenario(&rt, &bin, &format!("{prefix}-{n}"), 3, n - 3, runs);
    }
}
