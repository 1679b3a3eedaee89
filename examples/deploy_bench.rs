//! Benchmark (prints figures, asserts nothing): on sandbox nodes, deploy from nothing and
//! the no-op re-deploy for 3 masters + 2 workers, and the no-op re-deploy for 20 nodes.
//! Run: `cargo run --release --example deploy_bench` (needs a Docker engine and the
//! k8s-standin binary: `cargo build --release -p k8s-standin`).

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
    scenario(&rt, &bin, "bench-deploy-5", 3, 2, 5);
    scenario(&rt, &bin, "bench-deploy-20", 3, 17, 3);
}
