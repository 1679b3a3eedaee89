//! Keepalives for every session of the process from one thread: libssh2 sends nothing by
//! itself, so `keepalive_send` is called for each live session at its interval (libssh2
//! only sends when the session was idle that long). Sessions are held weakly: a dropped
//! session simply disappears from the list. The thread starts with the first session and
//! idles when there is none.

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use super::session::Shared;

/// How often the thread looks at the list.
const TICK: Duration = Duration::from_millis(500);

struct Entry {
    session: Weak<Shared>,
    every: Duration,
    next: Instant,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static START: Once = Once::new();

/// Send keepalives on `session` every `every` (not zero) while it lives.
pub(crate) fn register(session: &Arc<Shared>, every: Duration) {
    ENTRIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Entry {
            session: Arc::downgrade(session),
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
        let due: Vec<Arc<Shared>> = {
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
            // Non-blocking: a busy socket just means "next time".
            let _ = session.sess.keepalive_send();
        }
    }
}
