//! Running the image relay ([`crate::relay`]) over connected SSH sessions: per-round set-up
//! on every node of the round, the chains streamed concurrently (each fed once by the
//! control host), every node's receipt read back and judged, the nodes after a failed one
//! re-fed, and the run's keys, files and authorized_keys lines removed from every node that
//! still answers. Also the deploy's use of it: only nodes that miss an image get the bundle.

use super::fleet::{Node, StepError, blocking, fan_out};
use crate::executor::docker::images;
use crate::relay::plan::{self, Receipt, Verdict};
use crate::relay::{hop_key, receipt};
use crate::ssh::Session;
use crate::ssh::snippets::relay as script;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One node to relay to.
#[derive(Clone)]
pub struct RelayTarget {
    pub host: String,
    pub session: Arc<Session>,
}

/// How to relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Chains fed at once by the control host (1: one chain through every node).
    pub chains: usize,
    /// Rounds at most (the first plus re-feeds).
    pub max_rounds: u32,
    /// A stream that moves no data for this long is given up.
    pub stall: Duration,
    /// Limit for one round.
    pub round_timeout: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            chains: 1,
            max_rounds: 3,
            stall: Duration::from_secs(60),
            round_timeout: Duration::from_secs(3600),
        }
    }
}

/// What happened on one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeRelay {
    pub host: String,
    /// The image names loaded, or why the node failed.
    pub result: Result<Vec<String>, String>,
    /// The round that decided it.
    pub round: u32,
}

/// The whole relay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelayReport {
    pub bytes: u64,
    pub sha256: String,
    pub rounds: u32,
    pub seconds: f64,
    pub nodes: Vec<NodeRelay>,
    /// Nodes the clean-up could not reach (their run files stay in /tmp; the keys there
    /// are useless once the next node's authorized_keys line is gone).
    pub cleanup_failed: Vec<String>,
}

impl RelayReport {
    pub fn failed(&self) -> impl Iterator<Item = &NodeRelay> {
        self.nodes.iter().filter(|n| n.result.is_err())
    }
}

