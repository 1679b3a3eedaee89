//! Making an authenticated ssh2 session: TCP with a time limit and retries with backoff
//! (connection errors only), the handshake, the host-key check (`host_key.rs`), the login
//! (`auth.rs`); and [`connect_all`] for many hosts at once.

use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ssh2::ErrorCode;

use super::auth::authenticate;
use super::error::{SshError, connect_hint};
pub(crate) use super::host_key::{HostCheck, blob_type};
use super::host_key::{prefer_host_key_types, verify_host_key};
use super::host_pin::HostPin;
use super::known_hosts::KnownHosts;
use super::{ConnectOptions, DEFAULT_PARALLEL, HostKeyPolicy, Session, Target};

/// A logged-in session, switched to non-blocking mode.
pub(crate) struct Established {
    pub sess: ssh2::Session,
    /// The socket, owned by `sess`.
    pub fd: RawFd,
    pub host_key: Vec<u8>,
}

enum Failure {
    /// A connection error: worth another attempt.
    Retry(String),
    Fatal(SshError),
}

/// Connect, check the host key and log in, retrying connection errors with backoff.
pub(crate) fn establish(
    t: &Target,
    check: &HostCheck<'_>,
    opts: &ConnectOptions,
) -> Result<Established, SshError> {
    establish_publishing(t, check, opts, None)
}

/// [`establish`], handing the host key to `publish` as soon as it is checked (before the
/// login), for a second session opened at the same time (`host_pin.rs`).
pub(crate) fn establish_publishing(
    t: &Target,
    check: &HostCheck<'_>,
    opts: &ConnectOptions,
    publish: Option<&HostPin>,
) -> Result<Established, SshError> {
    let start = Instant::now();
    let attempts = opts.attempts.max(1);
    let mut wait = opts.backoff;
    let mut last = String::new();
    for n in 1..=attempts {
        match attempt(t, check, opts, n, publish) {
            Ok(e) => {
                super::requests::login();
                tracing::debug!(host = %t.name, attempt = n, elapsed = ?start.elapsed(), "SSH session ready");
                return Ok(e);
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(detail)) => {
                tracing::debug!(host = %t.name, attempt = n, "SSH connect failed: {detail}");
                last = detail;
                if n < attempts {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(opts.max_backoff.max(opts.backoff));
                }
            }
        }
    }
    Err(SshError::Connect {
        host: t.name.clone(),
        address: t.address,
        port: t.port,
        hint: connect_hint(t.port, &last),
        detail: last,
        attempts,
        elapsed: start.elapsed(),
    })
}

fn attempt(
    t: &Target,
    check: &HostCheck<'_>,
    opts: &ConnectOptions,
    n: u32,
    publish: Option<&HostPin>,
) -> Result<Established, Failure> {
    let addr = t.socket_addr();
    let tcp = TcpStream::connect_timeout(&addr, opts.connect_timeout).map_err(|e| {
        use std::io::ErrorKind::*;
        let detail = format!("TCP connect to {addr}: {e}");
        match e.kind() {
            ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | WouldBlock
            | Interrupted | HostUnreachable | NetworkUnreachable | NotConnected => {
                Failure::Retry(detail)
            }
            _ => Failure::Fatal(SshError::Connect {
                host: t.name.clone(),
                address: t.address,
                port: t.port,
                hint: connect_hint(t.port, &detail),
                detail,
                attempts: n,
                elapsed: Duration::ZERO,
            }),
        }
    })?;
    let _ = tcp.set_nodelay(true);
    let fd = tcp.as_raw_fd();
    let fatal = |detail: String| {
        Failure::Fatal(SshError::Connect {
            host: t.name.clone(),
            address: t.address,
            port: t.port,
            hint: connect_hint(t.port, &detail),
            detail,
            attempts: n,
            elapsed: Duration::ZERO,
        })
    };
    let mut sess = ssh2::Session::new().map_err(|e| fatal(format!("SSH session: {e}")))?;
    sess.set_timeout(millis(opts.handshake_timeout));
    prefer_host_key_types(&sess, t, check);
    sess.set_tcp_stream(tcp);
    if let Err(e) = sess.handshake() {
        let detail = format!("SSH handshake with {addr}: {}", e.message());
        return Err(if transient(&e) {
            Failure::Retry(detail)
        } else {
            fatal(detail)
        });
    }
    let host_key = match sess.host_key() {
        Some((blob, _)) => blob.to_vec(),
        None => return Err(fatal("the server presented no host key".into())),
    };
    verify_host_key(t, check, opts, &host_key).map_err(Failure::Fatal)?;
    if let Some(pin) = publish {
        pin.set(&host_key);
    }
    authenticate(&sess, t, opts).map_err(Failure::Fatal)?;
    if !opts.keepalive.is_zero() {
        sess.set_keepalive(
            false,
            opts.keepalive.as_secs().clamp(2, u32::MAX as u64) as u32,
        );
    }
    sess.set_blocking(false);
    Ok(Established { sess, fd, host_key })
}

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// Handshake failures that a new connection may not have: the peer went away or was slow.
fn transient(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(
            -2 /* banner receive */ | -7 /* socket send */ | -9 /* timeout */
            | -13 /* socket disconnect */ | -30 /* socket timeout */ | -43 /* socket receive */
        )
    )
}

