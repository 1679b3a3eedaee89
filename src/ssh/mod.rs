//! SSH to the machines: one authenticated ssh2 session per host, reused for every step.
//!
//! - [`Session::connect`] opens TCP with a time limit, retries with backoff on connection
//!   errors only (refused, timed out, reset, unreachable), checks the host key against
//!   `DIR/.k8s-manage/known_hosts` ([`KnownHosts`]) under a [`HostKeyPolicy`], logs in
//!   (ssh-agent, key file, password, in that order, as configured); one keepalive thread
//!   calls `keepalive_send` for every live session.
//! - [`Session::exec`] / [`Session::run`] / [`Session::run_root`] run commands with a time
//!   limit, capturing exit status, stdout and stderr, optionally feeding stdin. The session
//!   runs in non-blocking mode, so several threads can run commands on one session at once
//!   without one blocked read holding the session's lock.
//! - [`Session::put_file`] / [`Session::read_file`] write files atomically (SFTP to a
//!   temporary name, then `mv`) and read them, as root.
//! - [`Session::docker`] gives a `bollard::Docker` talking to the node's
//!   `/var/run/docker.sock` through SSH, on a second, dedicated session that runs only
//!   while the tunnel is used, at most [`TunnelLimit`]'s count of them at once.
//! - [`connect_all`] connects to many hosts with bounded concurrency and returns one result
//!   per host, in order: an unreachable host is an error, never dropped.
//!   [`connect_all_with_docker`] does the same with each host's Docker tunnel, its session
//!   opened beside the first one (the same host key required before it logs in).
//!
//! Secrets (passwords) never appear in argv, logs, `Debug` output or error messages: sudo
//! gets the password on stdin, only after it printed its prompt.
//!
//! ssh2 is blocking C code, so this module is synchronous; async callers use
//! `tokio::task::spawn_blocking` or threads.

mod auth;
mod bridge;
mod connect;
mod connect_docker;
mod docker;
mod error;
mod exec;
mod files;
mod host_key;
mod host_pin;
mod keepalive;
mod known_hosts;
mod nonblock;
mod requests;
mod session;
pub(crate) mod shell;
pub mod snippets;
mod stream;
mod sudo;
mod tunnel_hub;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use connect::connect_all;
pub use connect_docker::{Connected, connect_all_with_docker};
pub use docker::{DOCKER_SOCKET, DockerTunnel};
pub use error::SshError;
pub use exec::Output;
pub use known_hosts::{KnownHost, KnownHosts, fingerprint};
pub use requests::SshRequests;
pub use session::{MAX_CHANNELS, Session};
pub use shell::{UNSAFE_PATH_STATUS, quote, refuse_unsafe_paths};
pub use stream::Streamed;
pub use tunnel_hub::TunnelLimit;

use crate::model::{Machine, Secret};

/// How many hosts [`connect_all`] connects to at once when asked for 0.
pub const DEFAULT_PARALLEL: usize = 50;

/// What to do with a host key that known_hosts does not list yet, or lists differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Unknown host: ask [`ConnectOptions::confirm_new_host`] when set (refusing makes
    /// [`SshError::UnknownHostRefused`]), else record the key in known_hosts and say so.
    /// A key different from the recorded one is an error.
    #[default]
    TrustOnFirstUse,
    /// Unknown host: record its key and say so, never ask. A different key is an error.
    AcceptNew,
    /// `--insecure-ignore-host-keys`: accept any key, record nothing, warn loudly each time.
    InsecureIgnore,
}

/// One machine to log in to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name, for messages.
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub user: String,
    pub key_file: Option<PathBuf>,
    /// Login password, and sudo's password for a user other than root.
    pub password: Option<Secret>,
    /// Try the keys of the running ssh-agent (`SSH_AUTH_SOCK`).
    pub agent: bool,
}

impl Target {
    /// The target for a machine of the validated model.
    pub fn from_machine(m: &Machine) -> Target {
        Target {
            name: m.hostname.clone(),
            address: m.hostip,
            port: m.ssh.port,
            user: m.ssh.username.clone(),
            key_file: m.ssh.keyfile.clone(),
            password: m.ssh.password.clone(),
            agent: m.ssh.agent,
        }
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// Whether commands run as root without sudo.
    pub fn is_root(&self) -> bool {
        self.user == "root"
    }
}

/// Asked about an unknown host key under [`HostKeyPolicy::TrustOnFirstUse`]: the target and
/// the key's `SHA256:` fingerprint; `Ok` accepts (and records) it, `Err` refuses it and says
/// why and what to do (shown in [`SshError::UnknownHostRefused`]). Calls are serialized.
pub type ConfirmHost = Arc<dyn Fn(&Target, &str) -> Result<(), String> + Send + Sync>;

/// Receives the messages this module has to tell the user (a new host key recorded, host
/// keys ignored). Without one they go to stderr.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// Time limits, retries and callbacks for [`Session::connect`].
#[derive(Clone)]
pub struct ConnectOptions {
    /// Limit for one TCP connect.
    pub connect_timeout: Duration,
    /// Connection attempts in all (at least 1); only connection errors are retried.
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Limit for the SSH handshake and for the login.
    pub handshake_timeout: Duration,
    /// How often a keepalive is sent on an idle session; zero sends none.
    pub keepalive: Duration,
    /// The ssh-agent socket for targets with `agent`; `None` uses `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    pub confirm_new_host: Option<ConfirmHost>,
    pub notify: Option<Notify>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            handshake_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(15),
            agent_socket: None,
            confirm_new_host: None,
            notify: None,
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("keepalive", &self.keepalive)
            .field("agent_socket", &self.agent_socket)
            .field("confirm_new_host", &self.confirm_new_host.is_some())
            .field("notify", &self.notify.is_some())
            .finish()
    }
}

impl ConnectOptions {
    /// Tell the user something (through `notify`, else stderr).
    pub(crate) fn say(&self, message: &str) {
        match &self.notify {
            Some(notify) => notify(message),
            None => eprintln!("{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_never_shows_its_password() {
        let t = Target {
            name: "m1".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 22,
            user: "ops".into(),
            key_file: None,
            password: Some(Secret::new("hunter2-very-secret".into())),
            agent: false,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert!(!t.is_root());
        assert_eq!(t.socket_addr().to_string(), "10.0.0.1:22");
    }
}
