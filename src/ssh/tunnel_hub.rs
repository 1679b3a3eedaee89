//! Keeping Docker tunnels few. A tunnel's bridge (its second SSH session and its thread)
//! runs only while the tunnel is used: it stops when no connection has been open for a
//! while (at once when another tunnel waits for a slot), and at most [`TunnelLimit`]'s
//! count of bridges run at the same time (`--parallel`). One hub thread watches the local
//! sockets of the tunnels whose bridge is stopped and starts one when a client connects;
//! the connection waits in the socket's backlog meanwhile. So a fleet of hundreds of nodes
//! holds one SSH session per node plus `--parallel` more, not two per node.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bridge::{Bridge, BridgeState};
use super::connect::Established;
use super::nonblock::poll;
use super::session::Sibling;

/// How long a bridge with no connection stays up when no other tunnel waits for a slot.
pub(crate) const IDLE_CLOSE: Duration = Duration::from_secs(20);
/// The same when another tunnel waits for a slot.
pub(crate) const IDLE_CLOSE_CONTENDED: Duration = Duration::from_millis(200);

/// At most `max` bridges at once, shared by the tunnels made with it.
pub struct TunnelLimit {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
    /// A client waits for a slot: idle bridges should stop at once.
    contended: AtomicBool,
}

impl TunnelLimit {
    pub fn new(max: usize) -> Arc<TunnelLimit> {
        Arc::new(TunnelLimit {
            max: max.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
            contended: AtomicBool::new(false),
        })
    }

    /// Bridges running now.
    pub fn active(&self) -> usize {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn try_acquire(&self) -> bool {
        let mut n = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if *n < self.max {
            *n += 1;
            true
        } else {
            false
        }
    }

    /// Wait for a slot until `deadline`.
    pub(crate) fn acquire(&self, deadline: Instant) -> bool {
        let mut n = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.max {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.contended.store(true, Ordering::Relaxed);
            n = self
                .freed
                .wait_timeout(n, (deadline - now).min(Duration::from_millis(200)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *n += 1;
        true
    }

    pub(crate) fn release(&self) {
        let mut n = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.contended.store(false, Ordering::Relaxed);
        self.freed.notify_all();
        drop(n);
        hub().wake();
    }

    /// How long an idle bridge of this limit may stay up.
    pub(crate) fn idle_close(&self) -> Duration {
        if self.contended.load(Ordering::Relaxed) {
            IDLE_CLOSE_CONTENDED
        } else {
            IDLE_CLOSE
        }
    }
}

/// The limit of tunnels made without one: [`super::DEFAULT_PARALLEL`].
pub(crate) fn default_limit() -> Arc<TunnelLimit> {
    static DEFAULT: OnceLock<Arc<TunnelLimit>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| TunnelLimit::new(super::DEFAULT_PARALLEL))
        .clone()
}

/// One tunnel, as its bridges and the hub see it.
pub(crate) struct Shared {
    pub listener: UnixListener,
    pub host: String,
    pub sibling: Sibling,
    pub state: Arc<BridgeState>,
    pub limit: Arc<TunnelLimit>,
    pub keepalive: Duration,
    /// A bridge runs (or is being started).
    pub active: AtomicBool,
    /// The tunnel was dropped.
    pub closing: AtomicBool,
    /// The running bridge: its stop flag and wake-up end.
    pub running: Mutex<Option<(Arc<AtomicBool>, UnixStream)>>,
    pub thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// Stop the bridge (if any) and wait for its thread.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        if let Some((stop, wake)) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            stop.store(true, Ordering::Relaxed);
            drop(wake);
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn note(&self, problem: String) {
        tracing::debug!(host = %self.host, "docker tunnel: {problem}");
        *self
            .state
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }
}

/// Start a bridge for `t`, whose slot is already taken: with `est` (a session just made),
/// else a new one. Returns when the thread runs.
pub(crate) fn start(t: &Arc<Shared>, est: Option<Established>) -> io::Result<()> {
    t.active.store(true, Ordering::Relaxed);
    let shared = Arc::clone(t);
    let handle = std::thread::Builder::new()
        .name(format!("docker-tunnel-{}", t.host))
        .spawn(move || run_bridge(&shared, est));
    match handle {
        Ok(h) => {
            let old = t
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(h);
            if let Some(old) = old {
                let _ = old.join(); // an earlier bridge, already finished
            }
            Ok(())
        }
        Err(e) => {
            t.active.store(false, Ordering::Relaxed);
            t.limit.release();
            Err(e)
        }
    }
}

fn run_bridge(t: &Arc<Shared>, est: Option<Established>) {
    let est = match est {
        Some(e) => Some(e),
        None => match t.sibling.establish() {
            Ok(e) => Some(e),
            Err(e) => {
                t.note(format!("reopening the tunnel's SSH session: {e}"));
                refuse_waiting(&t.listener);
                None
            }
        },
    };
    if let Some(est) = est
        && !t.closing.load(Ordering::Relaxed)
    {
        let stop = Arc::new(AtomicBool::new(false));
        match UnixStream::pair() {
            Ok((wake, wake_rx)) => {
                *t.running.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Arc::clone(&stop), wake));
                if !t.closing.load(Ordering::Relaxed) {
                    Bridge::new(
                        est,
                        &t.listener,
                        (stop, wake_rx),
                        Arc::clone(&t.state),
                        t.host.clone(),
                        t.keepalive,
                    )
                    .run(&|| t.limit.idle_close());
                }
                t.running.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
            Err(e) => t.note(format!("making the wake-up pair: {e}")),
        }
    }
    t.active.store(false, Ordering::Relaxed);
    t.limit.release();
}

/// Accept and close the connections waiting on `listener`: their clients fail at once
/// instead of waiting for a bridge that cannot start.
fn refuse_waiting(listener: &UnixListener) {
    while let Ok((s, _)) = listener.accept() {
        drop(s);
    }
}

struct Hub {
    tunnels: Mutex<Vec<Weak<Shared>>>,
    wake: UnixStream,
}

impl Hub {
    fn wake(&self) {
        use std::io::Write;
        let _ = (&self.wake).write(&[1]);
    }
}

fn hub() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| {
        let (tx, rx) = UnixStream::pair().expect("a socket pair for the tunnel hub");
        let _ = tx.set_nonblocking(true);
        let _ = rx.set_nonblocking(true);
        std::thread::Builder::new()
            .name("docker-tunnel-hub".into())
            .spawn(move || hub_loop(rx))
            .expect("spawning the tunnel hub thread");
        Hub {
            tunnels: Mutex::new(Vec::new()),
            wake: tx,
        }
    })
}

