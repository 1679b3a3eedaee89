//! Benchmarks P3/P4 and `add` (print figures, assert nothing), on sandbox nodes running the
//! real upstream components (`sandbox up`'s default):
//! - for each size given: deploy from nothing (which waits for every node Ready and the
//!   add-ons rolled out), then the no-op re-deploy (median of several runs with the spread,
//!   and the median time of each phase);
//! - with `--add-size N`: a cluster of N nodes gets one more worker, by `add -f` and by a full
//!   re-deploy with the node appended to the config, interleaved (`remove` in between).
//!
//!
//! Every run of k8s-manage is measured as a process: its own CPU seconds (`wait4`, children
//! included) and peak memory, per node, and the machine's CPU share and steal beside each
//! median. With `--rtts 0,50,100` the no-op re-deploys run once per round-trip time added to
//! every connection from the control host to the nodes (`bench_support::latency`: this
//! kernel has no `tc netem`), and each phase shows its SSH requests per node (counted by
//! the product, `phases[].ssh` in `--output json`) and the round trips on its critical path
//! (the added time over the added RTT).
//!
//! With `--baseline BIN` each no-op re-deploy of the binary under test is paired with one
//! of BIN (an earlier build of k8s-manage) on the same cluster, interleaved, and both are
//! printed with the ratio of their medians (the baseline runs first in each pair).
//!
//! Run: `cargo run --release --example deploy_bench -- [--sizes 5,8] [--noop-runs 5]
//! [--rtts 0] [--baseline BIN] [--add-size 7] [--add-runs 3] [--prefix bench-deploy] [--keep]
//! [--max-nodes 8] [--proxy]`
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
    Ran, arg, arg_or, conditions, cores, cpu_busy_seconds, die, flag, latency, max_real_nodes,
    measure, median, sandbox_dir, show_cpu, stats, take_nodes, timed,
};
use k8s_manage::sandbox;
use machine_entries::split_entries;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Run `k8s-manage ARGS -p DIR --output json`; (wall time, report). Exits on failure.
fn run(bin: &Path, args: &[&str], dir: &Path) -> (Duration, Value) {
    let (ran, report) = run_measured(bin, args, dir);
    (ran.wall, report)
}

/// [`run`], with the process's own CPU and peak memory and the machine's CPU meanwhile.
fn run_measured(bin: &Path, args: &[&str], dir: &Path) -> (Ran, Value) {
    let ran = measure(
        Command::new(bin)
            .args(args)
            .args(["--output", "json", "-p"])
            .arg(dir),
    );
    let report = serde_json::from_str(&ran.stdout).unwrap_or(Value::Null);
    (ran, report)
}

