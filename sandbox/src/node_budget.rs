//! The machine-wide budget of sandbox nodes shared by test and benchmark processes: each
//! sandbox holds one lock file per node (`$TMPDIR/k8s-manage-test-nodes/node-N.lock`)
//! while it lives, so that sandboxes started by different processes never run more nodes
//! at once than the machine can carry (`K8S_MANAGE_TEST_NODES`, default 8).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The default number of nodes: two cores carry about eight nodes of real components.
pub const DEFAULT_NODES: usize = 8;

/// The budget: `K8S_MANAGE_TEST_NODES`, or [`DEFAULT_NODES`].
pub fn budget() -> usize {
    std::env::var("K8S_MANAGE_TEST_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_NODES)
}

/// The held part of the budget; dropping it gives the nodes back.
#[derive(Debug)]
pub struct Hold {
    _locks: Vec<File>,
    /// How many units are held.
    pub nodes: usize,
}

/// The units a sandbox of `nodes` nodes takes: at least one, at most the whole budget.
fn wanted(nodes: usize, budget: usize) -> usize {
    nodes.clamp(1, budget)
}

fn dir() -> PathBuf {
    std::env::temp_dir().join("k8s-manage-test-nodes")
}

/// Wait until `nodes` units of the budget are free and hold them. The units are taken
/// under one allocator lock, so two waiting processes never hold half each; a sandbox
/// larger than the whole budget takes all of it. `on_wait` is called once, with the
/// units wanted and the budget, when the first try finds too few free.
pub fn take(nodes: usize, on_wait: &dyn Fn(usize, usize)) -> io::Result<Hold> {
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    let open = |name: String| {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))
    };
    let budget = budget();
    let want = wanted(nodes, budget);
    let mut said = false;
    loop {
        let allocator = open("allocator.lock".into())?;
        allocator.lock()?;
        let mut held = Vec::new();
        for i in 0..budget {
            if held.len() == want {
                break;
            }
            let f = open(format!("node-{i}.lock"))?;
            if f.try_lock().is_ok() {
                held.push(f);
            }
        }
        drop(allocator);
        if held.len() == want {
            return Ok(Hold {
                _locks: held,
                nodes: want,
            });
        }
        drop(held);
        if !said {
            on_wait(want, budget);
            said = true;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_takes_at_least_one_unit_and_at_most_the_budget() {
        assert_eq!(wanted(0, 8), 1);
        assert_eq!(wanted(5, 8), 5);
        assert_eq!(wanted(14, 8), 8);
    }
}
