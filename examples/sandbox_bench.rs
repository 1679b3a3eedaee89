//! How long `sandbox up` takes and how much memory the nodes use, for 5 and 8 nodes (or
//! the sizes given as arguments): `cargo run --release --example sandbox_bench [N...]`.
//! The sandboxes hold the real upstream components' images (`sandbox up`'s default). The
//! node image and every image the nodes get are built (or found) first so that they are not
//! part of the per-size timings; the preload column is exporting the images (once, then
//! reused) and loading them into every node's dockerd. Sizes above the machine's share for
//! real-component nodes (8 here, see `bench_support::max_real_nodes`) are refused, and each
//! sandbox waits for its nodes in the tests' machine-wide node budget. Every sandbox it
//! makes is removed again.

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::time::Instant;

use k8s_manage::sandbox::{self, UpOptions};

const MIB: f64 = 1024.0 * 1024.0;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<u32> = {
        let given: Vec<u32> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if given.is_empty() { vec![5, 8] } else { given }
    };
    let most = bench_support::max_real_nodes();
    if let Some(n) = sizes.iter().find(|&&n| n > most) {
        return Err(format!(
            "{n} nodes do not fit this machine (at most {most} sandbox nodes for the real \
             components; --max-nodes N raises it on a larger machine)"
        )
        .into());
    }
    let quiet = |_: &str| {};
    let loud = |m: &str| eprintln!("{m}");
    let image = sandbox::ensure_node_image(&loud).await?;
    println!("node image {image}");
    let start = Instant::now();
    let images = sandbox::build_images(
        sandbox::Components::Upstream,
        &[sandbox::KUBERNETES_VERSION.to_string()],
        &loud,
    )
    .await?;
    println!(
        "{} images (upstream components, haproxy, registry) built or found in {:.1} s",
        images.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "| nodes | up total | create | ready | preload ({} images) | memory total | memory per node (avg) | down |",
        sandbox::referenced_images().len()
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let _budget = bench_support::take_nodes(n);
        let name = format!("bench-{n}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let masters = n.min(3);
        let mut opts = UpOptions::new(dir.clone());
        opts.name = name.clone();
        opts.masters = masters;
        opts.workers = n - masters;
        let info = match sandbox::up(&opts, &quiet).await {
            Ok(info) => info,
            Err(e) => {
                let _ = sandbox::down(&name).await;
                return Err(e.into());
            }
        };
        let status = sandbox::status(&name).await?;
        let answering = status.iter().filter(|s| s.sshd && s.dockerd).count();
        let memory: Vec<u64> = status.iter().filter_map(|s| s.memory_bytes).collect();
        let total: u64 = memory.iter().sum();
        let down_start = Instant::now();
        sandbox::down(&name).await?;
        let down_time = down_start.elapsed();
        let _ = std::fs::remove_dir_all(&dir);
        let t = info.timings;
        println!(
            "| {n} ({answering} answering) | {:.1} s | {:.1} s | {:.1} s | {:.1} s | {:.0} MiB | {:.0} MiB | {:.1} s |",
            t.total.as_secs_f64(),
            t.create.as_secs_f64(),
            t.ready.as_secs_f64(),
            t.preload.as_secs_f64(),
            total as f64 / MIB,
            total as f64 / MIB / memory.len().max(1) as f64,
            down_time.as_secs_f64(),
        );
    }
    Ok(())
}
