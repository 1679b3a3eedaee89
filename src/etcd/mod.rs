//! etcd, as the tool talks to it: over mTLS with the healthcheck client certificate,
//! one endpoint at a time, with bounded waits.

pub mod health;
pub mod members;
pub mod quorum;
pub mod restore;
pub mod snapshot;

pub use health::{EtcdCredentials, EtcdHealth, MemberHealth, check, wait_healthy};
