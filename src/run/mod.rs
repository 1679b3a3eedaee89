//! Running actions against real nodes: connect (SSH + Docker API tunnels), preflight,
//! files, containers, health, report. Everything is driven from the rendered desired state.

pub mod add;
pub mod addons_ready;
pub mod clean;
pub mod containers;
pub mod deploy;
pub mod drain;
pub mod engine;
pub mod etcd_nodes;
pub mod etcdfix;
pub mod fleet;
pub mod gpu_preflight;
pub mod gpu_ready;
pub mod kubectl;
pub mod logs;
pub mod membership;
pub mod options;
pub mod phase_clock;
pub mod preflight;
pub mod relay;
pub mod remove;
pub mod remove_drain;
pub mod report;
pub mod restore;
pub mod rolling;
pub mod rotate;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod sync_files;
pub mod upgrade;
pub mod verify;
