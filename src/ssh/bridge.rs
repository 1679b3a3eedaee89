//! The bridge behind [`super::DockerTunnel`]: one thread accepts local unix-socket
//! connections and moves their bytes to and from `direct-streamlocal` channels to the
//! node's Docker socket, all on one non-blocking session, buffering a bounded amount per
//! direction and passing end-of-input on in both directions. It stops when told to, or
//! when no connection has been open for its limit's idle time (`tunnel_hub.rs` starts the
//! next one when a client connects again).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connect::Established;
use super::nonblock::{Stop, poll, retry, would_block};

/// The Docker engine's socket on a node.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Time allowed to open one channel to the socket.
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest idle wait of the bridge thread (it also notices `stop` this often).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Bytes buffered per direction and connection before reading pauses.
const BUFFER: usize = 256 * 1024;

/// What the bridge thread reports.
#[derive(Default)]
pub(crate) struct BridgeState {
    pub(crate) open: AtomicUsize,
    pub(crate) total: AtomicUsize,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// Open a channel to the Docker socket; the error text when it fails.
pub(crate) fn open_channel(est: &Established, deadline: Instant) -> Result<ssh2::Channel, String> {
    super::requests::docker_channel();
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

pub(crate) struct Bridge<'a> {
    est: Established,
    listener: &'a UnixListener,
    stop: Arc<AtomicBool>,
    /// Readable (end of input) when the owner is dropped: wakes the wait at once.
    wake: UnixStream,
    state: Arc<BridgeState>,
    host: String,
    keepalive: Duration,
}

impl<'a> Bridge<'a> {
    pub(crate) fn new(
        est: Established,
        listener: &'a UnixListener,
        (stop, wake): (Arc<AtomicBool>, UnixStream),
        state: Arc<BridgeState>,
        host: String,
        keepalive: Duration,
    ) -> Bridge<'a> {
        Bridge {
            est,
            listener,
            stop,
            wake,
            state,
            host,
            keepalive,
        }
    }

    /// Bridge until `stop` is set, or until no connection has been open for `idle_close()`
    /// (asked each time: it shortens while another tunnel waits for a slot); then close
    /// every connection and the session.
    pub(crate) fn run(self, idle_close: &dyn Fn() -> Duration) {
        let mut conns: Vec<Conn> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut next_keepalive = Instant::now() + self.keepalive;
        let mut idle_since = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if !conns.is_empty() {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= idle_close() {
                break;
            }
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
        fds.push(pfd(self.wake.as_raw_fd(), libc::POLLIN));
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
