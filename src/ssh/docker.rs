//! The node's Docker engine through SSH: [`Session::docker`] opens a second, dedicated
//! session to the host (same host key required), listens on a unix socket in a private
//! (0700) temporary folder, and bridges every connection made to it to a
//! `direct-streamlocal` channel to `/var/run/docker.sock` on the node. A `bollard::Docker`
//! client talks to that socket. The bridge (the second session and one thread) runs only
//! while the tunnel is used, at most [`TunnelLimit`]'s count of them at once
//! (`tunnel_hub.rs`); it stops for good when the [`DockerTunnel`] is dropped.

use std::io;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bridge::{BridgeState, open_channel};
use super::connect::Established;
use super::error::SshError;
use super::nonblock::retry;
use super::session::Session;
use super::tunnel_hub::{self, TunnelLimit};

pub use super::bridge::DOCKER_SOCKET;

/// bollard's per-request time limit, seconds.
const REQUEST_TIMEOUT_SECS: u64 = 300;

/// Longest wait for a free bridge slot when a tunnel is made.
const SLOT_WAIT: Duration = Duration::from_secs(600);

/// A `bollard::Docker` for one node, alive as long as this value.
pub struct DockerTunnel {
    client: bollard::Docker,
    socket: PathBuf,
    host: String,
    shared: Arc<tunnel_hub::Shared>,
    _dir: tempfile::TempDir,
}

impl DockerTunnel {
    pub fn client(&self) -> &bollard::Docker {
        &self.client
    }

    /// The local unix socket the client talks to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Connections bridged now, and since the start.
    pub fn connections(&self) -> (usize, usize) {
        let state = &self.shared.state;
        (
            state.open.load(Ordering::Relaxed),
            state.total.load(Ordering::Relaxed),
        )
    }

    /// Whether the bridge (the second SSH session and its thread) runs now.
    pub fn bridging(&self) -> bool {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// The last problem the bridge met (a channel it could not open, a broken session).
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .state
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Deref for DockerTunnel {
    type Target = bollard::Docker;
    fn deref(&self) -> &bollard::Docker {
        &self.client
    }
}

impl Drop for DockerTunnel {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl std::fmt::Debug for DockerTunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerTunnel")
            .field("host", &self.host)
            .field("socket", &self.socket)
            .finish()
    }
}

impl Session {
    /// A Docker client for this node's engine, through SSH (see the module docs), its
    /// bridges counted against the default limit ([`super::DEFAULT_PARALLEL`]). Fails with
    /// [`SshError::Forward`] and a fix when sshd refuses the forwarding or the login user
    /// may not use the socket.
    pub fn docker(&self) -> Result<DockerTunnel, SshError> {
        self.docker_limited(&tunnel_hub::default_limit())
    }

    /// [`Session::docker`] with the bridges of this tunnel counted against `limit`
    /// (`--parallel`): waits for a free slot first.
    pub fn docker_limited(&self, limit: &Arc<TunnelLimit>) -> Result<DockerTunnel, SshError> {
        let host = self.host().to_string();
        if !limit.acquire(Instant::now() + SLOT_WAIT) {
            return Err(SshError::io(
                &host,
                "Docker tunnel",
                format!(
                    "no free tunnel slot within {} s ({} tunnels busy)",
                    SLOT_WAIT.as_secs(),
                    limit.max()
                ),
            ));
        }
        let est = self
            .sibling()
            .establish()
            .inspect_err(|_| limit.release())?;
        self.docker_over(est, limit)
    }

    /// The tunnel over `est`, a second session to this host, logged in, that showed this
    /// session's host key; its slot of `limit` is taken already (given back by the
    /// bridge's end, or here on failure).
    pub(crate) fn docker_over(
        &self,
        est: Established,
        limit: &Arc<TunnelLimit>,
    ) -> Result<DockerTunnel, SshError> {
        let host = self.host().to_string();
        let release = |e: SshError| {
            limit.release();
            e
        };
        if est.host_key != self.shared.host_key {
            return Err(release(SshError::io(
                &host,
                "Docker tunnel",
                "the second session was shown another host key than the first",
            )));
        }
        // One channel first: a refusal is reported here, with its cause, not as a vague
        // client error later.
        match open_channel(&est, Instant::now() + super::bridge::OPEN_TIMEOUT) {
            Ok(mut ch) => {
                let _ = retry(
                    &est.sess,
                    est.fd,
                    Instant::now() + Duration::from_secs(2),
                    || ch.close(),
                );
            }
            Err(detail) => return Err(release(self.forward_error(detail))),
        }
        let io_err = |what: &str, e: io::Error| {
            release(SshError::io(&host, format!("Docker tunnel: {what}"), e))
        };
        let dir = tempfile::Builder::new()
            .prefix("k8s-manage-docker-")
            .tempdir()
            .map_err(|e| io_err("making a private folder", e))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("making the folder private", e))?;
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).map_err(|e| io_err("listening", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| io_err("listening", e))?;
        let client = bollard::Docker::connect_with_unix(
            &socket.to_string_lossy(),
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| release(SshError::io(&host, "Docker tunnel: making the client", e)))?;
        let shared = Arc::new(tunnel_hub::Shared {
            listener,
            host: host.clone(),
            sibling: self.sibling(),
            state: Arc::new(BridgeState::default()),
            limit: Arc::clone(limit),
            keepalive: self.opts.keepalive,
            active: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            running: Mutex::new(None),
            thread: Mutex::new(None),
        });
        // started with the session just made (the slot is taken); the hub starts the
        // later ones
        tunnel_hub::start(&shared, Some(est))
            .map_err(|e| SshError::io(&host, "Docker tunnel: starting the bridge thread", e))?;
        tunnel_hub::register(&shared);
        Ok(DockerTunnel {
            client,
            socket,
            host,
            shared,
            _dir: dir,
        })
    }

    /// Why the socket could not be reached, with a fix. sshd answers "administratively
    /// prohibited" or just "connect failed" (OpenSSH says the latter for a refused
    /// streamlocal forward too), so the node is asked over the main session whether the
    /// login user could use the socket: if so, sshd is what refused.
    fn forward_error(&self, detail: String) -> SshError {
        let host = self.host();
        let user = &self.target.user;
        let sshd_hint = format!(
            "set `AllowStreamLocalForwarding yes` (and `AllowTcpForwarding yes`) in /etc/ssh/sshd_config on {host} \
             (check `Match` blocks and `DisableForwarding` too), reload sshd, then re-run"
        );
        let hint = if detail.contains("prohibited") {
            sshd_hint
        } else {
            let probe = super::snippets::probes::docker_socket(DOCKER_SOCKET);
            let answer = self
                .exec(
                    "check the Docker socket",
                    &probe,
                    None,
                    Duration::from_secs(15),
                )
                .map(|out| out.stdout_str().trim().to_string())
                .unwrap_or_default();
            match answer.as_str() {
                "usable" => sshd_hint,
                "denied" => format!(
                    "use root or add the user to the docker group on {host} (`usermod -aG docker {user}`), then re-run"
                ),
                "absent" => format!(
                    "start Docker on {host} (`systemctl start docker`); {DOCKER_SOCKET} does not exist"
                ),
                "stopped" => format!(
                    "start Docker on {host} (`systemctl start docker`); no dockerd process runs"
                ),
                _ => format!(
                    "check that dockerd runs on {host} (`systemctl status docker`) and that sshd allows \
                     forwarding (`AllowStreamLocalForwarding yes`)"
                ),
            }
        };
        SshError::Forward {
            host: host.to_string(),
            socket: DOCKER_SOCKET.to_string(),
            detail,
            hint,
        }
    }
}
