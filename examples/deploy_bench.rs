//! Benchmarks P3/P4 and `add` (print figures, assert nothing), on sandbox nodes running the
//! real upstream components (`sandbox up`'s default):
//! - for each size given: deploy from nothing (which waits for every node Ready and the
//!   add-ons rolled out), then the no-op re-deploy (median of several runs with the spread,
//!   and the median time of each phase);
//! - with `--add-size N`: a cluster of N nodes gets one more worker, by `add -f` and by a full
//!   re-deploy with the node appended to the config, interleaved (`remove` in between).
//!
//! Run: `cargo run --release --example deploy_bench -- [--sizes 5,8] [--noop-runs 5]
//! [--add-size 7] [--add-runs 3] [--prefix bench-deploy] [--keep] [--max-nodes 8] [--proxy]`
//! (`--proxy`: every sandbox gets a proxy node besides its masters and workers) (needs a
//! Docker engine; the first `sandbox up` builds the upstream images). A sandbox larger than
//! [`bench_support::max_real_nodes`] (8 on this 2-core machine) is refused, and each one
//! waits for its nodes in the tests' machine-wide node budget. Sandboxes are named
//! `<prefix>-<size>` and taken down at the end unless `--keep`.

#[path = "bench_support/mod.rs"]
mod bench_support;
#[path = "../tests/common/machine_entries.rs"]
mod machine_entries;

