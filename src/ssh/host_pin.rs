//! The host key of a first session, handed to a second session to the same host that is
//! opened at the same time (the Docker tunnel's): the second does its TCP connect and key
//! exchange beside the first, then waits here for the key the first session checked, and
//! logs in only when the key it was shown is that one. Nothing is sent to a host whose key
//! is not checked, and the two logins no longer wait for each other.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Where the first session's checked host key arrives, or the news that it failed.
#[derive(Debug, Default)]
pub(crate) struct HostPin {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum State {
    #[default]
    Waiting,
    Key(Vec<u8>),
    Failed,
}

/// Why no key came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoPin {
    /// The first session could not connect or its key was refused.
    FirstFailed,
    /// Nothing came before the deadline.
    TimedOut,
}

impl HostPin {
    /// The first session checked this key (the first call counts; later ones are ignored).
    pub(crate) fn set(&self, blob: &[u8]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *s == State::Waiting {
            *s = State::Key(blob.to_vec());
            self.changed.notify_all();
        }
    }

    /// The first session failed before its key was checked (no effect after [`set`]).
    ///
    /// [`set`]: HostPin::set
    pub(crate) fn fail(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *s == State::Waiting {
            *s = State::Failed;
            self.changed.notify_all();
        }
    }

    /// Wait for the key until `deadline`.
    pub(crate) fn wait(&self, deadline: Instant) -> Result<Vec<u8>, NoPin> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match &*s {
                State::Key(k) => return Ok(k.clone()),
                State::Failed => return Err(NoPin::FirstFailed),
                State::Waiting => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NoPin::TimedOut);
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_waiter_gets_the_first_key_set_from_another_thread() {
        let pin = HostPin::default();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| pin.wait(Instant::now() + Duration::from_secs(10)));
            std::thread::sleep(Duration::from_millis(20));
            pin.set(b"key-1");
            pin.set(b"key-2");
            pin.fail();
            assert_eq!(waiter.join().unwrap(), Ok(b"key-1".to_vec()));
        });
    }

    #[test]
    fn a_failed_first_session_or_the_deadline_ends_the_wait() {
        let pin = HostPin::default();
        assert_eq!(
            pin.wait(Instant::now() + Duration::from_millis(10)),
            Err(NoPin::TimedOut)
        );
        pin.fail();
        pin.set(b"late");
        assert_eq!(
            pin.wait(Instant::now() + Duration::from_secs(10)),
            Err(NoPin::FirstFailed)
        );
    }
}
