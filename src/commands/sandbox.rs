//! `sandbox up|down|status`: the simulated bare metal, from the command line.

use super::exit;
use super::output::{err, json, out};
use crate::cli::{OutputFormat, SandboxCommand};
use crate::sandbox;
use serde::Serialize;

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            err(&format!("error: cannot start the async runtime: {e}\n"));
            None
        }
    }
}

#[derive(Serialize)]
struct StatusRow {
    name: String,
    address: Option<String>,
    role: Option<String>,
    running: bool,
    sshd: bool,
    dockerd: bool,
    memory_mib: Option<u64>,
    problem: Option<String>,
}

pub fn run(cmd: SandboxCommand) -> i32 {
    let Some(rt) = runtime() else {
        return exit::FAILED;
    };
    match cmd {
        SandboxCommand::Up {
            masters,
            workers,
            proxy,
            name,
            dir,
            subnet,
            versions,
            components,
        } => {
            let components = match components {
                crate::cli::SandboxComponents::Upstream => sandbox::Components::Upstream,
                crate::cli::SandboxComponents::None => sandbox::Components::None,
            };
            let opts = sandbox::UpOptions {
                name,
                masters,
                workers,
                proxy,
                dir,
                subnet,
                versions,
                components,
            };
            let progress = |s: &str| err(&format!("{s}\n"));
            match rt.block_on(sandbox::up(&opts, &progress)) {
                Ok(info) => {
                    let mut s = format!(
                        "sandbox {} is up: {} nodes on {}\n",
                        info.name,
                        info.nodes.len(),
                        info.subnet
                    );
                    for n in &info.nodes {
                        s.push_str(&format!(
                            "  {:<10} {:<8} {}\n",
                            n.hostname, n.role, n.address
                        ));
                    }
                    let t = info.timings;
                    let what = match components {
                        sandbox::Components::Upstream => "the upstream Kubernetes components",
                        sandbox::Components::None => "none: nodes only",
                    };
                    s.push_str(&format!(
                        "{} images loaded into every node ({what})\n\
                         times: node image {:.1}s, component images {:.1}s, create {:.1}s, \
                         ready {:.1}s, preload {:.1}s, total {:.1}s\n",
                        info.images.len(),
                        t.image.as_secs_f64(),
                        t.component_images.as_secs_f64(),
                        t.create.as_secs_f64(),
                        t.ready.as_secs_f64(),
                        t.preload.as_secs_f64(),
                        t.total.as_secs_f64(),
                    ));
                    s.push_str(&format!(
                        "config dir: {}\nnext: k8s-manage validate -p {0}\n",
                        info.dir.display()
                    ));
                    out(&s);
                    exit::OK
                }
                Err(e) => {
                    err(&format!("error: {e}\n"));
                    exit::FAILED
                }
            }
        }
        SandboxCommand::Down { name } => match rt.block_on(sandbox::down(&name)) {
            Ok(r) => {
                for w in &r.warnings {
                    err(&format!("warning: {w}\n"));
                }
                out(&format!(
                    "sandbox {name} removed: {} containers, {} networks, {} volumes\n",
                    r.containers.len(),
                    r.networks.len(),
                    r.volumes.len()
                ));
                exit::OK
            }
            Err(e) => {
                err(&format!("error: {e}\n"));
                exit::FAILED
            }
        },
        SandboxCommand::Build {
            versions,
            components,
        } => {
            let components = match components {
                crate::cli::SandboxComponents::Upstream => sandbox::Components::Upstream,
                crate::cli::SandboxComponents::None => sandbox::Components::None,
            };
            let versions = if versions.is_empty() {
                vec![sandbox::KUBERNETES_VERSION.to_string()]
            } else {
                versions
            };
            let started = std::time::Instant::now();
            let progress = |s: &str| err(&format!("{s}\n"));
            match rt.block_on(sandbox::build_images(components, &versions, &progress)) {
                Ok(images) => {
                    let mut s = format!(
                        "{} images ready in {:.1}s:\n",
                        images.len(),
                        started.elapsed().as_secs_f64()
                    );
                    for i in &images {
                        s.push_str(&format!("  {i}\n"));
                    }
                    out(&s);
                    exit::OK
                }
                Err(e) => {
                    err(&format!("error: {e}\n"));
                    exit::FAILED
                }
            }
        }
        SandboxCommand::Status { name, output } => match rt.block_on(sandbox::status(&name)) {
            Ok(nodes) => {
                let rows: Vec<StatusRow> = nodes
                    .iter()
                    .map(|n| StatusRow {
                        name: n.name.clone(),
                        address: n.address.map(|a| a.to_string()),
                        role: n.role.map(|r| r.to_string()),
                        running: n.running,
                        sshd: n.sshd,
                        dockerd: n.dockerd,
                        memory_mib: n.memory_bytes.map(|b| b / (1024 * 1024)),
                        problem: n.problem.clone(),
                    })
                    .collect();
                let healthy =
                    !rows.is_empty() && rows.iter().all(|r| r.running && r.sshd && r.dockerd);
                match output {
                    OutputFormat::Json => json(&rows),
                    OutputFormat::Text => {
                        let yes = |b: bool| if b { "yes" } else { "NO" };
                        let mut s = format!(
                            "{:<12} {:<8} {:<15} {:<8} {:<5} {:<8} {}\n",
                            "NODE", "ROLE", "ADDRESS", "RUNNING", "SSHD", "DOCKERD", "MEMORY"
                        );
                        for r in &rows {
                            s.push_str(&format!(
                                "{:<12} {:<8} {:<15} {:<8} {:<5} {:<8} {}\n",
                                r.name,
                                r.role.as_deref().unwrap_or("-"),
                                r.address.as_deref().unwrap_or("-"),
                                yes(r.running),
                                yes(r.sshd),
                                yes(r.dockerd),
                                r.memory_mib
                                    .map(|m| format!("{m} MiB"))
                                    .unwrap_or_else(|| "-".into())
                            ));
                            if let Some(p) = &r.problem {
                                s.push_str(&format!("  problem: {p}\n"));
                            }
                        }
                        if rows.is_empty() {
                            s = format!("no sandbox named {name}\n");
                        }
                        out(&s);
                    }
                }
                if healthy { exit::OK } else { exit::FAILED }
            }
            Err(e) => {
                err(&format!("error: {e}\n"));
                exit::FAILED
            }
        },
    }
}
