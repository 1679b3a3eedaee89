//! Benchmark P1 (prints figures, asserts nothing): run one command and upload a 1 MB file on
//! 1, 10 and 50 light sandbox nodes (sshd and dockerd, no components), k8s-manage's fan-out
//! (one SSH session per node, all nodes at once) side by side with ansible-core (`forks=N`,
//! pipelining on, the same key, user, nodes and known_hosts), at each round-trip time given
//! (default 50 and 100 ms, added to every connection from the control host to the nodes by
//! `bench_support::latency`: this kernel has no `tc netem`), several interleaved runs.
//!
//! Each run is its own process (k8s-manage's fan-out: this example with `--child`), so the
//! figures include its own CPU seconds (`wait4`, children included) and peak memory, per
//! node, next to Ansible's; every median is printed with the machine's CPU share, the steal
//! and the RTT in force. k8s-manage's SSH requests per node are counted in its SSH layer
//! (`ssh::SshRequests`), and the round trips on the critical path are measured: the added
//! time between two RTTs divided by the RTT difference.
//!
//! Run: `cargo build --release --examples && ./target/release/examples/fanout_bench
//! [--sizes 1,10,50] [--ansible-sizes 1,10,50] [--rtts 50,100] [--runs 3] [--ansible-runs 3]
//! [--name bench-p1] [--dir EXISTING_SANDBOX_CFG] [--keep]` (`--ansible-sizes none`: k8s-manage
//! only).
//! A light sandbox holds one unit of the machine's node budget per
//! [`bench::LIGHT_NODES_PER_UNIT`] nodes.
//! On demand (and says so): `pip install ansible-core` when `ansible-playbook` is missing;
//! Ansible needs Python on the nodes, which sandbox nodes lack, so Debian's python3.11
//! packages are fetched with `apt-get download` on the control host once (cached in
//! /var/cache/k8s-manage/bench-python) and installed into each node with `docker exec dpkg -i`.

#[path = "bench_support/mod.rs"]
mod bench;

use bench::latency;
use bench::*;
use k8s_manage::model::Machine;
use k8s_manage::ssh::SshRequests;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PY_DEBS: &[&str] = &[
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11",
    "python3-minimal",
    "libpython3-stdlib",
    "media-types",
    "libffi8",
    "libexpat1",
    "libreadline8",
    "libsqlite3-0",
    "readline-common",
];

fn ensure_ansible() {
    if Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return;
    }
    eprintln!(
        "ansible-playbook not found: installing ansible-core from PyPI (pip install ansible-core)"
    );
    sh(Command::new("pip3").args(["install", "-q", "ansible-core"]));
}

fn python_on_nodes(sandbox: &str, ms: &[Machine]) {
    let cache = Path::new("/var/cache/k8s-manage/bench-python");
    let have = std::fs::read_dir(cache).map(|d| d.count()).unwrap_or(0);
    if have < PY_DEBS.len() {
        eprintln!(
            "fetching Debian's python3.11 packages for Ansible's modules on the nodes (apt-get download, once)"
        );
        std::fs::create_dir_all(cache).unwrap_or_else(|e| die(&e.to_string()));
        sh(Command::new("apt-get")
            .current_dir(cache)
            .arg("download")
            .args(PY_DEBS));
    }
    eprintln!(
        "installing python3 into {} nodes (docker exec dpkg -i)",
        ms.len()
    );
    // a few nodes at a time: 50 dpkg runs at once starve everything else on two cores
    for group in ms.chunks(4) {
        python_on(sandbox, group, cache);
    }
}

fn python_on(sandbox: &str, ms: &[Machine], cache: &Path) {
    on_each(ms, |m| {
        let c = node_container(sandbox, &m.hostname);
        let probe = Command::new("docker")
            .args(["exec", &c, "sh", "-c", "command -v python3"])
            .output();
        if probe.is_ok_and(|o| o.status.success()) {
            return;
        }
        sh(Command::new("docker").args([
            "cp",
            &format!("{}/.", cache.display()),
            &format!("{c}:/tmp/bench-python"),
        ]));
        // two passes: dpkg -i takes the files in name order, not dependency order
        let _ = Command::new("docker")
            .args(["exec", &c, "sh", "-c", "dpkg -i /tmp/bench-python/*.deb >/dev/null 2>&1; dpkg -i /tmp/bench-python/*.deb >/dev/null 2>&1; rm -rf /tmp/bench-python; command -v python3"])
            .output();
    });
}

