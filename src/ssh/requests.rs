//! Counts of the SSH requests this process made that wait for the node's answer: logins,
//! command channels, SFTP file uploads and Docker API channels. Each costs round trips on
//! the network (a login several, a command about three: channel open, exec, exit status),
//! so on a long link their number per node, not the bytes, bounds a phase. The phase clock
//! reports them per phase (`--output json`), and the benchmarks print them per node.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

static LOGINS: AtomicU64 = AtomicU64::new(0);
static COMMANDS: AtomicU64 = AtomicU64::new(0);
static UPLOADS: AtomicU64 = AtomicU64::new(0);
static DOCKER_CHANNELS: AtomicU64 = AtomicU64::new(0);

/// The counts at one moment, or between two (see [`SshRequests::since`]).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SshRequests {
    /// SSH sessions established (TCP connect, key exchange, host-key check, login).
    pub logins: u64,
    /// Command channels opened (`exec`).
    pub commands: u64,
    /// Files uploaded over SFTP (open, writes, fsync, close).
    pub uploads: u64,
    /// `direct-streamlocal` channels to a node's Docker socket (one per API connection).
    pub docker_channels: u64,
}

impl SshRequests {
    /// The counts so far in this process.
    pub fn now() -> SshRequests {
        SshRequests {
            logins: LOGINS.load(Ordering::Relaxed),
            commands: COMMANDS.load(Ordering::Relaxed),
            uploads: UPLOADS.load(Ordering::Relaxed),
            docker_channels: DOCKER_CHANNELS.load(Ordering::Relaxed),
        }
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &SshRequests) -> SshRequests {
        SshRequests {
            logins: self.logins.saturating_sub(earlier.logins),
            commands: self.commands.saturating_sub(earlier.commands),
            uploads: self.uploads.saturating_sub(earlier.uploads),
            docker_channels: self.docker_channels.saturating_sub(earlier.docker_channels),
        }
    }

    pub fn total(&self) -> u64 {
        self.logins + self.commands + self.uploads + self.docker_channels
    }
}

pub(crate) fn login() {
    LOGINS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn command() {
    COMMANDS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn upload() {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn docker_channel() {
    DOCKER_CHANNELS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_since_an_earlier_moment_are_the_difference() {
        let a = SshRequests::now();
        command();
        command();
        upload();
        let d = SshRequests::now().since(&a);
        // other tests may count at the same time: at least these
        assert!(d.commands >= 2 && d.uploads >= 1, "{d:?}");
        assert!(d.total() >= 3);
        assert_eq!(a.since(&SshRequests::now()), SshRequests::default());
    }
}
