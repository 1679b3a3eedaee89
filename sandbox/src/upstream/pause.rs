//! The pause program of pod sandboxes, compiled from `build/pause/linux/pause.c` of the
//! pinned Kubernetes module (as upstream's image does: a static C binary), once per
//! version into the sandbox cache.

use std::path::PathBuf;

use tokio::process::Command;

use super::go_build;
use super::modules::GoModule;
use crate::error::{IoContext, SandboxError};
use crate::rootfs;

/// `<cache>/upstream/pause-<pause tag>-<module hash>/pause`, compiled when missing. The
/// tag of `reference` (`registry.k8s.io/pause:3.10.2`) is the version it reports.
pub async fn ensure_pause(module: &GoModule, reference: &str) -> Result<PathBuf, SandboxError> {
    let tag = reference
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("unknown");
    let cache = rootfs::default_cache_dir();
    let dir = cache
        .join("upstream")
        .join(format!("pause-{tag}-{}", go_build::build_hash(module)));
    let binary = dir.join("pause");
    if binary.exists() {
        return Ok(binary);
    }
    let _lock = rootfs::lock(&dir.with_extension("lock")).await?;
    if binary.exists() {
        return Ok(binary);
    }
    let source = go_build::module_source(module, "k8s.io/kubernetes").await?;
    let pause_c = source.join("build/pause/linux/pause.c");
    std::fs::create_dir_all(&dir).io("creating", &dir)?;
    let partial = dir.join("pause.partial");
    rootfs::run(
        Command::new("gcc")
            .args(["-Os", "-Wall", "-Werror", "-static"])
            .arg(format!("-DVERSION=v{tag}"))
            .arg("-o")
            .arg(&partial)
            .arg(&pause_c),
    )
    .await
    .map_err(|e| match e {
        SandboxError::Command { status, .. } if status.starts_with("could not start") => {
            SandboxError::Image {
                image: reference.into(),
                reason: "compiling pause.c needs gcc and the static C library: apt-get install \
                         gcc libc6-dev"
                    .into(),
            }
        }
        other => other,
    })?;
    std::fs::rename(&partial, &binary).io("moving into place", &binary)?;
    Ok(binary)
}
