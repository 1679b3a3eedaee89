//! The node image: a Debian 12 system with sshd and its own Docker engine, made once
//! with debootstrap and cached in the engine as `k8s-manage-sandbox/node:<content hash>`.

use bollard::Docker;

use super::error::{IoContext, SandboxError};
use super::{engine, labels, rootfs};

/// Repository of the node image; the tag is the recipe's content hash.
pub const NODE_REPO: &str = "k8s-manage-sandbox/node";

/// What a sandbox node is made of.
pub const NODE_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "node",
    include: &[
        "openssh-server",
        "docker.io",
        "iptables",
        "iproute2",
        "procps",
        "ca-certificates",
        "kmod",
    ],
    // dockerd inside a node needs the legacy iptables backend, like the host's. Host keys
    // are removed so that no two nodes share one: `up` installs a fresh key per node.
    post_install: "update-alternatives --set iptables /usr/sbin/iptables-legacy\n\
                   update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy\n\
                   rm -f /etc/ssh/ssh_host_*\n\
                   apt-get clean\n\
                   rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

/// The full reference of the node image for the current recipe.
pub fn node_image_reference() -> String {
    format!("{NODE_REPO}:{}", NODE_RECIPE.hash())
}

/// Make sure the node image exists in the engine, building it when its tag is missing.
/// Returns its reference.
pub async fn ensure_node_image(
    docker: &Docker,
    progress: &dyn Fn(&str),
) -> Result<String, SandboxError> {
    let reference = node_image_reference();
    if engine::image_labels(docker, &reference).await?.is_some() {
        return Ok(reference);
    }
    let cache = rootfs::default_cache_dir();
    let hash = NODE_RECIPE.hash();
    let _lock = rootfs::lock(&cache.join(format!("node-{hash}.lock"))).await?;
    // Another process may have built it while this one waited for the lock.
    if engine::image_labels(docker, &reference).await?.is_some() {
        return Ok(reference);
    }
    rootfs::require_root("building the sandbox node image")?;
    let dir = cache.join(format!("rootfs-node-{hash}"));
    if !dir.exists() {
        rootfs::debootstrap(&NODE_RECIPE, &dir, progress).await?;
    }
    progress(&format!("importing {reference} into the Docker engine"));
    let changes = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
        "CMD [\"/bin/bash\"]".to_string(),
    ];
    rootfs::import_dir(docker, &dir, &reference, &changes).await?;
    // The image is the cache; the directory is only needed to make it.
    std::fs::remove_dir_all(&dir).io("removing the imported root file system", &dir)?;
    Ok(reference)
}
