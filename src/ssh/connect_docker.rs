//! Many hosts at once, each with its Docker tunnel ([`connect_all_with_docker`]): per host
//! the command session and the tunnel's own session are opened at the same time. The
//! tunnel's session does its TCP connect and key exchange beside the first one's, and logs
//! in once the first has checked the host key and only if it was shown the same key
//! (`host_pin.rs`). Before, the tunnel's login started after the first login had ended:
//! one whole login (about 5 round trips) more per host on the way to the first phase.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::connect::{self, Established, HostCheck};
use super::host_pin::HostPin;
use super::tunnel_hub::TunnelLimit;
use super::{ConnectOptions, DEFAULT_PARALLEL, DockerTunnel, HostKeyPolicy, KnownHosts, Session};
use super::{SshError, Target};

/// Longest wait of the tunnel's session for the first session's checked key (the first
/// session always says, even when it fails: this only bounds a defect).
const PIN_WAIT: Duration = Duration::from_secs(600);

/// Longest wait for a free bridge slot (as [`Session::docker_limited`] waits).
const SLOT_WAIT: Duration = Duration::from_secs(600);

/// One host: its session, and its Docker tunnel when the session was made.
pub struct Connected {
    pub name: String,
    pub session: Result<Session, SshError>,
    pub docker: Option<Result<DockerTunnel, SshError>>,
    /// The tunnel's session was opened beside the first; false when it was opened after
    /// it (the fallback) or not at all.
    pub beside: bool,
}

/// Connect to every target with its Docker tunnel, `parallel` hosts at a time (0 means
/// [`DEFAULT_PARALLEL`]), the tunnels' bridges counted against `limit`. One result per
/// target, in the order given.
pub fn connect_all_with_docker(
    targets: &[Target],
    known: &KnownHosts,
    policy: HostKeyPolicy,
    opts: &ConnectOptions,
    parallel: usize,
    limit: &Arc<TunnelLimit>,
) -> Vec<Connected> {
    let parallel = if parallel == 0 {
        DEFAULT_PARALLEL
    } else {
        parallel
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Connected>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(targets.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { break };
                    let c = connect_one(t, known, policy, opts, limit);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(c);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    targets
        .iter()
        .zip(results)
        .map(|(t, c)| {
            c.unwrap_or_else(|| Connected {
                name: t.name.clone(),
                session: Err(SshError::io(
                    &t.name,
                    "connecting",
                    "the connecting thread ended without a result",
                )),
                docker: None,
                beside: false,
            })
        })
        .collect()
}

/// One host: both sessions at once, then the tunnel over the second. When the second
/// session fails for another reason than its host key (a slow first login made sshd
/// drop it, say), the tunnel is opened again the earlier way, after the first.
fn connect_one(
    t: &Target,
    known: &KnownHosts,
    policy: HostKeyPolicy,
    opts: &ConnectOptions,
    limit: &Arc<TunnelLimit>,
) -> Connected {
    let pin = HostPin::default();
    let (session, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| second_session(t, known, policy, opts, limit, &pin));
        let session = Session::connect_publishing(t, known, policy, opts, Some(&pin));
        if session.is_err() {
            pin.fail();
        }
        let second = second.join().unwrap_or_else(|_| {
            Err(SshError::io(
                &t.name,
                "Docker tunnel",
                "the thread opening its session ended without a result",
            ))
        });
        (session, second)
    });
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            if second.is_ok() {
                limit.release();
            }
            return Connected {
                name: t.name.clone(),
                session: Err(e),
                docker: None,
                beside: false,
            };
        }
    };
    let beside = second.is_ok();
    let docker = match second {
        Ok(est) => session.docker_over(est, limit),
        Err(e @ SshError::HostKeyMismatch { .. }) => Err(e),
        Err(e) => {
            tracing::debug!(host = %t.name, "the Docker tunnel's session, opened beside the first, failed ({e}); opening it after the first");
            session.docker_limited(limit)
        }
    };
    Connected {
        name: t.name.clone(),
        session: Ok(session),
        docker: Some(docker),
        beside,
    }
}

/// The tunnel's session: a bridge slot, then connect and key exchange at once, the login
/// when the first session has checked the key and it is the one shown here. The slot is
/// given back when this fails.
fn second_session(
    t: &Target,
    known: &KnownHosts,
    policy: HostKeyPolicy,
    opts: &ConnectOptions,
    limit: &Arc<TunnelLimit>,
    pin: &HostPin,
) -> Result<Established, SshError> {
    if !limit.acquire(Instant::now() + SLOT_WAIT) {
        return Err(SshError::io(
            &t.name,
            "Docker tunnel",
            format!(
                "no free tunnel slot within {} s ({} tunnels busy)",
                SLOT_WAIT.as_secs(),
                limit.max()
            ),
        ));
    }
    let check = HostCheck::Awaited {
        known,
        policy,
        pin,
        deadline: Instant::now() + PIN_WAIT,
    };
    connect::establish(t, &check, opts).inspect_err(|_| limit.release())
}
