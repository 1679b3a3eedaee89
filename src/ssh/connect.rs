//! Making an authenticated ssh2 session: TCP with a time limit and retries with backoff
//! (connection errors only), the handshake, the host-key check, the login; and
//! [`connect_all`] for many hosts at once.

use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ssh2::{ErrorCode, MethodType};

use super::error::{SshError, connect_hint};
use super::known_hosts::{KnownHosts, fingerprint};
use super::{ConnectOptions, DEFAULT_PARALLEL, HostKeyPolicy, Session, Target};

/// Prompts for unknown host keys are asked one at a time.
static CONFIRM_LOCK: Mutex<()> = Mutex::new(());

/// How the server's host key is checked.
pub(crate) enum HostCheck<'a> {
    /// Against known_hosts, under a policy.
    Known {
        known: &'a KnownHosts,
        policy: HostKeyPolicy,
    },
    /// It must be exactly this key (a second session to a host already checked).
    Pinned {
        blob: &'a [u8],
        known_hosts_path: &'a Path,
    },
}

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
    let start = Instant::now();
    let attempts = opts.attempts.max(1);
    let mut wait = opts.backoff;
    let mut last = String::new();
    for n in 1..=attempts {
        match attempt(t, check, opts, n) {
            Ok(e) => {
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

/// The key type named inside a public key blob (`ssh-ed25519`, ...).
pub(crate) fn blob_type(blob: &[u8]) -> String {
    if blob.len() >= 4 {
        let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if let Some(name) = blob.get(4..4 + len)
            && let Ok(name) = std::str::from_utf8(name)
        {
            return name.to_string();
        }
    }
    "unknown".to_string()
}

/// Ask the server for a key type known_hosts (or the pinned key) has, so that a server
/// with several host keys presents the recorded one.
fn prefer_host_key_types(sess: &ssh2::Session, t: &Target, check: &HostCheck<'_>) {
    let types: Vec<String> = match check {
        HostCheck::Known { known, policy } if *policy != HostKeyPolicy::InsecureIgnore => known
            .lookup(t.address, t.port)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.key_type)
            .collect(),
        HostCheck::Known { .. } => Vec::new(),
        HostCheck::Pinned { blob, .. } => vec![blob_type(blob)],
    };
    if types.is_empty() {
        return;
    }
    let Ok(supported) = sess.supported_algs(MethodType::HostKey) else {
        return;
    };
    let mut preferred: Vec<&str> = Vec::new();
    for ty in &types {
        let algs: Vec<&str> = if ty == "ssh-rsa" {
            vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            vec![ty.as_str()]
        };
        for alg in algs {
            if let Some(s) = supported.iter().find(|s| **s == alg)
                && !preferred.contains(s)
            {
                preferred.push(s);
            }
        }
    }
    for s in &supported {
        if !preferred.contains(s) {
            preferred.push(s);
        }
    }
    let _ = sess.method_pref(MethodType::HostKey, &preferred.join(","));
}

fn verify_host_key(
    t: &Target,
    check: &HostCheck<'_>,
    opts: &ConnectOptions,
    blob: &[u8],
) -> Result<(), SshError> {
    let got = format!("{} {}", blob_type(blob), fingerprint(blob));
    let addr = t.socket_addr();
    let (known, policy) = match check {
        HostCheck::Pinned {
            blob: pinned,
            known_hosts_path,
        } => {
            return if *pinned == blob {
                Ok(())
            } else {
                Err(SshError::HostKeyMismatch {
                    host: t.name.clone(),
                    address: t.address,
                    port: t.port,
                    expected: format!(
                        "{} {} (presented on the first connection)",
                        blob_type(pinned),
                        fingerprint(pinned)
                    ),
                    got,
                    known_hosts_path: known_hosts_path.to_path_buf(),
                    line: 0,
                })
            };
        }
        HostCheck::Known { known, policy } => (known, *policy),
    };
    if policy == HostKeyPolicy::InsecureIgnore {
        opts.say(&format!(
            "WARNING: {} ({addr}): host key NOT checked (--insecure-ignore-host-keys); it presented {got}. \
             Anyone on the network path can impersonate this host and read what is sent to it.",
            t.name
        ));
        return Ok(());
    }
    let io_err = |e: std::io::Error| {
        SshError::io(
            &t.name,
            format!("reading and writing {}", known.path().display()),
            e,
        )
    };
    let keys = known.lookup(t.address, t.port).map_err(io_err)?;
    if keys.iter().any(|k| k.blob == blob) {
        return Ok(());
    }
    if !keys.is_empty() {
        let same_type = keys.iter().find(|k| k.key_type == blob_type(blob));
        let line = same_type.unwrap_or(&keys[0]).line as u32;
        let expected = keys
            .iter()
            .map(|k| format!("{} {}", k.key_type, k.fingerprint()))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(SshError::HostKeyMismatch {
            host: t.name.clone(),
            address: t.address,
            port: t.port,
            expected,
            got,
            known_hosts_path: known.path().to_path_buf(),
            line,
        });
    }
    if policy == HostKeyPolicy::TrustOnFirstUse
        && let Some(confirm) = &opts.confirm_new_host
    {
        let _one_at_a_time = CONFIRM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if !confirm(t, &fingerprint(blob)) {
            return Err(SshError::UnknownHostRefused {
                host: t.name.clone(),
                address: t.address,
                port: t.port,
                fingerprint: got,
                known_hosts_path: known.path().to_path_buf(),
            });
        }
    }
    known
        .add(t.address, t.port, &blob_type(blob), blob, &t.name)
        .map_err(io_err)?;
    opts.say(&format!(
        "{} ({addr}): new host key {got} recorded in {}",
        t.name,
        known.path().display()
    ));
    Ok(())
}

/// Log in with each key the agent holds until one is accepted.
fn agent_login(sess: &ssh2::Session, user: &str, socket: Option<&Path>) -> Result<(), String> {
    if socket.is_none() && std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return Err("SSH_AUTH_SOCK is not set".into());
    }
    let mut agent = sess.agent().map_err(|e| e.message().to_string())?;
    if let Some(path) = socket {
        agent
            .set_identity_path(path)
            .map_err(|e| e.message().to_string())?;
    }
    agent
        .connect()
        .map_err(|e| format!("cannot connect to the agent: {}", e.message()))?;
    agent
        .list_identities()
        .map_err(|e| format!("cannot list its keys: {}", e.message()))?;
    let keys = agent.identities().map_err(|e| e.message().to_string())?;
    if keys.is_empty() {
        let _ = agent.disconnect();
        return Err("it holds no keys (`ssh-add` one)".into());
    }
    let mut refused = 0;
    for key in &keys {
        if agent.userauth(user, key).is_ok() && sess.authenticated() {
            break;
        }
        refused += 1;
    }
    let _ = agent.disconnect();
    if sess.authenticated() {
        Ok(())
    } else {
        Err(format!("the server refused its {refused} key(s)"))
    }
}

/// Answers every keyboard-interactive prompt with the password.
struct PasswordPrompt<'a>(&'a str);

