//! Docker labels the sandbox puts on what it makes; `down` and `status` find things by them.

/// `<sandbox name>` on every container, network and volume of a sandbox.
pub const SANDBOX: &str = "io.k8s-manage.sandbox";
/// What a sandbox container that is not a node serves (`registry`); `status` lists nodes only.
pub const SERVICE: &str = "io.k8s-manage.sandbox-service";
/// `master`, `worker` or `proxy` on node containers.
pub const ROLE: &str = "io.k8s-manage.sandbox-role";
/// The node's hostname, on node containers.
pub const NODE: &str = "io.k8s-manage.sandbox-node";
/// The node's address in the sandbox network, on node containers.
pub const ADDRESS: &str = "io.k8s-manage.sandbox-address";
/// Path of the client private key that logs in to the node, on node containers.
pub const KEYFILE: &str = "io.k8s-manage.sandbox-keyfile";
/// Path of the known_hosts file that holds the node's host key, on node containers.
pub const KNOWN_HOSTS: &str = "io.k8s-manage.sandbox-known-hosts";
/// The subnet, on the sandbox network.
pub const SANDBOX_SUBNET: &str = "io.k8s-manage.sandbox-subnet";
/// Content hash of the recipe an image was built from, on sandbox images.
pub const IMAGE_RECIPE: &str = "io.k8s-manage.sandbox-recipe";
