//! One module per command: read input, call the library, print the report, return the
//! exit status.

pub mod cert;
pub mod clean;
pub mod deploy;
pub mod docs;
pub mod etcd;
pub mod host_trust;
pub mod image;
pub mod init;
pub mod install_kubectl;
pub mod membership;
pub mod node_agent_image;
pub mod output;
pub mod plan;
pub mod progress;
pub mod render;
pub mod run_setup;
pub mod sandbox;
pub mod schema;
pub mod service;
pub mod status;
pub mod validate;

/// Exit statuses shared by every command.
pub mod exit {
    /// Everything went as asked.
    pub const OK: i32 = 0;
    /// The command ran and failed at run time.
    pub const FAILED: i32 = 1;
    /// The input is invalid; nothing was changed.
    pub const INVALID: i32 = 2;
}
