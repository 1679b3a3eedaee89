//! Wall time per phase of a run: every progress line starts a phase and ends the one before,
//! so the report can say where the time went (`--output json`, and the benchmarks), with
//! the SSH requests each phase made (on a long link, their round trips bound it).

use crate::ssh::SshRequests;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How long one phase took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
    /// The SSH requests made during the phase, all nodes together.
    pub ssh: SshRequests,
}

/// Collects (progress line, when) marks.
#[derive(Clone)]
pub struct PhaseClock {
    started: Instant,
    at_start: SshRequests,
    marks: Arc<Mutex<Vec<(String, Instant, SshRequests)>>>,
}

impl PhaseClock {
    pub fn start() -> PhaseClock {
        PhaseClock {
            started: Instant::now(),
            at_start: SshRequests::now(),
            marks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Mark the start of a phase now.
    pub fn mark(&self, phase: &str) {
        if let Ok(mut m) = self.marks.lock() {
            m.push((phase.to_string(), Instant::now(), SshRequests::now()));
        }
    }

    /// A progress callback that marks each line, then passes it on to `inner`.
    pub fn wrap(&self, inner: Arc<dyn Fn(&str) + Send + Sync>) -> Arc<dyn Fn(&str) + Send + Sync> {
        let clock = self.clone();
        Arc::new(move |line: &str| {
            clock.mark(line);
            inner(line)
        })
    }

    /// Each phase's time up to now (the last one ends now); time before the first mark is
    /// reported as `start`.
    pub fn times(&self) -> Vec<PhaseTime> {
        let now = Instant::now();
        let requests = SshRequests::now();
        let marks = self.marks.lock().map(|m| m.clone()).unwrap_or_default();
        let mut out = Vec::with_capacity(marks.len() + 1);
        let (first, first_requests) = marks
            .first()
            .map(|(_, t, r)| (*t, *r))
            .unwrap_or((now, requests));
        if first > self.started {
            out.push(PhaseTime {
                phase: "start".into(),
                seconds: (first - self.started).as_secs_f64(),
                ssh: first_requests.since(&self.at_start),
            });
        }
        for (i, (phase, at, r)) in marks.iter().enumerate() {
            let (end, end_requests) = marks
                .get(i + 1)
                .map(|(_, t, r)| (*t, *r))
                .unwrap_or((now, requests));
            out.push(PhaseTime {
                phase: phase.clone(),
                seconds: (end - *at).as_secs_f64(),
                ssh: end_requests.since(r),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn phases_follow_the_progress_lines_and_add_up() {
        let clock = PhaseClock::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let progress = clock.wrap(Arc::new(move |l: &str| {
            s.lock().unwrap().push(l.to_string())
        }));
        progress("connect");
        std::thread::sleep(Duration::from_millis(30));
        progress("files");
        std::thread::sleep(Duration::from_millis(10));
        let t = clock.times();
        let names: Vec<&str> = t.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(names.last(), Some(&"files"));
        assert!(names.contains(&"connect"));
        let connect = t.iter().find(|p| p.phase == "connect").unwrap();
        assert!(connect.seconds >= 0.03, "{t:?}");
        let total: f64 = t.iter().map(|p| p.seconds).sum();
        assert!((0.04..5.0).contains(&total), "{t:?}");
        assert_eq!(*seen.lock().unwrap(), vec!["connect", "files"]);
    }
}
