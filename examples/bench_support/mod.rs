//! Shared by the speed benchmarks (examples): sandbox set-up or reuse, SSH sessions to its
//! nodes, timing statistics, and running shell commands on the control host.
#![allow(dead_code)]

pub mod latency;

use k8s_manage::model::Machine;
use k8s_manage::sandbox;
use k8s_manage::ssh::{self, ConnectOptions, HostKeyPolicy, KnownHosts, Session, Target};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `--key value` from the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

pub fn arg_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

pub fn die(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}

/// The most sandbox nodes running the real components this machine carries at once: the
/// tests' machine-wide node budget (`K8S_MANAGE_TEST_NODES`, default 8; on two cores more
/// nodes' kubelets, kube-proxies and flannels overload it). `--max-nodes N` raises it on a
/// larger machine.
pub fn max_real_nodes() -> u32 {
    arg("--max-nodes")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(k8s_manage::sandbox::node_budget::budget() as u32)
}

/// Wait until `nodes` units of the tests' machine-wide node budget are free and hold them
/// while the returned value lives, so that a benchmark never runs its sandbox beside test
/// sandboxes that already use the machine.
pub fn take_nodes(nodes: u32) -> k8s_manage::sandbox::node_budget::Hold {
    k8s_manage::sandbox::node_budget::take(nodes as usize, &|want, budget| {
        eprintln!(
            "waiting for {want} of the machine's {budget} sandbox nodes (tests hold the rest)"
        )
    })
    .unwrap_or_else(|e| die(&format!("the sandbox node budget's lock files: {e}")))
}

/// A sandbox of `nodes` nodes (1 master + workers, or `masters` masters) named `name`,
/// or the existing config dir given with `--dir`. Returns (config dir, whether we made it).
pub fn sandbox_dir(
    rt: &tokio::runtime::Runtime,
    name: &str,
    masters: u32,
    nodes: u32,
    tmp: &Path,
) -> (PathBuf, bool) {
    if let Some(d) = arg("--dir") {
        return (PathBuf::from(d), false);
    }
    let dir = tmp.join("cfg");
    let mut opts = sandbox::UpOptions::new(dir.clone());
    opts.name = name.into();
    opts.masters = masters;
    opts.workers = nodes - masters;
    // `--proxy`: one more node, `k8s-role: proxy`, in front of the apiservers
    opts.proxy = flag("--proxy");
    let _ = rt.block_on(sandbox::down(name));
    let t = std::time::Instant::now();
    eprintln!("sandbox up {name}: {nodes} nodes ...");
    if let Err(e) = rt.block_on(sandbox::up(&opts, &|s| eprintln!("  {s}"))) {
        let _ = rt.block_on(sandbox::down(name));
        die(&format!("sandbox up: {e}"));
    }
    eprintln!("sandbox up {name}: {:.1}s", t.elapsed().as_secs_f64());
    (dir, true)
}

pub fn machines(dir: &Path) -> Vec<Machine> {
    match k8s_manage::model::build::load(dir) {
        Ok(l) => l.cluster.machines,
        Err(_) => die(&format!("{}: not a valid config dir", dir.display())),
    }
}

/// The sandbox's known_hosts (every node's host key, written by `sandbox up`).
pub fn known_hosts(dir: &Path) -> KnownHosts {
    KnownHosts::new(dir.join(".k8s-manage/sandbox/known_hosts"))
}

/// One SSH session per machine, `parallel` connects at once.
pub fn connect(dir: &Path, ms: &[Machine]) -> Vec<Session> {
    let targets: Vec<Target> = ms.iter().map(Target::from_machine).collect();
    ssh::connect_all(
        &targets,
        &known_hosts(dir),
        HostKeyPolicy::TrustOnFirstUse,
        &ConnectOptions::default(),
        50,
    )
    .into_iter()
    .map(|(h, r)| r.unwrap_or_else(|e| die(&format!("{h}: {e}"))))
    .collect()
}

/// Run `f` on every item on its own thread; results in order.
pub fn on_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let hs: Vec<_> = items.iter().map(|i| s.spawn(|| f(i))).collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    })
}

/// (median, min, max) in seconds.
pub fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

pub fn show(label: &str, v: &[Duration]) -> f64 {
    let (med, min, max) = stats(v);
    println!(
        "{label}: median {med:.2}s (min {min:.2}s, max {max:.2}s, {} runs)",
        v.len()
    );
    med
}

/// Run a command on the control host; its stdout, or exit with its stderr.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| die(&format!("{cmd:?}: {e}")));
    if !out.status.success() {
        die(&format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Docker container of a sandbox node.
pub fn node_container(sandbox: &str, host: &str) -> String {
    format!("{sandbox}-{host}")
}

/// Shape a node's outgoing link with tc inside its network namespace (see
/// shared/docs/machine-notes.md); `None` removes the shaping.
pub fn shape_node(container: &str, rate: Option<&str>) {
    let mut c = Command::new("docker");
    c.args(["exec", container, "tc", "qdisc"]);
    match rate {
        Some(r) => c.args([
            "replace", "dev", "eth0", "root", "tbf", "rate", r, "burst", "256kb", "latency", "50ms",
        ]),
        None => c.args(["del", "dev", "eth0", "root"]),
    };
    let _ = c.output();
}

/// Machine-wide CPU time spent so far (user, nice, system, irq, softirq and steal, all
/// cores), in seconds, from `/proc/stat`; 0 where there is none.
pub fn cpu_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    busy / 100.0 // USER_HZ
}

/// Run `f`; (its result, wall time, machine CPU seconds spent meanwhile).
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration, f64) {
    let c = cpu_busy_seconds();
    let t = std::time::Instant::now();
    let r = f();
    (r, t.elapsed(), cpu_busy_seconds() - c)
}

