//! The node's Docker engine through SSH: [`Session::docker`] opens a second, dedicated
//! session to the host (same host key required), listens on a unix socket in a private
//! (0700) temporary folder, and bridges every connection made to it to a
//! `direct-streamlocal` channel to `/var/run/docker.sock` on the node. A `bollard::Docker`
//! client talks to that socket. One thread moves the bytes of all connections, with the
//! session in non-blocking mode; it stops when the [`DockerTunnel`] is dropped.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::connect::Established;
use super::error::SshError;
use super::nonblock::{Stop, poll, retry, would_block};
use super::session::Session;

/// The Docker engine's socket on a node.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Time allowed to open one channel to the socket.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest idle wait of the bridge thread (it also notices `stop` this often).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Bytes buffered per direction and connection before reading pauses.
const BUFFER: usize = 256 * 1024;
/// bollard's per-request time limit, seconds.
const REQUEST_TIMEOUT_SECS: u64 = 300;

/// A `bollard::Docker` for one node, alive as long as this value.
pub struct DockerTunnel {
    client: bollard::Docker,
    socket: PathBuf,
    host: String,
    stop: Arc<AtomicBool>,
    state: Arc<BridgeState>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// What the bridge thread reports.
#[derive(Default)]
struct BridgeState {
    open: AtomicUsize,
    total: AtomicUsize,
    last_error: Mutex<Option<String>>,
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
        (
            self.state.open.load(Ordering::Relaxed),
            self.state.total.load(Ordering::Relaxed),
        )
    }

