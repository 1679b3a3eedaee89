//! Driving a non-blocking ssh2 session: an operation that would block is retried after
//! waiting for the socket (in the direction libssh2 asks for) until a deadline.
//!
//! Sessions run non-blocking so that no call holds the session's lock while it waits:
//! several threads can use one session at once. Each wait is short (at most
//! [`MAX_WAIT`]) because another thread may consume the data this one waits for.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode};

/// Longest single wait for the socket before retrying.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(50);

const LIBSSH2_ERROR_EAGAIN: i32 = -37;

/// Why a retried operation ended without a result.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The deadline passed.
    TimedOut,
    Failed(ssh2::Error),
}

pub(crate) fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN)
}

/// Wait until the socket is ready in the direction libssh2 is blocked on, `max` at most
/// (capped at [`MAX_WAIT`]).
pub(crate) fn wait_socket(sess: &ssh2::Session, fd: RawFd, max: Duration) {
    let events = match sess.block_directions() {
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    poll(std::slice::from_mut(&mut pfd), max.min(MAX_WAIT));
}

/// `poll(2)` on the given descriptors for `timeout` at most; interruptions are not errors.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Duration) {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd for the whole call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

/// Call `op` until it does not report "would block", waiting for the socket in between,
/// until `deadline`.
pub(crate) fn retry<T>(
    sess: &ssh2::Session,
    fd: RawFd,
    deadline: Instant,
    mut op: impl FnMut() -> Result<T, ssh2::Error>,
) -> Result<T, Stop> {
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if would_block(&e) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Stop::TimedOut);
                }
                wait_socket(sess, fd, deadline - now);
            }
            Err(e) => return Err(Stop::Failed(e)),
        }
    }
}

/// The same for operations reporting through `io::Error` (channel and SFTP reads/writes).
pub(crate) fn retry_io<T>(
    sess: &ssh2::Session,
    fd: RawFd,
    deadline: Instant,
    mut op: impl FnMut() -> io::Result<T>,
) -> Result<T, IoStop> {
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(IoStop::TimedOut);
                }
                wait_socket(sess, fd, deadline - now);
            }
            Err(e) => return Err(IoStop::Failed(e)),
        }
    }
}

#[derive(Debug)]
pub(crate) enum IoStop {
    TimedOut,
    Failed(io::Error),
}