/// Size and sha256 of a file, read once.
pub fn file_digest(path: &Path) -> Result<(u64, String), String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| format!("cannot open the image bundle {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read the image bundle {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(15);

/// Relay `bundle` to every target (blocking; run it off the async threads). `log` gets
/// (host, line) for each node's log. Errors only for the control host's own problems
/// (bundle unreadable, key generation); node failures are in the report.
pub fn relay_bundle(
    targets: &[RelayTarget],
    bundle: &Path,
    opts: &RelayOptions,
    log: &(dyn Fn(&str, &str) + Sync),
) -> Result<RelayReport, String> {
    let started = Instant::now();
    let (size, sha256) = file_digest(bundle)?;
    let run_id = hop_key::run_id();
    let mut results: Vec<Option<NodeRelay>> = vec![None; targets.len()];
    let mut pending: Vec<usize> = (0..targets.len()).collect();
    let mut set_up_once = vec![false; targets.len()];
    let mut rounds = 0;
    for round in 1..=opts.max_rounds.max(1) {
        if pending.is_empty() {
            break;
        }
        rounds = round;
        let last = round == opts.max_rounds.max(1);
        let chains = plan::round_chains(&pending, round, opts.max_rounds.max(1), opts.chains);
        // Per-node set-up: the next hop's key, host key and address; the previous hop's
        // public key as a forced-command authorized_keys line on the next node.
        let mut next: BTreeMap<usize, script::NextHop> = BTreeMap::new();
        let mut accept: BTreeMap<usize, String> = BTreeMap::new();
        for chain in &chains {
            for pair in chain.windows(2) {
                let (i, j) = (pair[0], pair[1]);
                let (private, public) = hop_key::generate(&script::key_comment(&run_id, round))?;
                let t = targets[j].session.target();
                next.insert(
                    i,
                    script::NextHop {
                        address: t.address.to_string(),
                        port: t.port,
                        user: t.user.clone(),
                        private_key: private,
                        known_hosts_line: targets[j].session.known_hosts_line(),
                    },
                );
                accept.insert(j, script::authorized_line(&run_id, &public));
            }
        }
        let scripts: Vec<(usize, String)> = chains
            .iter()
            .flatten()
            .map(|&i| {
                let s = script::setup(
                    &run_id,
                    !set_up_once[i],
                    round,
                    &sha256,
                    next.get(&i),
                    accept.get(&i).map(String::as_str),
                );
                (i, s)
            })
            .collect();
        let setup_results = each(targets, &scripts, |t, s| {
            t.session
                .exec(
                    "relay set-up",
                    script::SETUP_SHELL,
                    Some(s.as_bytes()),
                    SETUP_TIMEOUT,
                )
                .map_err(|e| e.to_string())
                .and_then(|o| {
                    if o.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "relay set-up failed (exit status {}): {}",
                            o.status,
                            o.stderr_str().trim()
                        ))
                    }
                })
        });
        for (i, r) in &setup_results {
            match r {
                Ok(()) => set_up_once[*i] = true,
                Err(e) => {
                    log(&targets[*i].host, &format!("relay round {round}: {e}"));
                    results[*i] = Some(NodeRelay {
                        host: targets[*i].host.clone(),
                        result: Err(e.clone()),
                        round,
                    });
                }
            }
        }
        // Stream every chain from the control host, all chains at once.
        std::thread::scope(|s| {
            for chain in &chains {
                let head = &targets[chain[0]];
                let cmd = script::start(&run_id, round);
                let names: Vec<&str> = chain.iter().map(|&i| targets[i].host.as_str()).collect();
                s.spawn(move || {
                    let t = Instant::now();
                    let r = std::fs::File::open(bundle)
                        .map_err(|e| e.to_string())
                        .and_then(|mut f| {
                            head.session
                                .exec_streaming(
                                    "image relay",
                                    &cmd,
                                    &mut f,
                                    opts.stall,
                                    opts.round_timeout,
                                )
                                .map_err(|e| e.to_string())
                        });
                    let what = match &r {
                        Ok(s) => format!(
                            "sent {} of {size} bytes, receiver exit status {}",
                            s.sent, s.output.status
                        ),
                        Err(e) => e.clone(),
                    };
                    log(
                        &head.host,
                        &format!(
                            "relay round {round}: chain {} fed from the control host in {:.2}s: {what}",
                            names.join(" -> "),
                            t.elapsed().as_secs_f64()
                        ),
                    );
                });
            }
        });
        // Read back and judge every node of the round.
        let members: Vec<(usize, String)> = chains
            .iter()
            .flatten()
            .filter(|&&i| results[i].is_none())
            .map(|&i| (i, script::receipt(&run_id, round)))
            .collect();
        let receipts = each(targets, &members, |t, cmd| {
            match t.session.exec("relay receipt", cmd, None, RECEIPT_TIMEOUT) {
                Ok(o) if o.success() => receipt::parse_receipt(&o.stdout_str()),
                Ok(o) => (
                    Receipt::Unreachable(format!("exit status {}", o.status)),
                    vec![],
                ),
                Err(e) => (Receipt::Unreachable(e.to_string()), vec![]),
            }
        });
        let mut next_pending = Vec::new();
        for (i, (receipt, loaded)) in receipts {
            let verdict = plan::judge(&receipt, size, &sha256, last);
            log(
                &targets[i].host,
                &format!("relay round {round}: {receipt:?} -> {verdict:?}"),
            );
            let result = match verdict {
                Verdict::Loaded => Ok(loaded),
                Verdict::Failed(why) => Err(why),
                Verdict::Retry(_) => {
                    next_pending.push(i);
                    continue;
                }
            };
            results[i] = Some(NodeRelay {
                host: targets[i].host.clone(),
                result,
                round,
            });
        }
        next_pending.sort();
        pending = next_pending;
    }
    // Remove the run's files and keys from every node (harmless where none are).
    let touched: Vec<(usize, String)> = (0..targets.len())
        .map(|i| (i, script::cleanup(&run_id)))
        .collect();
    let cleanup_failed: Vec<String> = each(targets, &touched, |t, cmd| {
        t.session
            .run("relay clean-up", cmd, RECEIPT_TIMEOUT)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .into_iter()
    .filter_map(|(i, r)| r.err().map(|e| format!("{}: {e}", targets[i].host)))
    .collect();
    let nodes = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| NodeRelay {
                host: targets[i].host.clone(),
                result: Err("not decided after the last round".into()),
                round: rounds,
            })
        })
        .collect();
    Ok(RelayReport {
        bytes: size,
        sha256,
        rounds,
        seconds: started.elapsed().as_secs_f64(),
        nodes,
        cleanup_failed,
    })
}