/// The CPUs of this machine.
pub fn cores() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0)
}

/// Print a median wall time with its spread, and how busy the machine's CPUs were: a run
/// whose CPU time is near wall × cores was bound by CPU, not by the network or the tool.
pub fn show_cpu(label: &str, walls: &[Duration], cpu: &[f64]) -> f64 {
    let (med, min, max) = stats(walls);
    let c: Vec<Duration> = cpu.iter().map(|s| Duration::from_secs_f64(*s)).collect();
    let (cmed, _, _) = stats(&c);
    println!(
        "{label}: median {med:.2}s (min {min:.2}s, max {max:.2}s, {} runs); CPU {cmed:.1}s = {:.0}% of {} cores",
        walls.len(),
        100.0 * cmed / (med * cores()),
        cores()
    );
    med
}

/// Machine-wide CPU (busy seconds, steal seconds) so far, all cores, from `/proc/stat`.
pub fn cpu_sample() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    (busy / 100.0, v.get(7).copied().unwrap_or(0.0) / 100.0)
}

/// One run of a command as its own process: wall time, the machine's busy and steal CPU
/// seconds meanwhile, and the process's own CPU seconds (user + system, its waited-for
/// children included: `wait4`) and peak resident memory.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub wall: Duration,
    pub machine_cpu: f64,
    pub steal: f64,
    pub own_cpu: f64,
    pub max_rss_mb: f64,
    pub stdout: String,
}

/// Run `cmd` (stdout captured, stderr passed on) and measure it; exits when it fails.
pub fn measure(cmd: &mut Command) -> Ran {
    use std::os::unix::process::ExitStatusExt;
    let out_file = tempfile::tempfile().unwrap_or_else(|e| die(&e.to_string()));
    let (busy0, steal0) = cpu_sample();
    let t = std::time::Instant::now();
    let child = cmd
        .stdout(out_file.try_clone().unwrap_or_else(|e| die(&e.to_string())))
        .spawn()
        .unwrap_or_else(|e| die(&format!("{cmd:?}: {e}")));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    let (busy1, steal1) = cpu_sample();
    std::mem::forget(child); // reaped by wait4
    let mut stdout = String::new();
    {
        use std::io::{Read, Seek};
        let mut f = out_file;
        let _ = f.seek(std::io::SeekFrom::Start(0));
        let _ = f.read_to_string(&mut stdout);
    }
    let exit = std::process::ExitStatus::from_raw(status);
    if rc != pid || !exit.success() {
        die(&format!("{cmd:?} failed ({exit}):\n{stdout}"));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ran {
        wall,
        machine_cpu: busy1 - busy0,
        steal: steal1 - steal0,
        own_cpu: secs(ru.ru_utime) + secs(ru.ru_stime),
        max_rss_mb: ru.ru_maxrss as f64 / 1024.0,
        stdout,
    }
}

/// Light sandbox nodes (sshd and dockerd, no components) taken per unit of the machine's
/// node budget. A light node runs only sshd and an idle dockerd (about 70 MB), while a node of
/// real components also runs a kubelet, kube-proxy, flannel and the control plane. This
/// ratio is a judgement, not a measurement: the idle cost could not be measured apart from
/// the other work on the machine. A 50-node light sandbox holds 5 of the 8 units.
pub const LIGHT_NODES_PER_UNIT: u32 = 10;

/// Hold the budget units a light sandbox of `nodes` nodes needs (see
/// [`LIGHT_NODES_PER_UNIT`]).
pub fn take_light_nodes(nodes: u32) -> k8s_manage::sandbox::node_budget::Hold {
    take_nodes(nodes.div_ceil(LIGHT_NODES_PER_UNIT))
}

/// A light sandbox (`masters` masters + workers, sshd and dockerd only, nothing preloaded)
/// named `name`, or the config dir given with `--dir`; (config dir, whether we made it).
pub fn light_sandbox_dir(
    rt: &tokio::runtime::Runtime,
    name: &str,
    nodes: u32,
    tmp: &Path,
) -> (PathBuf, bool) {
    if let Some(d) = arg("--dir") {
        return (PathBuf::from(d), false);
    }
    let dir = tmp.join("cfg");
    let mut opts = sandbox::UpOptions::new(dir.clone());
    opts.name = name.into();
    opts.masters = 1;
    opts.workers = nodes - 1;
    opts.components = sandbox::Components::None;
    let _ = rt.block_on(sandbox::down(name));
    let t = std::time::Instant::now();
    eprintln!("sandbox up {name}: {nodes} light nodes (sshd + dockerd, no components) ...");
    if let Err(e) = rt.block_on(sandbox::up(&opts, &|s| eprintln!("  {s}"))) {
        let _ = rt.block_on(sandbox::down(name));
        die(&format!("sandbox up: {e}"));
    }
    eprintln!("sandbox up {name}: {:.1}s", t.elapsed().as_secs_f64());
    (dir, true)
}

/// "CPU x% of N cores, steal y%, RTT z ms": the conditions a median was measured in.
pub fn conditions(wall: f64, machine_cpu: f64, steal: f64, rtt_ms: u64) -> String {
    let cap = wall * cores();
    format!(
        "machine CPU {:.0}% of {} cores, steal {:.0}%, RTT {rtt_ms} ms",
        100.0 * machine_cpu / cap,
        cores(),
        100.0 * steal / cap
    )
}

/// Median of plain numbers.
pub fn median(v: &[f64]) -> f64 {
    let d: Vec<Duration> = v
        .iter()
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
        .collect();
    stats(&d).0
}
