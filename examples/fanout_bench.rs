//! Benchmark P1 (prints figures, asserts nothing): run one command and upload a 1 MB file on
//! N sandbox nodes (default 50) and on one node, k8s-manage's fan-out (one SSH session per
//! node, all nodes at once) side by side with ansible-core (`forks=N`, pipelining on, the
//! same key, user, nodes and known_hosts), several interleaved runs, medians and spread.
//!
//! Run: `cargo run --release --example fanout_bench -- [--nodes 50] [--runs 5]
//! [--name wt-speed-p1] [--dir EXISTING_SANDBOX_CFG] [--keep]`.
//! On demand (and says so): `pip install ansible-core` when `ansible-playbook` is missing;
//! Ansible needs Python on the nodes, which sandbox nodes lack, so Debian's python3.11
//! packages are fetched with `apt-get download` on the control host once (cached in
//! /var/cache/k8s-manage/bench-python) and installed into each node with `docker exec dpkg -i`.

#[path = "bench_support/mod.rs"]
mod bench;

use bench::*;
use k8s_manage::model::Machine;
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

/// k8s-manage: connect to every node, then on all at once run `uname -a` and upload the file.
fn k8s_manage_run(dir: &Path, ms: &[Machine], data: &[u8]) -> Duration {
    let t = Instant::now();
    let sessions = connect(dir, ms);
    on_each(&sessions, |s| {
        s.run("bench command", "uname -a", Duration::from_secs(60))
            .unwrap_or_else(|e| die(&e.to_string()));
        s.put_file("/tmp/k8s-manage-bench-1mb", data, 0o644)
            .unwrap_or_else(|e| die(&e.to_string()));
    });
    t.elapsed()
}

fn ansible_run(work: &Path, inventory: &Path, hosts: &str, file: &Path, forks: usize) -> Duration {
    let play = work.join("play.yml");
    std::fs::write(
        &play,
        format!(
            "- hosts: {hosts}\n  gather_facts: false\n  tasks:\n    - command: uname -a\n    - copy: {{src: {}, dest: /tmp/ansible-bench-1mb, mode: '0644'}}\n",
            file.display()
        ),
    )
    .unwrap();
    // A fresh ControlPath directory per run: every run starts without open connections,
    // like k8s-manage's.
    let cp = tempfile::tempdir_in(work).unwrap();
    let t = Instant::now();
    sh(Command::new("ansible-playbook")
        .arg("-i")
        .arg(inventory)
        .arg("-f")
        .arg(forks.to_string())
        .arg(&play)
        .env("ANSIBLE_CONFIG", work.join("ansible.cfg"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", cp.path()));
    t.elapsed()
}

fn main() {
    let nodes: u32 = arg_or("--nodes", 50);
    let runs: usize = arg_or("--runs", 5);
    let name = arg("--name").unwrap_or_else(|| "wt-speed-p1".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, made) = sandbox_dir(&rt, &name, 1, nodes, tmp.path());
    let ms = machines(&dir);
    ensure_ansible();
    python_on_nodes(&name, &ms);

    let work = tmp.path().join("ansible");
    std::fs::create_dir_all(&work).unwrap();
    let key = ms[0]
        .ssh
        .keyfile
        .clone()
        .unwrap_or_else(|| die("the sandbox config has no keyfile-path"));
    let mut inv = String::from("[nodes]\n");
    for m in &ms {
        inv += &format!(
            "{} ansible_host={} ansible_user={} ansible_port={}\n",
            m.hostname, m.hostip, m.ssh.username, m.ssh.port
        );
    }
    inv += &format!("[one]\n{}\n", ms[0].hostname);
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

    let (mut k1, mut kn, mut a1, mut an) = (vec![], vec![], vec![], vec![]);
    let mut cpu: [Vec<f64>; 4] = Default::default();
    for run in 0..runs {
        // new content each run, so both tools really upload
        let data: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761).wrapping_add(run as u32) >> 13) as u8)
            .collect();
        let file = work.join("payload-1mb");
        std::fs::write(&file, &data).unwrap();
        let (_, t, c) = timed(|| k8s_manage_run(&dir, &ms[..1], &data));
        k1.push(t);
        cpu[0].push(c);
        let (_, t, c) = timed(|| k8s_manage_run(&dir, &ms, &data));
        kn.push(t);
        cpu[1].push(c);
        let (_, t, c) = timed(|| ansible_run(&work, &inventory, "one", &file, nodes as usize));
        a1.push(t);
        cpu[2].push(c);
        let (_, t, c) = timed(|| ansible_run(&work, &inventory, "nodes", &file, nodes as usize));
        an.push(t);
        cpu[3].push(c);
        eprintln!(
            "run {}: k8s-manage 1 node {:.2}s, {nodes} nodes {:.2}s; ansible 1 node {:.2}s, {nodes} nodes {:.2}s",
            run + 1,
            k1[run].as_secs_f64(),
            kn[run].as_secs_f64(),
            a1[run].as_secs_f64(),
            an[run].as_secs_f64()
        );
    }
    println!(
        "P1: one command + upload of a 1 MB file ({nodes} nodes, {} CPUs on the control host)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let k1m = show_cpu("  k8s-manage, 1 node", &k1, &cpu[0]);
    let knm = show_cpu(&format!("  k8s-manage, {nodes} nodes"), &kn, &cpu[1]);
    show_cpu("  ansible-core, 1 node", &a1, &cpu[2]);
    let anm = show_cpu(
        &format!("  ansible-core, {nodes} nodes (forks={nodes}, pipelining)"),
        &an,
        &cpu[3],
    );
    println!(
        "  ansible / k8s-manage at {nodes} nodes: {:.1}x (goal >= 5x)",
        anm / knm
    );
    println!(
        "  k8s-manage {nodes} nodes / 1 node: {:.2}x (goal <= 1.5x)",
        knm / k1m
    );
    if made && !flag("--keep") {
        let _ = rt.block_on(k8s_manage::sandbox::down(&name));
    }
}
