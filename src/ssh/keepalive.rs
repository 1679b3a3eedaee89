//! Keepalives for every session of the process from one thread: libssh2 sends nothing by
//! itself, so `keepalive_send` is called for each live session at its interval (libssh2
//! only sends when the session was idle that long). Sessions are held weakly: a dropped
//! session simply disappears from the list. The thread starts with the first session and
//! idles when there is none.

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

/// Something that can send a keepalive (an SSH session); it must not block.
pub(crate) trait KeepAlive: Send + Sync {
    fn send_keepalive(&self);
}

/// How often the thread looks at the list.
const TICK: Duration = Duration::from_millis(500);

struct Entry {
    session: Weak<dyn KeepAlive>,
    every: Duration,
    next: Instant,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static START: Once = Once::new();

/// Send keepalives on `session` every `every` (not zero) while it lives.
pub(crate) fn register<S: KeepAlive + 'static>(session: &Arc<S>, every: Duration) {
    let weak: Weak<dyn KeepAlive> = Arc::downgrade(session) as Weak<dyn KeepAlive>;
    ENTRIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Entry {
            session: weak,
            every,
            next: Instant::now() + every,
        });
    START.call_once(|| {
        std::thread::Builder::new()
            .name("ssh-keepalive".into())
            .spawn(run)
            .expect("spawning the SSH keepalive thread");
    });
}

fn run() {
    loop {
        std::thread::sleep(TICK);
        let due: Vec<Arc<dyn KeepAlive>> = {
            let mut entries = ENTRIES.lock().unwrap_or_else(|e| e.into_inner());
            entries.retain(|e| e.session.strong_count() > 0);
            let now = Instant::now();
            entries
                .iter_mut()
                .filter(|e| e.next <= now)
                .filter_map(|e| {
                    e.next = now + e.every;
                    e.session.upgrade()
                })
                .collect()
        };
        for session in due {
            session.send_keepalive();
        }
    }
}
