//! How long `sandbox up` takes and how much memory the nodes use, for 5 and 20 nodes
//! (or the sizes given as arguments): `cargo run --release --example sandbox_bench [N...]`
//! (after `cargo build --release -p k8s-standin`).
//! The node, component and stand-in images are built (or found) first so that they are not
//! part of the per-size timings; the preload column is exporting the images (once, then
//! reused) and loading them into every node's dockerd. Every sandbox it makes is removed again.

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
        if given.is_empty() { vec![5, 20] } else { given }
    };
    let quiet = |_: &str| {};
    let loud = |m: &str| eprintln!("{m}");
    let image = sandbox::ensure_node_image(&loud).await?;
    println!("node image {image}");
    let start = Instant::now();
    sandbox::build_component_images(&loud).await?;
    let components = start.elapsed();
    let start = Instant::now();
    let standin = sandbox::locate_standin(None)?;
    let stand_ins = sandbox::build_stand_in_images(
        &standin,
        sandbox::SANDBOX_REGISTRY,
        sandbox::KUBERNETES_VERSION,
        &loud,
    )
    .await?;
    println!(
        "component images {:.1} s; stand-in images {:.1} s ({})",
        components.as_secs_f64(),
        start.elapsed().as_secs_f64(),
        if stand_ins.built {
            "built"
        } else {
            "current, kept"
        }
    );
    println!(
        "| nodes | up total | create | ready | preload ({} images) | memory total | memory per node (avg) | down |",
        sandbox::referenced_images().len()
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let name = format!("bench-{n}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let masters = n.min(3);
        let opts = UpOptions {
            name: name.clone(),
            masters,
            workers: n - masters,
            proxy: false,
            dir: dir.clone(),
            subnet: None,
            standin: None,
            versions: Vec::new(),
            components: sandbox::Components::StandIns,
        };
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
