//! Pure planning of an image relay: which nodes form which chains in each round, and what
//! a node's receipt means (done, try again from the control host, or failed for good).
//!
//! Round 1 feeds every node through `width` chains (the control host sends the bundle once
//! per chain; each node passes it on while loading it). A node that stops mid-stream cuts
//! off everything after it: those nodes receive a truncated stream and are re-fed in the
//! next round as a new chain of the remaining nodes, straight from the control host. The
//! last round feeds each remaining node on its own, so one bad link between two nodes
//! cannot keep a third from its bundle.

/// Split `nodes` (in order) into at most `width` chains of near-equal length.
pub fn chains(nodes: &[usize], width: usize) -> Vec<Vec<usize>> {
    if nodes.is_empty() {
        return Vec::new();
    }
    let width = width.clamp(1, nodes.len());
    let (base, extra) = (nodes.len() / width, nodes.len() % width);
    let mut out = Vec::with_capacity(width);
    let mut at = 0;
    for i in 0..width {
        let len = base + usize::from(i < extra);
        out.push(nodes[at..at + len].to_vec());
        at += len;
    }
    out
}

/// The chains of round `round` (1-based) of at most `max_rounds`, for the nodes still
/// waiting for the bundle: `width` chains, except in the last round (when it is not the
/// first), where each node is fed directly.
pub fn round_chains(
    pending: &[usize],
    round: u32,
    max_rounds: u32,
    width: usize,
) -> Vec<Vec<usize>> {
    if round > 1 && round >= max_rounds {
        pending.iter().map(|&n| vec![n]).collect()
    } else {
        chains(pending, width)
    }
}

/// What the control host found on a node after a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// The control host could not ask (the node or its SSH session is gone).
    Unreachable(String),
    /// The node has no record of this round: the stream never reached it.
    NothingReceived,
    /// The receiver's record.
    Received {
        bytes: u64,
        sha256: String,
        /// Exit status of `docker load`.
        load_status: i32,
        /// The end of `docker load`'s error output.
        load_error: String,
    },
}

/// The verdict on one node after a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The whole bundle arrived with the right checksum and is loaded.
    Loaded,
    /// Cut off upstream (or never reached): feed it again in the next round.
    Retry(String),
    /// Failed for good, with the reason.
    Failed(String),
}

/// Judge a node's receipt against the bundle's size and sha256. `last_round`: a node that
/// would be retried fails instead.
pub fn judge(receipt: &Receipt, size: u64, sha256: &str, last_round: bool) -> Verdict {
    let retry = |why: String| {
        if last_round {
            Verdict::Failed(format!("{why}, and no attempts are left"))
        } else {
            Verdict::Retry(why)
        }
    };
    match receipt {
        Receipt::Unreachable(e) => Verdict::Failed(format!(
            "stopped answering during the image relay ({e}); the nodes after it were re-fed"
        )),
        Receipt::NothingReceived => retry("the relay stream never reached it".into()),
        Receipt::Received {
            bytes,
            sha256: got,
            load_status,
            load_error,
        } => {
            if *bytes < size {
                retry(format!(
                    "received {bytes} of {size} bytes (the stream was cut off upstream)"
                ))
            } else if got != sha256 {
                Verdict::Failed(format!(
                    "checksum mismatch: received {bytes} bytes with sha256 {got}, the bundle's is {sha256}"
                ))
            } else if *load_status != 0 {
                Verdict::Failed(format!(
                    "`docker load` failed (exit status {load_status}): {}",
                    load_error.trim()
                ))
            } else {
                Verdict::Loaded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_cover_every_node_once_in_order() {
        let nodes: Vec<usize> = (0..10).collect();
        for width in 0..12 {
            let c = chains(&nodes, width);
            assert_eq!(c.len(), width.clamp(1, 10));
            let flat: Vec<usize> = c.iter().flatten().copied().collect();
            assert_eq!(flat, nodes, "width {width}");
            let (min, max) = (
                c.iter().map(Vec::len).min().unwrap(),
                c.iter().map(Vec::len).max().unwrap(),
            );
            assert!(max - min <= 1, "width {width}: {c:?}");
        }
        assert!(chains(&[], 3).is_empty());
        assert_eq!(chains(&[4, 7, 9], 1), vec![vec![4, 7, 9]]);
    }

    #[test]
    fn the_last_round_feeds_each_remaining_node_directly() {
        assert_eq!(round_chains(&[2, 3], 2, 3, 1), vec![vec![2, 3]]);
        assert_eq!(round_chains(&[2, 3], 3, 3, 1), vec![vec![2], vec![3]]);
        // a single round is a chain
        assert_eq!(round_chains(&[2, 3], 1, 1, 1), vec![vec![2, 3]]);
    }

    fn received(bytes: u64, sha: &str, load: i32) -> Receipt {
        Receipt::Received {
            bytes,
            sha256: sha.into(),
            load_status: load,
            load_error: "unexpected EOF".into(),
        }
    }

    #[test]
    fn a_killed_node_fails_and_the_nodes_after_it_are_retried() {
        // chain a -> b -> c -> d, b killed mid-stream
        let receipts = [
            received(100, "s", 0),
            Receipt::Unreachable("timed out".into()),
            received(40, "x", 1),
            received(40, "x", 1),
        ];
        let v: Vec<Verdict> = receipts.iter().map(|r| judge(r, 100, "s", false)).collect();
        assert_eq!(v[0], Verdict::Loaded);
        assert!(matches!(&v[1], Verdict::Failed(m) if m.contains("stopped answering")));
        assert!(matches!(&v[2], Verdict::Retry(m) if m.contains("40 of 100")));
        assert!(matches!(v[3], Verdict::Retry(_)));
        // the retried ones form the next round's chain
        let pending: Vec<usize> = v
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, Verdict::Retry(_)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(round_chains(&pending, 2, 3, 1), vec![vec![2, 3]]);
    }

    #[test]
    fn a_checksum_mismatch_or_a_failed_load_fails_the_node_clearly() {
        let v = judge(&received(100, "bad", 0), 100, "good", false);
        assert!(
            matches!(&v, Verdict::Failed(m) if m.contains("checksum mismatch") && m.contains("good"))
        );
        let v = judge(&received(100, "good", 1), 100, "good", false);
        assert!(
            matches!(&v, Verdict::Failed(m) if m.contains("docker load") && m.contains("unexpected EOF"))
        );
    }

    #[test]
    fn retries_end_in_the_last_round() {
        let v = judge(&Receipt::NothingReceived, 100, "s", true);
        assert!(matches!(&v, Verdict::Failed(m) if m.contains("no attempts are left")));
        assert!(matches!(
            judge(&Receipt::NothingReceived, 100, "s", false),
            Verdict::Retry(_)
        ));
    }
}
