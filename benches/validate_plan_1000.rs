//! Benchmark (prints figures, asserts nothing): validate and plan a generated inventory
//! of 1000 nodes (3 masters, 1 proxy, 996 workers). Goal: under 1 s for both together.
//! Run: `cargo bench --bench validate_plan_1000`.

use k8s_manage::model::build;
use k8s_manage::plan;
use std::time::{Duration, Instant};

fn inventory(n: usize) -> String {
    let mut s = String::from(
        "default-machine-properties:\n  username: root\n  sshport: 22\n  ssh-agent: \"true\"\nmachine-list:\n",
    );
    for i in 0..n {
        let ip = format!("10.20.{}.{}", i / 250, i % 250 + 1);
        let (role, etcd) = match i {
            0..=2 => ("master", format!("    etcdid: etcd{}\n", i + 1)),
            3 => ("proxy", String::new()),
            _ => ("worker", String::new()),
        };
        s.push_str(&format!("  - hostname: node-{i:04}\n    hostip: {ip}\n    k8s-role: {role}\n{etcd}    machine-type: D8SV3\n    node-exporter: \"true\"\n"));
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("k8s-manage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("cluster-configuration.yaml"), inventory(1000)).expect("write");
    std::fs::write(
        dir.join("kubernetes-configuration.yaml"),
        "kubernetes:\n  kubernetes-version: v1.36.1\n  docker-registry: 10.0.0.5:5000/k8s\n  load-balance-ip: 10.19.0.1\n",
    )
    .expect("write");

    let runs = 7;
    let (mut tv, mut tp, mut tt) = (Vec::new(), Vec::new(), Vec::new());
    let mut steps = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let loaded = match build::load(&dir) {
            Ok(l) => l,
            Err(d) => {
                eprintln!("{}", d.render_text(false));
                std::process::exit(1);
            }
        };
        let t1 = Instant::now();
        let p = plan::build("deploy", &loaded.cluster, None).expect("plan");
        let t2 = Instant::now();
        steps = p.step_count();
        tv.push(t1 - t0);
        tp.push(t2 - t1);
        tt.push(t2 - t0);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (min, max) = (
        tt.iter().min().copied().unwrap_or_default(),
        tt.iter().max().copied().unwrap_or_default(),
    );
    println!("validate+plan, 1000 nodes, {runs} runs ({steps} plan steps)");
    println!("  validate: median {:?}", median(tv));
    println!("  plan:     median {:?}", median(tp));
    println!(
        "  total:    median {:?} (min {min:?}, max {max:?}); goal < 1 s",
        median(tt)
    );
}