/// Median seconds of each phase over several reports, in the order of the first report,
/// with the SSH requests (logins, commands, uploads, Docker channels) the first made.
fn phase_medians(reports: &[Value]) -> Vec<(String, f64, f64, f64, [u64; 4])> {
    let mut order = Vec::new();
    let mut times: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut requests: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for r in reports {
        for p in r["phases"].as_array().into_iter().flatten() {
            let name = p["phase"].as_str().unwrap_or("?").to_string();
            let s = p["seconds"].as_f64().unwrap_or(0.0);
            if !times.contains_key(&name) {
                order.push(name.clone());
                let n = |k: &str| p["ssh"][k].as_u64().unwrap_or(0);
                requests.insert(
                    name.clone(),
                    [
                        n("logins"),
                        n("commands"),
                        n("uploads"),
                        n("docker_channels"),
                    ],
                );
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
            let r = requests[&n];
            (n, med, min, max, r)
        })
        .collect()
}

/// Each phase's median time and its SSH requests per node; with `critical`, the phase
/// medians at a lower RTT: the round trips on the critical path are the added time over
/// the added RTT.
fn print_phases(title: &str, reports: &[Value], nodes: u32, critical: Option<(&[Value], f64)>) {
    println!(
        "  {title}, median per phase (min–max); SSH requests per node: logins/commands/uploads/docker channels{}:",
        if critical.is_some() {
            "; round trips on the critical path"
        } else {
            ""
        }
    );
    let lower: BTreeMap<String, f64> = critical
        .map(|(r, _)| {
            phase_medians(r)
                .into_iter()
                .map(|(n, m, ..)| (n, m))
                .collect()
        })
        .unwrap_or_default();
    for (name, med, min, max, r) in phase_medians(reports) {
        let per = |x: u64| x as f64 / nodes as f64;
        let rt = match (critical, lower.get(&name)) {
            (Some((_, d_rtt)), Some(lo)) => format!("  {:5.1} RT", (med - lo) / d_rtt),
            _ => String::new(),
        };
        println!(
            "    {med:6.3}s ({min:.3}–{max:.3})  {:.1}/{:.1}/{:.1}/{:.1}{rt}  {name}",
            per(r[0]),
            per(r[1]),
            per(r[2]),
            per(r[3])
        );
    }
}

fn down(rt: &tokio::runtime::Runtime, name: &str) {
    if !flag("--keep") {
        let _ = rt.block_on(sandbox::down(name));
    }
}

/// P3/P4: deploy from nothing, then `noop_runs` no-op re-deploys at each RTT of `--rtts`
/// (default 0: none added; see `bench_support::latency`).
fn size_scenario(rt: &tokio::runtime::Runtime, bin: &Path, name: &str, nodes: u32, runs: usize) {
    let proxy = flag("--proxy");
    let all = nodes + u32::from(proxy);
    let _budget = take_nodes(all);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = sandbox_dir(rt, name, 3, nodes, tmp.path());
    let (first, first_report) = run_measured(bin, &["deploy"], &dir);
    // What the idle cluster itself costs the machine (its nodes share its CPUs).
    std::thread::sleep(Duration::from_secs(3));
    let c = cpu_busy_seconds();
    std::thread::sleep(Duration::from_secs(10));
    let idle = (cpu_busy_seconds() - c) / 10.0;
    let rtts: Vec<u64> = arg("--rtts")
        .unwrap_or_else(|| "0".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let subnet = latency::sandbox_subnet(name);
    let baseline: Option<PathBuf> = arg("--baseline").map(PathBuf::from);
    let mut by_rtt: Vec<(u64, Vec<Ran>, Vec<Value>)> = Vec::new();
    let mut base_by_rtt: Vec<(u64, Vec<Ran>, Vec<Value>)> = Vec::new();
    for &rtt in &rtts {
        let _delay = latency::Latency::start(&subnet, rtt, 18019);
        let (mut ran, mut reports) = (Vec::new(), Vec::new());
        let (mut base_ran, mut base_reports) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            if let Some(b) = &baseline {
                let (r, rep) = run_measured(b, &["deploy"], &dir);
                base_ran.push(r);
                base_reports.push(rep);
            }
            let (r, rep) = run_measured(bin, &["deploy"], &dir);
            ran.push(r);
            reports.push(rep);
        }
        by_rtt.push((rtt, ran, reports));
        base_by_rtt.push((rtt, base_ran, base_reports));
    }
    println!(
        "{nodes} nodes (3 masters + {} workers{}): deploy from nothing, until every node is Ready and the add-ons' pods run, {:.1}s; k8s-manage's own CPU {:.2}s = {:.3}s/node, peak RSS {:.0} MiB = {:.2} MiB/node [{}]",
        nodes - 3,
        if proxy { " + a proxy node" } else { "" },
        first.wall.as_secs_f64(),
        first.own_cpu,
        first.own_cpu / all as f64,
        first.max_rss_mb,
        first.max_rss_mb / all as f64,
        conditions(first.wall.as_secs_f64(), first.machine_cpu, first.steal, 0)
    );
    print_phases(
        "deploy from nothing",
        std::slice::from_ref(&first_report),
        all,
        None,
    );
    println!(
        "  the idle cluster keeps {:.0}% of the {} cores busy (measured over 10 s)",
        100.0 * idle / cores(),
        cores()
    );
    let mut tables = vec![("", &by_rtt)];
    if baseline.is_some() {
        tables.insert(0, (" (baseline)", &base_by_rtt));
    }
    for (which, by_rtt) in tables {
        noop_rows(nodes, all, which, by_rtt);
    }
    if baseline.is_some() {
        for ((rtt, ran, _), (_, base, _)) in by_rtt.iter().zip(&base_by_rtt) {
            let walls = |r: &[Ran]| stats(&r.iter().map(|r| r.wall).collect::<Vec<_>>()).0;
            println!(
                "{nodes} nodes: no-op re-deploy, RTT {rtt} ms: this build / baseline, medians: {:.2}×",
                walls(ran) / walls(base)
            );
        }
    }
    down(rt, name);
}

/// The no-op rows of one binary (`which`: "" or " (baseline)"), per RTT.
fn noop_rows(nodes: u32, all: u32, which: &str, by_rtt: &[(u64, Vec<Ran>, Vec<Value>)]) {
    for (i, (rtt, ran, reports)) in by_rtt.iter().enumerate() {
        let walls: Vec<Duration> = ran.iter().map(|r| r.wall).collect();
        let (med, min, max) = stats(&walls);
        let m = |f: fn(&Ran) -> f64| median(&ran.iter().map(f).collect::<Vec<_>>());
        println!(
            "{nodes} nodes: no-op re-deploy{which}, RTT {rtt} ms: median {med:.2}s ({min:.2}–{max:.2}, {} runs); k8s-manage's own CPU {:.2}s = {:.3}s/node, peak RSS {:.0} MiB = {:.2} MiB/node [{}]",
            ran.len(),
            m(|r| r.own_cpu),
            m(|r| r.own_cpu) / all as f64,
            m(|r| r.max_rss_mb),
            m(|r| r.max_rss_mb) / all as f64,
            conditions(med, m(|r| r.machine_cpu), m(|r| r.steal), *rtt)
        );
        let critical = (i > 0).then(|| {
            let (lo_rtt, _, lo) = &by_rtt[i - 1];
            (lo.as_slice(), (*rtt - *lo_rtt) as f64 / 1000.0)
        });
        print_phases(
            &format!("no-op re-deploy{which}, RTT {rtt} ms"),
            reports,
            all,
            critical,
        );
    }
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
        1,
        None,
    );
    let f = show_cpu(
        "  full re-deploy (deploy with the node appended)",
        &fulls,
        &full_cpu,
    );
    print_phases("full re-deploy", &full_reports, nodes + 1, None);
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