/// Let the hub start bridges for `t` when its socket gets a connection.
pub(crate) fn register(t: &Arc<Shared>) {
    let h = hub();
    h.tunnels
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(t));
    h.wake();
}

fn hub_loop(mut wake_rx: UnixStream) {
    // tunnels with a waiting client but no free slot: not polled again until a slot frees
    let mut starved: HashSet<usize> = HashSet::new();
    loop {
        let idle: Vec<Arc<Shared>> = {
            let mut list = hub().tunnels.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|w| {
                w.upgrade()
                    .is_some_and(|t| !t.closing.load(Ordering::Relaxed))
            });
            list.iter()
                .filter_map(Weak::upgrade)
                .filter(|t| !t.active.load(Ordering::Relaxed))
                .filter(|t| !starved.contains(&(Arc::as_ptr(t) as usize)))
                .collect()
        };
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(idle.len() + 1);
        let pfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.push(pfd(wake_rx.as_raw_fd()));
        fds.extend(idle.iter().map(|t| pfd(t.listener.as_raw_fd())));
        poll(&mut fds, Duration::from_secs(1));
        if fds[0].revents != 0 {
            let mut buf = [0u8; 64];
            while matches!(wake_rx.read(&mut buf), Ok(n) if n > 0) {}
            starved.clear(); // a slot may have freed
        }
        for (t, p) in idle.iter().zip(&fds[1..]) {
            if p.revents == 0 || t.closing.load(Ordering::Relaxed) {
                continue;
            }
            if t.limit.try_acquire() {
                if start(t, None).is_err() {
                    refuse_waiting(&t.listener);
                }
            } else {
                t.limit.contended.store(true, Ordering::Relaxed);
                starved.insert(Arc::as_ptr(t) as usize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_counts_and_lets_a_waiter_in_when_a_slot_frees() {
        let l = TunnelLimit::new(2);
        assert!(l.try_acquire() && l.try_acquire());
        assert!(!l.try_acquire());
        assert_eq!(l.active(), 2);
        assert_eq!(l.idle_close(), IDLE_CLOSE);
        assert!(!l.acquire(Instant::now() + Duration::from_millis(50)));
        assert_eq!(
            l.idle_close(),
            IDLE_CLOSE_CONTENDED,
            "a waiter makes idle bridges stop"
        );
        let l2 = Arc::clone(&l);
        let waiter =
            std::thread::spawn(move || l2.acquire(Instant::now() + Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(100));
        l.release();
        assert!(waiter.join().unwrap());
        assert_eq!(l.active(), 2);
        l.release();
        l.release();
        assert_eq!(l.active(), 0);
        assert_eq!(TunnelLimit::new(0).max(), 1);
    }
}