/// Connect to every target, `parallel` at a time (0 means [`DEFAULT_PARALLEL`]). One result
/// per target, in the order given, named by the target's name: a host that cannot be
/// reached is an error in the list, never left out.
pub fn connect_all(
    targets: &[Target],
    known: &KnownHosts,
    policy: HostKeyPolicy,
    opts: &ConnectOptions,
    parallel: usize,
) -> Vec<(String, Result<Session, SshError>)> {
    let parallel = if parallel == 0 {
        DEFAULT_PARALLEL
    } else {
        parallel
    };
    let workers = parallel.min(targets.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Session, SshError>>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { break };
                    let result = Session::connect(t, known, policy, opts);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    targets
        .iter()
        .zip(results)
        .map(|(t, r)| {
            let r = r.unwrap_or_else(|| {
                Err(SshError::io(
                    &t.name,
                    "connecting",
                    "the connecting thread ended without a result",
                ))
            });
            (t.name.clone(), r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_port_is_retried_then_reported_with_a_fix() {
        // A port nothing listens on, on loopback.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = Target {
            name: "loop".into(),
            address: "127.0.0.1".parse().unwrap(),
            port,
            user: "root".into(),
            key_file: None,
            password: None,
            agent: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let known = KnownHosts::in_config_dir(dir.path());
        let opts = ConnectOptions {
            attempts: 3,
            backoff: Duration::from_millis(10),
            ..Default::default()
        };
        let results = connect_all(
            std::slice::from_ref(&t),
            &known,
            HostKeyPolicy::AcceptNew,
            &opts,
            0,
        );
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].0, "loop");
        let err = results[0].1.as_ref().expect_err("an error");
        match err {
            SshError::Connect { attempts, .. } => assert_eq!(*attempts, 3),
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(text.contains("loop") && text.contains("refused"), "{text}");
        assert!(text.contains("fix: start sshd"), "{text}");
    }

    #[test]
    fn a_server_that_is_not_ssh_is_not_retried_forever() {
        // Something that answers but speaks no SSH: the handshake fails.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                use std::io::Write;
                let mut s = stream;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        });
        let t = Target {
            name: "web".into(),
            address: "127.0.0.1".parse().unwrap(),
            port,
            user: "root".into(),
            key_file: None,
            password: None,
            agent: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let known = KnownHosts::in_config_dir(dir.path());
        let opts = ConnectOptions {
            attempts: 2,
            backoff: Duration::from_millis(10),
            handshake_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        let err = Session::connect(&t, &known, HostKeyPolicy::AcceptNew, &opts).unwrap_err();
        assert!(matches!(err, SshError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("web"), "{err}");
        assert!(!known.path().exists(), "nothing recorded");
    }
}
