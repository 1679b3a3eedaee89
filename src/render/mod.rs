//! Rendering: model + PKI → the files each node receives, the containers it runs, and the
//! Kubernetes manifests applied to the cluster through the API.

pub mod addons;
pub mod cluster;
pub mod node;
pub mod node_configs;
pub mod write;