impl ssh2::KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'b>],
    ) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

/// Log in with what the target has: ssh-agent, key file, password (in that order).
fn authenticate(sess: &ssh2::Session, t: &Target, opts: &ConnectOptions) -> Result<(), SshError> {
    let auth_error = |detail: String, hint: String| SshError::Auth {
        host: t.name.clone(),
        address: t.address,
        port: t.port,
        user: t.user.clone(),
        detail,
        hint,
    };
    let methods = match sess.auth_methods(&t.user) {
        Ok(m) => m.to_string(),
        Err(_) if sess.authenticated() => return Ok(()),
        Err(e) => {
            return Err(auth_error(
                format!("the server ended the login: {}", e.message()),
                format!("check sshd's log on {} (AllowUsers, MaxStartups)", t.name),
            ));
        }
    };
    let mut tried = Vec::new();
    if t.agent {
        if let Err(problem) = agent_login(sess, &t.user, opts.agent_socket.as_deref()) {
            tried.push(format!("ssh-agent ({problem})"));
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    if let Some(key) = &t.key_file {
        if let Err(e) = std::fs::File::open(key) {
            tried.push(format!("key {} (cannot read it: {e})", key.display()));
        } else if let Err(e) = sess.userauth_pubkey_file(&t.user, None, key, None) {
            tried.push(format!("key {} ({})", key.display(), e.message()));
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    if let Some(password) = &t.password {
        let result = if methods.split(',').any(|m| m == "password") {
            sess.userauth_password(&t.user, password.expose())
        } else if methods.split(',').any(|m| m == "keyboard-interactive") {
            sess.userauth_keyboard_interactive(&t.user, &mut PasswordPrompt(password.expose()))
        } else {
            Ok(())
        };
        if let Err(e) = result {
            // libssh2's message never echoes the password.
            tried.push(format!("password ({})", e.message()));
        } else if !sess.authenticated() {
            tried.push("password (the server does not accept passwords)".to_string());
        }
        if sess.authenticated() {
            return Ok(());
        }
    }
    let detail = if tried.is_empty() {
        format!("no key file, password or ssh-agent is configured; the server accepts {methods}")
    } else {
        format!("tried {}; the server accepts {methods}", tried.join(", "))
    };
    let hint = match &t.key_file {
        Some(key) => format!(
            "put the public key of {} into ~{}/.ssh/authorized_keys on {} (e.g. `ssh-copy-id -i {} {}@{}`), \
             or correct `keyfile-path` / `username`; an encrypted key needs ssh-agent",
            key.display(),
            t.user,
            t.name,
            key.display(),
            t.user,
            t.address
        ),
        None if t.password.is_some() => format!(
            "correct `password` / `username` for {}; its sshd must allow PasswordAuthentication (keys are better: set `keyfile-path`)",
            t.name
        ),
        None => format!(
            "set `keyfile-path` (recommended), `password` or `ssh-agent: true` for {}",
            t.name
        ),
    };
    Err(auth_error(detail, hint))
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
    fn the_type_is_read_from_the_blob() {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        blob.extend_from_slice(&[7; 32]);
        assert_eq!(blob_type(&blob), "ssh-ed25519");
        assert_eq!(blob_type(b"xx"), "unknown");
        assert_eq!(blob_type(&[0, 0, 0, 50, b'a']), "unknown");
    }

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
