//! Rendering: everything the tool puts on each node and into the cluster.

pub mod addons;
pub mod node_configs;
