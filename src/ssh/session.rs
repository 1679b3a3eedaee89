//! [`Session`]: one authenticated, non-blocking ssh2 session per host, shared by every step
//! run there, kept alive by the keepalive thread (`keepalive.rs`).

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::connect::{self, HostCheck};
use super::host_pin::HostPin;
use super::known_hosts::fingerprint;
use super::{ConnectOptions, HostKeyPolicy, KnownHosts, SshError, Target};

/// An SSH session to one host. All methods take `&self` and may be called from several
/// threads at once (wrap the session in an `Arc`).
pub struct Session {
    pub(crate) target: Target,
    pub(crate) opts: ConnectOptions,
    pub(crate) known_hosts_path: PathBuf,
    pub(crate) shared: Arc<Shared>,
}

/// The session proper, shared with the keepalive thread (weakly) and the callers.
pub(crate) struct Shared {
    pub sess: ssh2::Session,
    /// The session's socket (owned by `sess`), for waiting on it.
    pub fd: RawFd,
    pub host_key: Vec<u8>,
    /// The SFTP channel, opened on first use.
    pub sftp: Mutex<Option<ssh2::Sftp>>,
    /// Held while opening a channel and starting its command (or subsystem): libssh2
    /// cannot wait for two such replies at once on one session (a reply for the other
    /// channel ends the wait with "Failed waiting for channel success").
    pub setup: Mutex<()>,
    /// Command channels open now (sshd allows `MaxSessions`, 10 by default, per connection).
    channels: Mutex<usize>,
    channel_freed: Condvar,
}

impl super::keepalive::KeepAlive for Shared {
    fn send_keepalive(&self) {
        // Non-blocking: a busy socket just means "next time".
        let _ = self.sess.keepalive_send();
    }
}

/// Commands run at once on one session; more wait for a free channel. sshd's default
/// `MaxSessions` is 10, and the SFTP channel takes one.
pub const MAX_CHANNELS: usize = 8;

/// A command channel slot, given back on drop.
pub(crate) struct ChannelSlot<'a>(&'a Shared);

impl Drop for ChannelSlot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.channels.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.0.channel_freed.notify_one();
    }
}

impl Shared {
    /// Wait for a free command channel until `deadline`; `None` when none got free.
    pub(crate) fn channel_slot(&self, deadline: Instant) -> Option<ChannelSlot<'_>> {
        let mut n = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_CHANNELS {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            n = self
                .channel_freed
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *n += 1;
        Some(ChannelSlot(self))
    }
}

impl Session {
    /// Connect to `t`, check its host key under `policy` and log in. Connection errors
    /// (refused, timed out, reset, unreachable) are retried with backoff as `opts` says;
    /// host-key and login errors are not.
    pub fn connect(
        t: &Target,
        known: &KnownHosts,
        policy: HostKeyPolicy,
        opts: &ConnectOptions,
    ) -> Result<Session, SshError> {
        Session::connect_publishing(t, known, policy, opts, None)
    }

    /// [`Session::connect`], handing the checked host key to `publish` before the login
    /// (for the Docker tunnel's session, opened at the same time).
    pub(crate) fn connect_publishing(
        t: &Target,
        known: &KnownHosts,
        policy: HostKeyPolicy,
        opts: &ConnectOptions,
        publish: Option<&HostPin>,
    ) -> Result<Session, SshError> {
        let check = HostCheck::Known { known, policy };
        let est = connect::establish_publishing(t, &check, opts, publish)?;
        let shared = Arc::new(Shared {
            sess: est.sess,
            fd: est.fd,
            host_key: est.host_key,
            sftp: Mutex::new(None),
            setup: Mutex::new(()),
            channels: Mutex::new(0),
            channel_freed: Condvar::new(),
        });
        if !opts.keepalive.is_zero() {
            super::keepalive::register(&shared, opts.keepalive);
        }
        Ok(Session {
            target: t.clone(),
            opts: opts.clone(),
            known_hosts_path: known.path().to_path_buf(),
            shared,
        })
    }

    /// How to open a second session to the same host (which must present the same key).
    pub(crate) fn sibling(&self) -> Sibling {
        Sibling {
            target: self.target.clone(),
            opts: self.opts.clone(),
            host_key: self.shared.host_key.clone(),
            known_hosts_path: self.known_hosts_path.clone(),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The host name used in messages.
    pub fn host(&self) -> &str {
        &self.target.name
    }

    /// The server's host key fingerprint, like OpenSSH shows it (`SHA256:...`).
    pub fn host_key_fingerprint(&self) -> String {
        fingerprint(&self.shared.host_key)
    }

    /// The server's host key type (`ssh-ed25519`, ...).
    pub fn host_key_type(&self) -> String {
        connect::blob_type(&self.shared.host_key)
    }

    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts_path
    }

    /// This end's address of the connection (for logs, and to find it in `ss`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        use std::os::fd::FromRawFd;
        // SAFETY: the fd is the session's open socket for as long as `self` lives; the
        // borrowed TcpStream is never dropped (ManuallyDrop), so it is not closed here.
        let tcp = std::mem::ManuallyDrop::new(unsafe {
            std::net::TcpStream::from_raw_fd(self.shared.fd)
        });
        tcp.local_addr().ok()
    }
}

/// Another session to a host already connected: it must present the key of the first.
pub(crate) struct Sibling {
    target: Target,
    opts: ConnectOptions,
    host_key: Vec<u8>,
    known_hosts_path: PathBuf,
}

impl Sibling {
    pub(crate) fn establish(&self) -> Result<connect::Established, SshError> {
        let check = HostCheck::Pinned {
            blob: &self.host_key,
            known_hosts_path: &self.known_hosts_path,
        };
        connect::establish(&self.target, &check, &self.opts)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Say goodbye (one message, no answer awaited), then end the connection here: the
        // SFTP channel's shutdown below would otherwise wait one round trip for the node's
        // reply, and a fleet of sessions is dropped one after another (50 nodes at a
        // 100 ms round trip: 5 s). The server closes every channel on the disconnect.
        self.sess.set_timeout(2000);
        self.sess.set_blocking(true);
        let _ = self.sess.disconnect(None, "k8s-manage: done", None);
        // SAFETY: the fd is the session's open socket (owned by `sess`, closed when it is
        // freed); shutdown only ends the connection, it does not close the fd.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
        // Sftp's own drop switches to blocking mode; its channel close now fails at once.
        if let Ok(mut sftp) = self.sftp.lock() {
            drop(sftp.take());
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .field("host_key", &self.host_key_fingerprint())
            .finish()
    }
}
