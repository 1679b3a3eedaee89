//! `clean`: remove every container the tool made (by label), then the pods' containers the
//! kubelet made through cri-dockerd, and every directory it owns on every node, unmounting
//! busy mounts first. Leaves nothing of ours behind.

use super::fleet::{Node, StepError, blocking, fan_out};
use crate::components::paths;
use crate::executor::docker::{observe, remove};
use crate::model::{Cluster, Role};
use crate::ssh::snippets;
use std::time::Duration;

/// What was removed from one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cleaned {
    pub host: String,
    pub containers: Vec<String>,
    /// The kubelet's pod containers (cri-dockerd's), which outlive it.
    pub pod_containers: Vec<String>,
    pub dirs: Vec<String>,
}

pub fn dirs_of(cluster: &Cluster, role: Role) -> Vec<String> {
    let mut d: Vec<String> = paths::OWNED_DIRS.iter().map(|s| s.to_string()).collect();
    d.push("/var/log/pods".into());
    d.push("/var/log/containers".into());
    if role == Role::Master {
        d.push(cluster.kubernetes.etcd_data_path.clone());
    }
    d
}

async fn clean_node(cluster: &Cluster, node: &Node, dry_run: bool) -> Result<Cleaned, StepError> {
    let host = node.host().to_string();
    let containers = if dry_run {
        observe::list_managed(node.docker(), &cluster.kubernetes.cluster_name)
            .await
            .map(|l| l.into_iter().map(|c| c.name).collect())
            .map_err(|e| StepError::new(&host, "clean: containers", e.to_string()))?
    } else {
        remove::remove_managed(node.docker(), &cluster.kubernetes.cluster_name)
            .await
            .map_err(|e| StepError::new(&host, "clean: containers", e.to_string()))?
    };
    node.log
        .line(&format!("removed containers: {}", containers.join(", ")));
    // the kubelet's pod containers outlive it (see `remove_pod_containers`)
    let pod_containers = if dry_run {
        observe::list_pod_containers(node.docker())
            .await
            .map(|l| l.into_iter().map(|(name, _)| name).collect())
    } else {
        remove::remove_pod_containers(node.docker()).await
    }
    .map_err(|e| StepError::new(&host, "clean: pod containers", e.to_string()))?;
    node.log.line(&format!(
        "removed the kubelet's pod containers: {}",
        pod_containers.len()
    ));
    let dirs = dirs_of(cluster, node.machine.role);
    if !dry_run {
        let cmd = snippets::clean::unmount_and_remove(&dirs);
        let s = node.session.clone();
        let h = host.clone();
        blocking(move || s.run_root("clean: directories", &cmd, Duration::from_secs(120)))
            .await
            .map_err(|e| StepError::from_ssh(&h, "clean: directories", &e))?;
        node.log
            .line(&format!("removed directories: {}", dirs.join(", ")));
    }
    Ok(Cleaned {
        host,
        containers,
        pod_containers,
        dirs,
    })
}

pub async fn clean(
    cluster: &Cluster,
    nodes: &[Node],
    parallel: usize,
    dry_run: bool,
) -> Vec<Result<Cleaned, StepError>> {
    let all: Vec<&Node> = nodes.iter().collect();
    fan_out(&all, parallel, |n| clean_node(cluster, n, dry_run)).await
}
