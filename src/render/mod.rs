//! Rendering: everything the tool puts on each node and into the cluster.

pub mod node_configs;