/// `--child DIR N PAYLOAD`: k8s-manage's fan-out in this process: connect to the first N
/// machines, on all at once run `uname -a` and upload the file; print the SSH requests made.
fn child(dir: &Path, n: usize, payload: &Path) {
    let ms: Vec<Machine> = machines(dir).into_iter().take(n).collect();
    let data = std::fs::read(payload).unwrap_or_else(|e| die(&e.to_string()));
    let before = SshRequests::now();
    let t = Instant::now();
    let sessions = connect(dir, &ms);
    let connected = t.elapsed();
    let steps = on_each(&sessions, |s| {
        let t = Instant::now();
        s.run("bench command", "uname -a", Duration::from_secs(60))
            .unwrap_or_else(|e| die(&e.to_string()));
        let command = t.elapsed();
        s.put_file("/tmp/k8s-manage-bench-1mb", &data, 0o644)
            .unwrap_or_else(|e| die(&e.to_string()));
        (command, t.elapsed() - command)
    });
    let mut r = serde_json::to_value(SshRequests::now().since(&before)).unwrap_or_default();
    let (c, u): (Vec<Duration>, Vec<Duration>) = steps.into_iter().unzip();
    r["connect_s"] = connected.as_secs_f64().into();
    r["command_s"] = stats(&c).0.into();
    r["upload_s"] = stats(&u).0.into();
    println!("{r}");
}

fn k8s_manage_run(dir: &Path, n: usize, payload: &Path) -> (Ran, SshRequests, [f64; 3]) {
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
    let ran = measure(
        Command::new(exe)
            .arg("--child")
            .arg(dir)
            .arg(n.to_string())
            .arg(payload),
    );
    let v: serde_json::Value = serde_json::from_str(ran.stdout.trim()).unwrap_or_default();
    let get = |k: &str| v[k].as_u64().unwrap_or(0);
    let r = SshRequests {
        logins: get("logins"),
        commands: get("commands"),
        uploads: get("uploads"),
        docker_channels: get("docker_channels"),
    };
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let steps = [f("connect_s"), f("command_s"), f("upload_s")];
    (ran, r, steps)
}

