//! The sandbox: simulated bare-metal servers on the control host, for users trying
//! k8s-manage and for end-to-end tests (`k8s-manage sandbox up|build|down|status`). It is
//! a test bed, not what a real server gets: nothing here is deployed by the product, and
//! the nodes are containers set up to behave enough like servers for the product's deploy
//! path to run on them unchanged.
//!
//! Each node is a Docker container running sshd and its own dockerd (Docker-in-Docker
//! with the settings measured to work on this kind of machine), on a network of its own
//! with fixed addresses. `up` writes a ready config directory whose machines are those
//! nodes, logged in to as root with a key generated for the sandbox; the product's deploy
//! path then treats them like any other servers, over SSH only. Everything `up` makes in
//! the Docker engine carries the label `io.k8s-manage.sandbox=<name>`, and `down` removes
//! exactly that.
//!
//! No registry is reachable here, so images are built locally: the node image
//! (debootstrap, cached by content hash) and, with [`build_component_images`], etcd,
//! haproxy and a registry from Debian packages; [`upstream`] builds the real Kubernetes
//! components, etcd, CoreDNS and flannel from their pinned upstream sources (the Go
//! modules in this crate's `upstream/` folder). `up` loads every image the config it
//! writes references into each node's own dockerd (exported once, `docker load` in the
//! node), so nothing is ever pulled. For tests that must pull, [`start_registry`] runs a
//! TLS registry beside the nodes, trusted by their engines.
//!
//! The product depends on this crate, never the other way round: what the sandbox must
//! agree with the product on (image names, accepted versions) comes in as
//! [`ProductFacts`], passed by the caller; `k8s_manage::sandbox` passes the product's.

mod archive;
mod closure;
mod components;
pub mod config_files;
mod debian_base;
mod down;
mod engine;
mod error;
pub mod iotdb_image;
mod keys;
pub mod labels;
mod network;
pub mod node_budget;
mod node_cgroups;
mod node_image;
mod nodes;
mod preload;
mod probe;
mod product_facts;
mod registry;
mod registry_tls;
mod role;
mod rootfs;
mod status;
mod up;
pub mod upstream;

pub use components::{
    ComponentImages, ETCD_IMAGE, HAPROXY_IMAGE, REGISTRY_IMAGE, build_component_images,
};
pub use config_files::{
    CLUSTER_FILE, Components, KUBERNETES_FILE, KUBERNETES_VERSION, README_FILE,
    referenced_images_for,
};
pub use debian_base::{DEBIAN_BASE_IMAGE, debian_base_image};
pub use down::{DownReport, down};
pub use engine::connect as connect_engine;
pub use error::SandboxError;
pub use node_image::{NODE_REPO, node_image_reference};
pub use nodes::NodeInfo;
pub use preload::{PRELOAD_PARALLELISM, PRELOAD_TIMEOUT, docker_short_name, load_into_sandbox};
pub use probe::{ExecOutput, Login, ssh_exec};
pub use product_facts::ProductFacts;
pub use registry::{
    REGISTRY_HOST, REGISTRY_PORT, SandboxRegistry, push_to_registry, registry_address,
    start_registry,
};
pub use role::Role;
pub use rootfs::default_cache_dir;
pub use status::{NodeStatus, status};
pub use up::{DEFAULT_NAME, READY_TIMEOUT, SandboxInfo, UpOptions, UpTimings, build_images, up};

/// Make sure the node image exists (building it when missing; needs root then), without
/// starting anything. Its reference.
pub async fn ensure_node_image(progress: &dyn Fn(&str)) -> Result<String, SandboxError> {
    let docker = engine::connect().await?;
    node_image::ensure_node_image(&docker, progress).await
}