use bench_support::{
    arg, arg_or, cores, cpu_busy_seconds, die, flag, max_real_nodes, sandbox_dir, show_cpu, stats,
    take_nodes, timed,
};
use k8s_manage::sandbox;
use machine_entries::split_entries;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Run `k8s-manage ARGS -p DIR --output json`; (wall time, report). Exits on failure.
fn run(bin: &Path, args: &[&str], dir: &Path) -> (Duration, Value) {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .args(["--output", "json", "-p"])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| die(&format!("run k8s-manage: {e}")));
    let d = t.elapsed();
    if !out.status.success() {
        die(&format!(
            "k8s-manage {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (d, report)
}

/// Median seconds of each phase over several reports, in the order of the first report.
fn phase_medians(reports: &[Value]) -> Vec<(String, f64, f64, f64)> {
    let mut order = Vec::new();
    let mut times: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for r in reports {
        for p in r["phases"].as_array().into_iter().flatten() {
            let name = p["phase"].as_str().unwrap_or("?").to_string();
            let s = p["seconds"].as_f64().unwrap_or(0.0);
            if !times.contains_key(&name) {
                order.push(name.clone());
            }
            times
                .entry(name)
                .or_default()
                .push(Duration::from_secs_f64(s));
        }
    }
    order
        .into_iter()
        .map(|n| {
            let (med, min, max) = stats(&times[&n]);
            (n, med, min, max)
        })
        .collect()
}

fn print_phases(title: &str, reports: &[Value]) {
    println!("  {title}, median per phase (min–max):");
    for (name, med, min, max) in phase_medians(reports) {
        println!("    {med:6.3}s ({min:.3}–{max:.3})  {name}");
    }
}

fn down(rt: &tokio::runtime::Runtime, name: &str) {
    if !flag("--keep") {
        let _ = rt.block_on(sandbox::down(name));
    }
}

/// P3/P4: deploy from nothing, then `noop_runs` no-op re-deploys.
fn size_scenario(rt: &tokio::runtime::Runtime, bin: &Path, name: &str, nodes: u32, runs: usize) {
    let proxy = flag("--proxy");
    let _budget = take_nodes(nodes + u32::from(proxy));
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = sandbox_dir(rt, name, 3, nodes, tmp.path());
    let (first, first_report) = run(bin, &["deploy"], &dir);
    // What the idle cluster itself costs the machine (its nodes share its CPUs).
    std::thread::sleep(Duration::from_secs(3));
    let c = cpu_busy_seconds();
    std::thread::sleep(Duration::from_secs(10));
    let idle = (cpu_busy_seconds() - c) / 10.0;
    let (mut times, mut cpu, mut reports) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let ((d, r), _, c) = timed(|| run(bin, &["deploy"], &dir));
        times.push(d);
        cpu.push(c);
        reports.push(r);
    }
    println!(
        "{nodes} nodes (3 masters + {} workers{}): deploy from nothing, until every node is Ready and the add-ons' pods run, {:.1}s",
        nodes - 3,
        if proxy { " + a proxy node" } else { "" },
        first.as_secs_f64()
    );
    print_phases("deploy from nothing", std::slice::from_ref(&first_report));
    println!(
        "  the idle cluster keeps {:.0}% of the {} cores busy (measured over 10 s)",
        100.0 * idle / cores(),
        cores()
    );
    show_cpu(&format!("{nodes} nodes: no-op re-deploy"), &times, &cpu);
    print_phases("no-op re-deploy", &reports);
    down(rt, name);
}

/// `add` of one worker to a cluster of `nodes` vs a full re-deploy with it appended.
fn add_scenario(rt: &tokio::runtime::Runtime, bin: &Path, name: &str, nodes: u32, runs: usize) {
    let _budget = take_nodes(nodes + 1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = sandbox_dir(rt, name, 3, nodes + 1, tmp.path());
    let config = dir.join("cluster-configuration.yaml");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let (head, entries) = split_entries(&text);
    let Some((extra_host, extra)) = entries.last().cloned() else {
        die("no machine entries in the sandbox config")
    };
    let trimmed: String = std::iter::once(head)
        .chain(entries[..entries.len() - 1].iter().map(|(_, e)| e.clone()))
        .collect();
    std::fs::write(&config, &trimmed).unwrap_or_else(|e| die(&e.to_string()));
    let list: PathBuf = tmp.path().join("new-worker.yaml");
    std::fs::write(&list, format!("machine-list:{extra}")).unwrap_or_else(|e| die(&e.to_string()));
    let list = list.to_str().unwrap_or_default().to_string();

    run(bin, &["deploy"], &dir);
    let (mut adds, mut fulls) = (Vec::new(), Vec::new());
    let (mut add_cpu, mut full_cpu) = (Vec::new(), Vec::new());
    let (mut add_reports, mut full_reports) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let ((d, r), _, c) = timed(|| run(bin, &["add", "-f", &list], &dir));
        adds.push(d);
        add_cpu.push(c);
        add_reports.push(r);
        run(bin, &["remove", "-f", &list], &dir);
        std::fs::write(&config, format!("{trimmed}{extra}"))
            .unwrap_or_else(|e| die(&e.to_string()));
        let ((d, r), _, c) = timed(|| run(bin, &["deploy"], &dir));
        fulls.push(d);
        full_cpu.push(c);
        full_reports.push(r);
        run(bin, &["remove", "-f", &list], &dir);
    }
    println!("one worker ({extra_host}) joins a cluster of {nodes} nodes:");
    let a = show_cpu("  add -f", &adds, &add_cpu);
    let inner: Vec<Value> = add_reports.iter().map(|r| r["deploy"].clone()).collect();
    print_phases(
        "add -f, after its checks: the deploy scoped to the new node",
        &inner,
    );
    let f = show_cpu(
        "  full re-deploy (deploy with the node appended)",
        &fulls,
        &full_cpu,
    );
    print_phases("full re-deploy", &full_reports);
    println!("  full re-deploy / add: {:.2}×", f / a);
    down(rt, name);
}

fn main() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("k8s-manage")))
        .filter(|p| p.exists());
    let Some(bin) = bin else {
        die("build the binary first: cargo build --release --bins --examples")
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let prefix = arg("--prefix").unwrap_or_else(|| "bench-deploy".into());
    let runs: usize = arg_or("--noop-runs", 5);
    let sizes: Vec<u32> = arg("--sizes")
        .unwrap_or_else(|| "5,8".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|&n| n >= 3)
        .collect();
    let add = arg("--add-size")
        .and_then(|v| v.parse::<u32>().ok())
        .map(|n| n.max(4));
    let most = max_real_nodes();
    for n in sizes.iter().copied().chain(add.map(|n| n + 1)) {
        if n > most {
            die(&format!(
                "{n} nodes running the real components do not fit this machine (at most \
                 {most}: each node runs a kubelet, kube-proxy and flannel on the shared \
                 cores); use smaller --sizes/--add-size, or --max-nodes N on a larger machine"
            ));
        }
    }
    for n in sizes {
        size_scenario(&rt, &bin, &format!("{prefix}-{n}"), n, runs);
    }
    if let Some(n) = add {
        let runs: usize = arg_or("--add-runs", 3);
        add_scenario(&rt, &bin, &format!("{prefix}-add{n}"), n, runs);
    }
}