/// Run `f` for each (target index, input) on its own thread; results in input order.
fn each<I: Sync, T: Send>(
    targets: &[RelayTarget],
    items: &[(usize, I)],
    f: impl Fn(&RelayTarget, &I) -> T + Sync,
) -> Vec<(usize, T)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|(i, input)| {
                let (t, f) = (&targets[*i], &f);
                (*i, s.spawn(move || f(t, input)))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(i, h)| h.join().ok().map(|r| (i, r)))
            .collect()
    })
}

/// The images a node's containers need that its engine does not have.
pub async fn missing_images(node: &Node) -> Result<Vec<String>, StepError> {
    let mut needed: Vec<String> = node
        .artifacts
        .containers
        .iter()
        .map(|c| c.image.clone())
        .collect();
    needed.sort();
    needed.dedup();
    let mut missing = Vec::new();
    for img in needed {
        let present = images::image_present(node.docker(), &img)
            .await
            .map_err(|e| StepError::new(node.host(), "images", e.to_string()))?;
        if !present {
            missing.push(img);
        }
    }
    Ok(missing)
}

/// `deploy --images BUNDLE` with the relay on: the nodes that miss any image get the
/// bundle through the relay (the others are left alone); each node's log says what
/// happened. Every node that did not load it is an error naming it and why.
pub async fn deliver_bundle(
    nodes: &[&Node],
    bundle: &Path,
    parallel: usize,
    opts: &RelayOptions,
) -> Result<(), Vec<StepError>> {
    let missing = fan_out(nodes, parallel, |n| async move {
        missing_images(n).await.map(|m| !m.is_empty())
    })
    .await;
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    let mut logs = BTreeMap::new();
    for (n, m) in nodes.iter().zip(missing) {
        match m {
            Ok(true) => {
                targets.push(RelayTarget {
                    host: n.host().to_string(),
                    session: n.session.clone(),
                });
                logs.insert(n.host().to_string(), n.log.clone());
            }
            Ok(false) => n.log.line("images: all present, not part of the relay"),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if targets.is_empty() {
        return Ok(());
    }
    let path: PathBuf = bundle.to_path_buf();
    let opts = opts.clone();
    let report = blocking(move || {
        relay_bundle(&targets, &path, &opts, &|h: &str, l: &str| {
            if let Some(log) = logs.get(h) {
                log.line(l);
            }
        })
    })
    .await
    .map_err(|e| vec![StepError::new("control host", "images: relay", e)])?;
    for n in &report.nodes {
        if let Some(node) = nodes.iter().find(|x| x.host() == n.host) {
            match &n.result {
                Ok(loaded) => node.log.line(&format!(
                    "images: relayed bundle ({} bytes, sha256 {}) verified and loaded in round {}: {}",
                    report.bytes,
                    report.sha256,
                    n.round,
                    loaded.join(", ")
                )),
                Err(e) => node.log.line(&format!("images: relay failed: {e}")),
            }
        }
    }
    for c in &report.cleanup_failed {
        tracing::warn!("relay clean-up: {c}");
    }
    let errors: Vec<StepError> = report
        .failed()
        .map(|n| {
            let message = n.result.clone().err().unwrap_or_default();
            let hint = load_failure_hint(&n.host, &message).unwrap_or_else(|| "check that the node answers and its Docker engine runs, then re-run (only nodes that miss images get the bundle); `--relay off` pushes from the control host to each node instead".into());
            StepError::new(&n.host, "images: relay", message).hint(hint)
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The fix for an image load that failed for a reason of the node's own: a full disk.
pub fn load_failure_hint(host: &str, message: &str) -> Option<String> {
    message.to_ascii_lowercase().contains("no space left on device").then(|| {
        format!(
            "the disk of {host} is full where its Docker engine unpacks images (its data root, \
             `docker info -f '{{{{.DockerRootDir}}}}'`, and the tmp folder in it): free space there \
             (e.g. `docker image prune` on {host}), then re-run; only nodes that miss images get \
             the bundle"
        )
    })
}
