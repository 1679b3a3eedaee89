//! Watching the test workload while a day-2 command runs: a loop in the client pod that
//! asks the web Service (by its ClusterIP) twice a second and logs every answer, and a
//! `kubectl get -w` stream of the web pods from which their health over time is rebuilt
//! (healthy as a PodDisruptionBudget counts it: Ready and not being deleted).
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::kubectl::Kubectl;

/// Seconds since the epoch, as the poll log in the client pod writes them (the sandbox
/// nodes are containers on this machine: one clock).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A loop asking the web Service twice a second, in the client pod or on a node; each
/// answer logged as `<unix second> ok|fail` in `/tmp/svc-poll.log` where it runs.
pub struct ServicePoller<'a> {
    /// Runs a shell script where the loop runs; its stdout.
    run: Box<dyn Fn(&str) -> String + 'a>,
}

/// The loop (a script file, so that no quoting nests), started in the background with
/// `shell` (the test image's busybox has no `nohup`; without a terminal nothing hangs it
/// up); `get` prints the last line of one answer.
fn poller_script(shell: &str, get: &str) -> String {
    format!(
        "cat > /tmp/svc-poll.sh <<'EOS'\nwhile [ -e /tmp/svc-poll.run ]; do\n  t=$(date +%s)\n  r=$({get})\n  case \"$r\" in web-*) echo \"$t ok\";; *) echo \"$t fail\";; esac >> /tmp/svc-poll.log\n  sleep 0.5\ndone\nEOS\nrm -f /tmp/svc-poll.log; touch /tmp/svc-poll.run; {shell} /tmp/svc-poll.sh </dev/null >/dev/null 2>&1 &\necho started\n"
    )
}

fn web_cluster_ip(k: &Kubectl) -> String {
    let ip = k.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(!ip.trim().is_empty(), "the web Service has no ClusterIP");
    ip.trim().to_string()
}

/// Start the loop in `pod` (the client): busybox `nc` to the Service's ClusterIP, 2 s
/// timeout.
pub fn start_service_poller<'a>(k: &'a Kubectl, pod: &str) -> ServicePoller<'a> {
    let ip = web_cluster_ip(k);
    let pod = pod.to_string();
    let run = move |script: &str| {
        let o = k.run(&["exec", &pod, "--", "sh", "-c", script]);
        o.stdout
    };
    start(
        Box::new(run),
        "sh",
        &format!(
            "printf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n' | nc -w 2 {ip} 80 | tail -n 1"
        ),
    )
}

/// Start the loop on a node's host (through `run`, e.g. SSH as root): bash's `/dev/tcp` to
/// the Service's ClusterIP (kube-proxy's rules apply to the host's own traffic too), 3 s
/// timeout. It survives drains of that node, unlike a pod.
pub fn start_node_service_poller<'a>(
    k: &Kubectl,
    run: impl Fn(&str) -> String + 'a,
) -> ServicePoller<'a> {
    let ip = web_cluster_ip(k);
    start(
        Box::new(run),
        "nohup bash",
        &format!(
            "timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/80; printf \"GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n\" >&3; tail -n 1 <&3' 2>/dev/null"
        ),
    )
}

fn start<'a>(run: Box<dyn Fn(&str) -> String + 'a>, shell: &str, get: &str) -> ServicePoller<'a> {
    let out = run(&poller_script(shell, get));
    assert!(
        out.contains("started"),
        "the Service poller did not start: {out}"
    );
    let p = ServicePoller { run };
    std::thread::sleep(std::time::Duration::from_secs(3));
    let first = p.polls();
    assert!(
        !first.is_empty() && first.iter().all(|(_, ok)| *ok),
        "the Service poller does not get answers: {first:?}"
    );
    p
}

impl ServicePoller<'_> {
    /// Every poll so far: (unix second, answered by a web pod). Empty when the place it
    /// runs cannot be reached.
    pub fn polls(&self) -> Vec<(u64, bool)> {
        (self.run)("cat /tmp/svc-poll.log")
            .lines()
            .filter_map(|l| {
                let (t, r) = l.split_once(' ')?;
                Some((t.parse().ok()?, r.trim() == "ok"))
            })
            .collect()
    }

    /// Polls within [from, to] (unix seconds): (count, failed).
    pub fn tally(&self, from: u64, to: u64) -> (usize, usize) {
        let p: Vec<(u64, bool)> = self
            .polls()
            .into_iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        (p.len(), p.iter().filter(|(_, ok)| !ok).count())
    }

    /// The longest outage within [from, to] in seconds: from the last answered poll before
    /// a run of failed ones to the next answered one; 0 when no poll failed. A stretch in
    /// which the poller itself did not run (a starved machine) is no outage.
    pub fn longest_outage(&self, from: u64, to: u64) -> u64 {
        let mut p: Vec<(u64, bool)> = self
            .polls()
            .into_iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        p.sort_by_key(|(t, _)| *t);
        let (mut last_ok, mut failing, mut longest) = (from, false, 0);
        for (t, ok) in p {
            if ok {
                if failing {
                    longest = longest.max(t - last_ok);
                    failing = false;
                }
                last_ok = t;
            } else {
                failing = true;
            }
        }
        if failing {
            longest = longest.max(to - last_ok);
        }
        longest
    }

    pub fn stop(&self) {
        (self.run)("rm -f /tmp/svc-poll.run");
    }
}