fn ansible_run(work: &Path, inventory: &Path, n: usize, file: &Path, forks: usize) -> Ran {
    let play = work.join(format!("play-{n}.yml"));
    std::fs::write(
        &play,
        format!(
            "- hosts: s{n}\n  gather_facts: false\n  tasks:\n    - command: uname -a\n    - copy: {{src: {}, dest: /tmp/ansible-bench-1mb, mode: '0644'}}\n",
            file.display()
        ),
    )
    .unwrap();
    // A fresh ControlPath directory per run: every run starts without open connections,
    // like k8s-manage's.
    let cp = tempfile::tempdir_in(work).unwrap();
    measure(
        Command::new("ansible-playbook")
            .arg("-i")
            .arg(inventory)
            .arg("-f")
            .arg(forks.to_string())
            .arg(&play)
            .env("ANSIBLE_CONFIG", work.join("ansible.cfg"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", cp.path()),
    )
}

fn list(name: &str, default: &str) -> Vec<u64> {
    arg(name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// Runs of one tool at one size and RTT.
#[derive(Default)]
struct Cell {
    runs: Vec<Ran>,
    requests: Option<SshRequests>,
    /// k8s-manage: (connect all, the command, the upload) per run; medians over the nodes
    steps: Vec<[f64; 3]>,
}

impl Cell {
    fn wall(&self) -> f64 {
        median(
            &self
                .runs
                .iter()
                .map(|r| r.wall.as_secs_f64())
                .collect::<Vec<_>>(),
        )
    }
}

fn print_cell(tool: &str, n: u64, rtt: u64, c: &Cell) {
    if c.runs.is_empty() {
        return;
    }
    let walls: Vec<Duration> = c.runs.iter().map(|r| r.wall).collect();
    let (med, min, max) = stats(&walls);
    let m = |f: fn(&Ran) -> f64| median(&c.runs.iter().map(f).collect::<Vec<_>>());
    let own = m(|r| r.own_cpu);
    let rss = m(|r| r.max_rss_mb);
    let req = c
        .requests
        .map(|r| {
            format!(
                "; per node: {:.1} logins, {:.1} commands, {:.1} uploads",
                r.logins as f64 / n as f64,
                r.commands as f64 / n as f64,
                r.uploads as f64 / n as f64
            )
        })
        .unwrap_or_default();
    println!(
        "  {tool:<12} {n:>3} nodes: median {med:.2}s ({min:.2}–{max:.2}, {} runs); own CPU {own:.2}s = {:.3}s/node, peak RSS {rss:.0} MiB = {:.2} MiB/node{req}; [{}]",
        walls.len(),
        own / n as f64,
        rss / n as f64,
        conditions(med, m(|r| r.machine_cpu), m(|r| r.steal), rtt)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (Some(dir), Some(n), Some(payload)) = (
            args.get(i + 1),
            args.get(i + 2).and_then(|n| n.parse().ok()),
            args.get(i + 3),
        ) else {
            die("--child DIR N PAYLOAD")
        };
        child(Path::new(dir), n, Path::new(payload));
        return;
    }
    let sizes = list("--sizes", "1,10,50");
    let ansible_sizes = match arg("--ansible-sizes").as_deref() {
        Some("none") => Vec::new(),
        _ => list("--ansible-sizes", "1,10,50"),
    };
    let rtts = list("--rtts", "50,100");
    let runs: usize = arg_or("--runs", 3);
    let ansible_runs: usize = arg_or("--ansible-runs", runs);
    let name = arg("--name").unwrap_or_else(|| "bench-p1".into());
    let nodes = sizes
        .iter()
        .chain(&ansible_sizes)
        .copied()
        .max()
        .unwrap_or(1) as u32;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let _budget = take_light_nodes(nodes);
    let (dir, made) = light_sandbox_dir(&rt, &name, nodes, tmp.path());
    let ms = machines(&dir);
    // what the idle light nodes cost the machine (how they count against the node budget)
    std::thread::sleep(Duration::from_secs(3));
    let (b0, s0) = cpu_sample();
    std::thread::sleep(Duration::from_secs(10));
    let (b1, s1) = cpu_sample();
    let idle = format!(
        "the idle light sandbox ({nodes} nodes) and everything else on the machine: {:.0}% of the {} cores busy, steal {:.0}% (10 s)",
        100.0 * (b1 - b0) / (10.0 * cores()),
        cores(),
        100.0 * (s1 - s0) / (10.0 * cores())
    );
    eprintln!("{idle}");
    if !ansible_sizes.is_empty() {
        ensure_ansible();
        python_on_nodes(&name, &ms);
    }

    let work = tmp.path().join("ansible");
    std::fs::create_dir_all(&work).unwrap();
    let key = ms[0]
        .ssh
        .keyfile
        .clone()
        .unwrap_or_else(|| die("the sandbox config has no keyfile-path"));
    let mut inv = String::new();
    for &n in &ansible_sizes {
        inv += &format!("[s{n}]\n");
        for m in ms.iter().take(n as usize) {
            inv += &format!(
                "{} ansible_host={} ansible_user={} ansible_port={}\n",
                m.hostname, m.hostip, m.ssh.username, m.ssh.port
            );
        }
    }
    let inventory = work.join("hosts.ini");
    std::fs::write(&inventory, inv).unwrap();
    std::fs::write(
        work.join("ansible.cfg"),
        format!(
            "[defaults]\nforks = {nodes}\nhost_key_checking = True\nprivate_key_file = {}\ninterpreter_python = /usr/bin/python3\nstdout_callback = default\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes\n",
            key.display(),
            dir.join(".k8s-manage/sandbox/known_hosts").display()
        ),
    )
    .unwrap();

    let subnet = latency::sandbox_subnet(&name);
    let mut k8s: std::collections::BTreeMap<(u64, u64), Cell> = Default::default();
    let mut ans: std::collections::BTreeMap<(u64, u64), Cell> = Default::default();
    let payload = work.join("payload-1mb");
    for &rtt in &rtts {
        let _delay = latency::Latency::start(&subnet, rtt, 18018);
        for run in 0..runs {
            for &n in sizes
                .iter()
                .chain(&ansible_sizes)
                .collect::<std::collections::BTreeSet<_>>()
            {
                // new content each run, so both tools really upload
                let data: Vec<u8> = (0..1u32 << 20)
                    .map(|i| {
                        (i.wrapping_mul(2654435761)
                            .wrapping_add((run as u32) << 8 | n as u32)
                            >> 13) as u8
                    })
                    .collect();
                std::fs::write(&payload, &data).unwrap();
                let mut line = format!("RTT {rtt} ms, run {}, {n} nodes:", run + 1);
                if sizes.contains(&n) {
                    let (r, req, steps) = k8s_manage_run(&dir, n as usize, &payload);
                    line += &format!(" k8s-manage {:.2}s", r.wall.as_secs_f64());
                    let c = k8s.entry((rtt, n)).or_default();
                    c.runs.push(r);
                    c.requests = Some(req);
                    c.steps.push(steps);
                }
                if ansible_sizes.contains(&n) && run < ansible_runs {
                    let r = ansible_run(&work, &inventory, n as usize, &payload, nodes as usize);
                    line += &format!(" ansible {:.2}s", r.wall.as_secs_f64());
                    ans.entry((rtt, n)).or_default().runs.push(r);
                }
                eprintln!("{line}");
            }
        }
    }
    println!(
        "P1: one command + upload of a 1 MB file, light nodes, {} CPUs on the control host",
        cores()
    );
    println!("{idle}");
    for &rtt in &rtts {
        println!("RTT {rtt} ms:");
        for &n in &sizes {
            print_cell("k8s-manage", n, rtt, &k8s[&(rtt, n)]);
        }
        for &n in &ansible_sizes {
            print_cell("ansible-core", n, rtt, &ans[&(rtt, n)]);
        }
        let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            println!(
                "  k8s-manage {hi} nodes / {lo} node: {:.2}x (goal <= 1.5x)",
                k8s[&(rtt, *hi)].wall() / k8s[&(rtt, *lo)].wall()
            );
            if let Some(a) = ans.get(&(rtt, *hi)) {
                println!(
                    "  ansible / k8s-manage at {hi} nodes: {:.1}x (goal >= 5x)",
                    a.wall() / k8s[&(rtt, *hi)].wall()
                );
            }
        }
    }
    for w in rtts.windows(2) {
        let (a, b) = (w[0], w[1]);
        println!(
            "round trips on the critical path (added time from RTT {a} to {b} ms / {} ms):",
            b - a
        );
        let per = |c: &std::collections::BTreeMap<(u64, u64), Cell>, n: u64| match (
            c.get(&(a, n)),
            c.get(&(b, n)),
        ) {
            (Some(x), Some(y)) => format!("{:.1}", (y.wall() - x.wall()) * 1000.0 / (b - a) as f64),
            _ => "-".into(),
        };
        for &n in &sizes {
            let step = |i: usize| match (k8s.get(&(a, n)), k8s.get(&(b, n))) {
                (Some(x), Some(y)) => {
                    let m = |c: &Cell| median(&c.steps.iter().map(|s| s[i]).collect::<Vec<_>>());
                    format!("{:.1}", (m(y) - m(x)) * 1000.0 / (b - a) as f64)
                }
                _ => "-".into(),
            };
            println!(
                "  k8s-manage   {n:>3} nodes: {} (connecting all nodes {}, the command {}, the upload {})",
                per(&k8s, n),
                step(0),
                step(1),
                step(2)
            );
        }
        for &n in &ansible_sizes {
            println!("  ansible-core {n:>3} nodes: {}", per(&ans, n));
        }
    }
    if made && !flag("--keep") {
        let _ = rt.block_on(k8s_manage::sandbox::down(&name));
    }
}