    /// The last problem the bridge met (a channel it could not open, a broken session).
    pub fn last_error(&self) -> Option<String> {
        self.state
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
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
    /// A Docker client for this node's engine, through SSH (see the module docs). Fails
    /// with [`SshError::Forward`] and a fix when sshd refuses the forwarding or the login
    /// user may not use the socket.
    pub fn docker(&self) -> Result<DockerTunnel, SshError> {
        let host = self.host().to_string();
        let est = self.establish_sibling()?;
        // One channel first: a refusal is reported here, with its cause, not as a vague
        // client error later.
        match open_channel(&est, Instant::now() + OPEN_TIMEOUT) {
            Ok(mut ch) => {
                let _ = retry(
                    &est.sess,
                    est.fd,
                    Instant::now() + Duration::from_secs(2),
                    || ch.close(),
                );
            }
            Err(detail) => return Err(self.forward_error(detail)),
        }
        let io_err =
            |what: &str, e: io::Error| SshError::io(&host, format!("Docker tunnel: {what}"), e);
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
        .map_err(|e| SshError::io(&host, "Docker tunnel: making the client", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(BridgeState::default());
        let bridge = Bridge {
            est,
            listener,
            stop: Arc::clone(&stop),
            state: Arc::clone(&state),
            host: host.clone(),
            keepalive: self.opts.keepalive,
        };
        let thread = std::thread::Builder::new()
            .name(format!("docker-tunnel-{host}"))
            .spawn(move || bridge.run())
            .map_err(|e| io_err("starting the bridge thread", e))?;
        Ok(DockerTunnel {
            client,
            socket,
            host,
            stop,
            state,
            thread: Some(thread),
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
            let probe = format!(
                "s={s}; if [ ! -S \"$s\" ]; then echo absent; \
                 elif ! {{ [ -r \"$s\" ] && [ -w \"$s\" ]; }}; then echo denied; \
                 elif ! grep -qsx dockerd /proc/[0-9]*/comm; then echo stopped; \
                 else echo usable; fi",
                s = DOCKER_SOCKET
            );
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

/// Open a channel to the Docker socket; the error text when it fails.
fn open_channel(est: &Established, deadline: Instant) -> Result<ssh2::Channel, String> {
    retry(&est.sess, est.fd, deadline, || {
        est.sess.channel_direct_streamlocal(DOCKER_SOCKET, None)
    })
    .map_err(|s| match s {
        Stop::TimedOut => format!("opening a channel to {DOCKER_SOCKET} timed out"),
        Stop::Failed(e) => e.message().to_string(),
    })
}

/// One bridged connection.
struct Conn {
    local: UnixStream,
    ch: ssh2::Channel,
    /// Local → remote bytes not yet written to the channel.
    up: VecDeque<u8>,
    /// Remote → local bytes not yet written to the local socket.
    down: VecDeque<u8>,
    local_eof: bool,
    eof_sent: bool,
    remote_eof: bool,
    local_shut: bool,
    broken: bool,
}

struct Bridge {
    est: Established,
    listener: UnixListener,
    stop: Arc<AtomicBool>,
    state: Arc<BridgeState>,
    host: String,
    keepalive: Duration,
}

impl Bridge {
    fn run(self) {
        let mut conns: Vec<Conn> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut next_keepalive = Instant::now() + self.keepalive;
        while !self.stop.load(Ordering::Relaxed) {
            let mut progress = self.accept(&mut conns);
            for c in conns.iter_mut() {
                progress |= self.pump(c, &mut buf);
            }
            let before = conns.len();
            conns.retain_mut(|c| !self.finished(c));
            if conns.len() != before {
                self.state.open.store(conns.len(), Ordering::Relaxed);
            }
            if !self.keepalive.is_zero() && Instant::now() >= next_keepalive {
                let _ = self.est.sess.keepalive_send();
                next_keepalive = Instant::now() + self.keepalive;
            }
            // Data libssh2 already holds for a channel would not wake poll.
            let buffered = conns.iter().any(|c| {
                !c.remote_eof && c.down.len() < BUFFER && c.ch.read_window().available > 0
            });
            if !progress && !buffered {
                self.wait(&conns);
            }
        }
        for mut c in conns {
            let _ = c.local.shutdown(Shutdown::Both);
            let _ = c.ch.close();
        }
        self.est.sess.set_blocking(true);
        self.est.sess.set_timeout(1000);
        let _ = self
            .est
            .sess
            .disconnect(None, "k8s-manage: tunnel closed", None);
    }

    fn note(&self, problem: String) {
        tracing::debug!(host = %self.host, "docker tunnel: {problem}");
        *self
            .state
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }

    /// Take new local connections, each with its own channel.
    fn accept(&self, conns: &mut Vec<Conn>) -> bool {
        let mut any = false;
        loop {
            let local = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.note(format!("accepting a local connection: {e}"));
                    break;
                }
            };
            any = true;
            if local.set_nonblocking(true).is_err() {
                continue;
            }
            match open_channel(&self.est, Instant::now() + OPEN_TIMEOUT) {
                Ok(ch) => {
                    conns.push(Conn {
                        local,
                        ch,
                        up: VecDeque::new(),
                        down: VecDeque::new(),
                        local_eof: false,
                        eof_sent: false,
                        remote_eof: false,
                        local_shut: false,
                        broken: false,
                    });
                    self.state.total.fetch_add(1, Ordering::Relaxed);
                    self.state.open.store(conns.len(), Ordering::Relaxed);
                }
                Err(detail) => {
                    // Dropping `local` closes it: the client sees the connection fail.
                    self.note(format!("opening a channel to {DOCKER_SOCKET}: {detail}"));
                }
            }
        }
        any
    }

    /// Move what can be moved without waiting, both ways. Whether anything moved.
    fn pump(&self, c: &mut Conn, buf: &mut [u8]) -> bool {
        if c.broken {
            return false;
        }
        let mut progress = false;
        // local → up
        while !c.local_eof && c.up.len() < BUFFER {
            match c.local.read(buf) {
                Ok(0) => c.local_eof = true,
                Ok(n) => {
                    c.up.extend(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.broken = true;
                    return true;
                }
            }
        }
        // up → channel
        while !c.up.is_empty() {
            let (front, _) = c.up.as_slices();
            match c.ch.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    c.up.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.note(format!("writing to the channel: {e}"));
                    c.broken = true;
                    return true;
                }
            }
        }
        if c.local_eof && c.up.is_empty() && !c.eof_sent {
            match c.ch.send_eof() {
                Ok(()) => {
                    c.eof_sent = true;
                    progress = true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => c.eof_sent = true,
            }
        }
        // channel → down
        while !c.remote_eof && c.down.len() < BUFFER {
            match c.ch.read(buf) {
                Ok(0) => c.remote_eof = true,
                Ok(n) => {
                    c.down.extend(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.note(format!("reading from the channel: {e}"));
                    c.broken = true;
                    return true;
                }
            }
        }
        // down → local
        while !c.down.is_empty() {
            let (front, _) = c.down.as_slices();
            match c.local.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    c.down.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.broken = true;
                    return true;
                }
            }
        }
        if c.remote_eof && c.down.is_empty() && !c.local_shut {
            let _ = c.local.shutdown(Shutdown::Write);
            c.local_shut = true;
            progress = true;
        }
        progress
    }

    /// Whether a connection is over; if so its channel is closed (without waiting long).
    fn finished(&self, c: &mut Conn) -> bool {
        let done = c.broken || (c.local_eof && c.eof_sent && c.remote_eof && c.local_shut);
        if done {
            let _ = c.local.shutdown(Shutdown::Both);
            let deadline = Instant::now() + Duration::from_millis(200);
            let _ = retry(&self.est.sess, self.est.fd, deadline, || c.ch.close());
        }
        done
    }

    /// Wait until the listener, a local socket or the SSH socket is ready, briefly.
    fn wait(&self, conns: &[Conn]) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(conns.len() + 2);
        let pfd = |fd: RawFd, events: libc::c_short| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.push(pfd(self.listener.as_raw_fd(), libc::POLLIN));
        let ssh_events = match self.est.sess.block_directions() {
            ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both => {
                libc::POLLIN | libc::POLLOUT
            }
            _ => libc::POLLIN,
        };
        fds.push(pfd(self.est.fd, ssh_events));
        for c in conns {
            let mut events = 0;
            if !c.local_eof && c.up.len() < BUFFER {
                events |= libc::POLLIN;
            }
            if !c.down.is_empty() {
                events |= libc::POLLOUT;
            }
            if events != 0 {
                fds.push(pfd(c.local.as_raw_fd(), events));
            }
        }
        poll(&mut fds, IDLE_WAIT);
    }
}