/// One web pod as the watch last showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    pub node: String,
    pub ready: bool,
    pub deleting: bool,
}

impl PodState {
    fn from_json(p: &Value) -> PodState {
        let ready = p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        PodState {
            node: p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            ready,
            deleting: p.pointer("/metadata/deletionTimestamp").is_some(),
        }
    }

    /// What a PodDisruptionBudget counts as healthy.
    pub fn healthy(&self) -> bool {
        self.ready && !self.deleting
    }
}

/// `kubectl get pods -l app=web --watch-only` running, its events collected.
pub struct PodWatch {
    child: Child,
    /// The pods when the watch started.
    pub initial: BTreeMap<String, PodState>,
    events: Arc<Mutex<Vec<(f64, Value)>>>,
    started: Instant,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Start watching the web pods (state now, then every change).
pub fn watch_web_pods(k: &Kubectl) -> PodWatch {
    let list: Value = serde_json::from_str(&k.ok(&["get", "pods", "-l", "app=web", "-o", "json"]))
        .expect("kubectl get pods -o json");
    let mut initial = BTreeMap::new();
    for p in list["items"].as_array().cloned().unwrap_or_default() {
        let name = p["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        initial.insert(name, PodState::from_json(&p));
    }
    let mut child = Command::new(&k.binary)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args([
            "get",
            "pods",
            "-l",
            "app=web",
            "--watch-only",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let stdout = child.stdout.take().expect("piped");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        let stream = serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter();
        for v in stream {
            match v {
                Ok(v) => sink
                    .lock()
                    .unwrap()
                    .push((started.elapsed().as_secs_f64(), v)),
                Err(_) => break,
            }
        }
    });
    PodWatch {
        child,
        initial,
        events,
        started,
        reader: Some(reader),
    }
}

/// The web pods' health over a watch.
#[derive(Debug, Default)]
pub struct WatchSummary {
    /// Healthy pods after each event (the initial count first).
    pub healthy: Vec<usize>,
    /// Every pod seen, in its last state (deleted ones included).
    pub last: BTreeMap<String, PodState>,
    /// Pods whose DELETED event was seen.
    pub deleted: Vec<String>,
    /// Each pod's node as first seen.
    pub first_node: BTreeMap<String, String>,
    /// One line per event: seconds since the watch started, what changed, healthy after.
    pub timeline: Vec<String>,
    /// When each event came, seconds since the watch started.
    pub times: Vec<f64>,
}

impl WatchSummary {
    pub fn min_healthy(&self) -> usize {
        self.healthy.iter().copied().min().unwrap_or(0)
    }

    /// How many times the healthy count went down (a pod evicted or failing).
    pub fn drops(&self) -> usize {
        self.healthy.windows(2).filter(|w| w[1] < w[0]).count()
    }

    /// The events up to second `until` (since the watch started) and those after it.
    pub fn split_at(&self, until: f64) -> (Vec<usize>, Vec<usize>) {
        let mut before = vec![self.healthy[0]];
        let mut after = Vec::new();
        for (i, t) in self.times.iter().enumerate() {
            if *t <= until {
                before.push(self.healthy[i + 1]);
            } else {
                after.push(self.healthy[i + 1]);
            }
        }
        (before, after)
    }
}

impl PodWatch {
    /// Stop the watch and rebuild the pods' health from its events.
    pub fn stop(mut self) -> WatchSummary {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let events = self.events.lock().unwrap().clone();
        summarize(&self.initial, &events)
    }

    /// Seconds since the watch started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replay watch events (`(seconds, {"type": ADDED|MODIFIED|DELETED, "object": pod})`) over
/// `initial`.
pub fn summarize(initial: &BTreeMap<String, PodState>, events: &[(f64, Value)]) -> WatchSummary {
    let mut now = initial.clone();
    let mut s = WatchSummary {
        last: initial.clone(),
        first_node: initial
            .iter()
            .map(|(n, p)| (n.clone(), p.node.clone()))
            .collect(),
        ..Default::default()
    };
    let count = |m: &BTreeMap<String, PodState>| m.values().filter(|p| p.healthy()).count();
    s.healthy.push(count(&now));
    for (t, e) in events {
        let obj = &e["object"];
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let state = PodState::from_json(obj);
        if !state.node.is_empty() {
            s.first_node
                .entry(name.clone())
                .or_insert(state.node.clone());
        }
        s.last.insert(name.clone(), state.clone());
        let line = format!(
            "{t:7.1}s {} {name} on {} ready={} deleting={} restarts={}",
            e["type"].as_str().unwrap_or_default(),
            state.node,
            state.ready,
            state.deleting,
            obj.pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        );
        if e["type"] == "DELETED" {
            now.remove(&name);
            s.deleted.push(name);
        } else {
            now.insert(name, state);
        }
        s.healthy.push(count(&now));
        s.times.push(*t);
        s.timeline
            .push(format!("{line}: {} healthy", s.healthy.last().unwrap()));
    }
    s
}
