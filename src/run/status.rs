//! `status`: a read-only health report of the whole cluster. Per node: reachable over SSH,
//! and for every component of its role the container's state and whether its spec hash is
//! the one rendered now; etcd members, health and leader; the API's `/readyz` through the
//! cluster endpoint; registered nodes and their Ready condition; on GPU machines the GPUs
//! their SKU says, nvidia-smi lists and the node offers, and the driver version; the
//! soonest certificate expiry. Changes nothing: the PKI is read into memory, never written.

use super::fleet::{self, Node, StepError, fan_out};
use super::options::Reach;
use crate::components::{component_names, etcd, spec::LABEL_SPEC_HASH};
use crate::executor::docker::observe;
use crate::kubeapi::KubeClient;
use crate::model::{Cluster, Role};
use crate::pki::Pki;
use crate::pki::expiry::{CertExpiry, expiry};
use crate::render::node::{self as render_node, NodeArtifacts};
use crate::ssh::KnownHosts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Certificates expiring within this many days make the cluster unhealthy.
pub const CERT_WARN_DAYS: u32 = 30;

/// How to run.
#[derive(Clone)]
pub struct StatusOptions {
    pub reach: Reach,
    /// Bound for each network question (etcd, API).
    pub timeout: Duration,
}

/// One component container on one node.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    /// `running`, `stopped`, `restarting`, `missing` (or Docker's word: `paused`, ...).
    pub state: String,
    /// Whether its spec hash equals the one rendered now; absent without a PKI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub host: String,
    pub role: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub containers: Vec<ContainerStatus>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EtcdStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::etcd::EtcdHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiStatus {
    pub url: String,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisteredNode {
    pub name: String,
    pub ready: bool,
    /// The machine of the config with this node name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its allocatable `nvidia.com/gpu`, when it offers any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocatable_gpus: Option<String>,
}

/// The GPUs of one GPU machine.
#[derive(Debug, Clone, Serialize)]
pub struct GpuStatus {
    pub host: String,
    pub node: String,
    pub sku: String,
    pub model: String,
    /// GPUs its `machine-sku` says.
    pub sku_count: u32,
    /// GPUs nvidia-smi lists on the machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// Allocatable `nvidia.com/gpu` of its node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeNodesStatus {
    pub nodes: Vec<RegisteredNode>,
    /// Node names of the config that the API does not know.
    pub missing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    pub warn_days: u32,
    pub total: usize,
    pub expired: usize,
    pub expiring: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soonest: Option<CertExpiry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ok: bool,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub cluster: String,
    pub ok: bool,
    /// Whether a PKI exists (without one, hashes, etcd and the API cannot be checked).
    pub pki: bool,
    pub nodes: Vec<NodeStatus>,
    pub etcd: EtcdStatus,
    pub api: ApiStatus,
    pub kube_nodes: KubeNodesStatus,
    /// One entry per GPU machine (empty when there is none).
    pub gpus: Vec<GpuStatus>,
    pub certificates: CertSummary,
    /// One line per problem, for people.
    pub problems: Vec<String>,
}

/// Docker's state word, in the report's vocabulary.
fn state_word(docker: &str) -> String {
    match docker {
        "running" => "running",
        "restarting" => "restarting",
        "exited" | "created" | "dead" => "stopped",
        other => other,
    }
    .to_string()
}

async fn node_containers(
    cluster: &Cluster,
    node: &Node,
    wanted: &BTreeMap<String, String>,
    have_pki: bool,
) -> Result<Vec<ContainerStatus>, StepError> {
    let list = observe::list_managed(node.docker(), &cluster.kubernetes.cluster_name)
        .await
        .map_err(|e| StepError::new(node.host(), "containers", e.to_string()))?;
    Ok(component_names(node.machine.role)
        .into_iter()
        .map(|name| {
            let found = list.iter().find(|c| c.name == name);
            let state = found
                .map(|c| state_word(&c.state))
                .unwrap_or_else(|| "missing".into());
            let current = have_pki.then(|| {
                found.is_some_and(|c| {
                    c.spec_hash.is_some() && c.spec_hash.as_ref() == wanted.get(name)
                })
            });
            ContainerStatus {
                name: name.to_string(),
                ok: state == "running" && current != Some(false),
                state,
                current,
            }
        })
        .collect())
}

async fn etcd_status(
    cluster: &Cluster,
    rendered: &[NodeArtifacts],
    timeout: Duration,
) -> EtcdStatus {
    let cred = rendered
        .iter()
        .find(|a| a.role == Role::Master)
        .and_then(NodeArtifacts::etcd_credentials);
    let Some(cred) = cred else {
        return EtcdStatus {
            health: None,
            error: Some("no etcd client certificate: no PKI yet, run deploy first".into()),
            ok: false,
        };
    };
    let endpoints: Vec<String> = cluster.masters().map(etcd::client_url).collect();
    let h = crate::etcd::check(&endpoints, &cred, timeout).await;
    let ok = h.all_healthy() && h.leader.is_some();
    EtcdStatus {
        error: (!ok).then(|| {
            let p = h.problems();
            if p.is_empty() {
                "no agreed leader".to_string()
            } else {
                p
            }
        }),
        health: Some(h),
        ok,
    }
}

async fn api_and_nodes(
    cluster: &Cluster,
    pki: Option<&Pki>,
    timeout: Duration,
) -> (ApiStatus, KubeNodesStatus) {
    let url = cluster.api_url();
    let fail = |e: String| {
        (
            ApiStatus {
                url: url.clone(),
                ready: false,
                error: Some(e.clone()),
            },
            KubeNodesStatus {
                nodes: vec![],
                missing: cluster
                    .machines
                    .iter()
                    .map(|m| m.nodename.clone())
                    .collect(),
                error: Some(e),
                ok: false,
            },
        )
    };
    let Some(pki) = pki else {
        return fail("no admin credential: no PKI yet, run deploy first".into());
    };
    let client = match KubeClient::admin(pki, &url, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let api = match client.readyz().await {
        Ok(ready) => ApiStatus {
            url: url.clone(),
            ready,
            error: (!ready).then(|| "/readyz answered not ready".to_string()),
        },
        Err(e) => ApiStatus {
            url: url.clone(),
            ready: false,
            error: Some(e.to_string()),
        },
    };
    let kn = match client.nodes().await {
        Ok(list) => {
            let nodes: Vec<RegisteredNode> = list
                .iter()
                .map(|n| RegisteredNode {
                    name: n.name.clone(),
                    ready: n.ready,
                    host: cluster
                        .machines
                        .iter()
                        .find(|m| m.nodename == n.name)
                        .map(|m| m.hostname.clone()),
                    allocatable_gpus: super::gpu_ready::allocatable(n),
                })
                .collect();
            let missing: Vec<String> = cluster
                .machines
                .iter()
                .map(|m| m.nodename.clone())
                .filter(|n| !nodes.iter().any(|x| &x.name == n))
                .collect();
            let ok =
                missing.is_empty() && nodes.iter().filter(|n| n.host.is_some()).all(|n| n.ready);
            KubeNodesStatus {
                nodes,
                missing,
                error: None,
                ok,
            }
        }
        Err(e) => KubeNodesStatus {
            nodes: vec![],
            missing: cluster
                .machines
                .iter()
                .map(|m| m.nodename.clone())
                .collect(),
            error: Some(e.to_string()),
            ok: false,
        },
    };
    (api, kn)
}

fn cert_summary(cluster: &Cluster) -> CertSummary {
    let dir = cluster.state_dir().join("pki");
    let mut s = CertSummary {
        warn_days: CERT_WARN_DAYS,
        total: 0,
        expired: 0,
        expiring: 0,
        soonest: None,
        error: None,
        ok: false,
    };
    if !dir.join("ca.crt").is_file() {
        s.error = Some("no PKI yet: run deploy or render first".into());
        return s;
    }
    match crate::pki::certificates_in(&dir) {
        Ok(infos) => {
            let list = expiry(&infos, time::OffsetDateTime::now_utc(), CERT_WARN_DAYS);
            s.total = list.len();
            s.expired = list.iter().filter(|c| c.status == "EXPIRED").count();
            s.expiring = list.iter().filter(|c| c.status == "expiring").count();
            s.ok = s.expired + s.expiring == 0;
            s.soonest = list.into_iter().next();
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    s
}

/// Gather the report. Unreachable nodes are listed with the reason, never dropped.
pub async fn status(cluster: &Cluster, opts: &StatusOptions) -> Status {
    let pki_dir = cluster.state_dir().join("pki");
    let mut problems = Vec::new();
    // The PKI is read into memory (never written): the spec hashes rendered now need it.
    let pki = if pki_dir.join("ca.crt").is_file() {
        match Pki::load_read_only(
            &pki_dir,
            &render_node::pki_request(cluster, time::OffsetDateTime::now_utc()),
        ) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(format!("PKI: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut rendered: Vec<NodeArtifacts> = Vec::new();
    if let Some(p) = &pki {
        for m in &cluster.machines {
            match render_node::render_node(cluster, p, m) {
                Ok(a) => rendered.push(a),
                Err(e) => problems.push(format!("{}: render: {e}", m.hostname)),
            }
        }
    }
    let have_hashes = pki.is_some() && rendered.len() == cluster.machines.len();

    // Connect with empty artifacts: status only reads.
    let machines: Vec<_> = cluster
        .machines
        .iter()
        .map(|m| (m.clone(), NodeArtifacts::none(m)))
        .collect();
    let known = KnownHosts::in_config_dir(&cluster.config_dir);
    let logs = tempfile::tempdir().ok();
    let log_dir = logs
        .as_ref()
        .map(|t| t.path().to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    let reach = opts.reach.clone();
    let connected =
        fleet::blocking(move || fleet::connect_each(&machines, &known, &reach, &log_dir)).await;
    let mut reachable: Vec<Node> = Vec::new();
    let mut unreachable: BTreeMap<String, String> = BTreeMap::new();
    for (m, r) in cluster.machines.iter().zip(connected) {
        match r {
            Ok(n) => reachable.push(n),
            Err(e) => {
                unreachable.insert(m.hostname.clone(), e.to_string());
            }
        }
    }
    let wanted: BTreeMap<String, BTreeMap<String, String>> = rendered
        .iter()
        .map(|a| {
            (
                a.hostname.clone(),
                a.containers
                    .iter()
                    .filter_map(|c| Some((c.name.clone(), c.labels.get(LABEL_SPEC_HASH)?.clone())))
                    .collect(),
            )
        })
        .collect();
    let empty = BTreeMap::new();
    let refs: Vec<&Node> = reachable.iter().collect();
    let wanted_ref = &wanted;
    let empty_ref = &empty;
    let observed = fan_out(&refs, opts.reach.parallel, |n| async move {
        let w = wanted_ref.get(n.host()).unwrap_or(empty_ref);
        node_containers(cluster, n, w, have_hashes).await
    })
    .await;
    let mut by_host: BTreeMap<String, Result<Vec<ContainerStatus>, StepError>> = refs
        .iter()
        .map(|n| n.host().to_string())
        .zip(observed)
        .collect();

    let mut nodes = Vec::new();
    for m in &cluster.machines {
        let mut ns = NodeStatus {
            host: m.hostname.clone(),
            role: m.role.to_string(),
            reachable: false,
            error: None,
            containers: vec![],
            ok: false,
        };
        if let Some(e) = unreachable.get(&m.hostname) {
            ns.error = Some(e.clone());
            problems.push(format!("{}: unreachable: {e}", m.hostname));
        } else {
            ns.reachable = true;
            match by_host.remove(&m.hostname) {
                Some(Ok(list)) => {
                    for c in list.iter().filter(|c| !c.ok) {
                        let why = if c.state != "running" {
                            format!("not running ({})", c.state)
                        } else {
                            "running with an outdated spec (deploy replaces it)".to_string()
                        };
                        problems.push(format!("{}: {}: {why}", m.hostname, c.name));
                    }
                    ns.ok = list.iter().all(|c| c.ok);
                    ns.containers = list;
                }
                Some(Err(e)) => {
                    ns.error = Some(e.to_string());
                    problems.push(e.to_string());
                }
                None => {}
            }
        }
        nodes.push(ns);
    }
    let gpu_refs: Vec<&Node> = refs
        .iter()
        .copied()
        .filter(|n| cluster.gpu_of(&n.machine).is_some())
        .collect();
    let probed = fan_out(&gpu_refs, opts.reach.parallel, |n| async move {
        super::gpu_preflight::probe(n, None).await
    })
    .await;
    let mut gpu_probes: BTreeMap<String, Result<super::gpu_preflight::Probe, StepError>> = gpu_refs
        .iter()
        .map(|n| n.host().to_string())
        .zip(probed)
        .collect();
    drop(reachable);
    drop(logs);

    let etcd = etcd_status(cluster, &rendered, opts.timeout).await;
    if let Some(e) = &etcd.error {
        problems.push(format!("etcd: {e}"));
    }
    let (api, kube_nodes) = api_and_nodes(cluster, pki.as_ref(), opts.timeout).await;
    if let Some(e) = &api.error {
        problems.push(format!("API {}: {e}", api.url));
    }
    if let Some(e) = &kube_nodes.error {
        problems.push(format!("nodes: {e}"));
    } else {
        for n in &kube_nodes.missing {
            problems.push(format!("node {n}: not registered"));
        }
        for n in kube_nodes
            .nodes
            .iter()
            .filter(|n| n.host.is_some() && !n.ready)
        {
            problems.push(format!("node {}: not Ready", n.name));
        }
    }
    let gpus = gpu_status(cluster, &mut gpu_probes, &unreachable, &kube_nodes);
    for g in gpus.iter().filter(|g| !g.ok) {
        problems.push(format!(
            "{}: GPUs: {}",
            g.host,
            g.error.clone().unwrap_or_default()
        ));
    }
    let certificates = cert_summary(cluster);
    if let Some(e) = &certificates.error {
        problems.push(format!("certificates: {e}"));
    } else if !certificates.ok {
        problems.push(format!(
            "certificates: {} expired, {} expiring within {} days (see `k8s-manage cert check`)",
            certificates.expired, certificates.expiring, certificates.warn_days
        ));
    }
    let ok = problems.is_empty()
        && nodes.iter().all(|n| n.ok)
        && etcd.ok
        && api.ready
        && kube_nodes.ok
        && gpus.iter().all(|g| g.ok)
        && certificates.ok;
    Status {
        cluster: cluster.kubernetes.cluster_name.clone(),
        ok,
        pki: pki.is_some(),
        nodes,
        etcd,
        api,
        kube_nodes,
        gpus,
        certificates,
        problems,
    }
}

/// Each GPU machine: what its SKU says, what nvidia-smi lists (and the driver version),
/// what its node offers; not ok unless all three agree.
fn gpu_status(
    cluster: &Cluster,
    probes: &mut BTreeMap<String, Result<super::gpu_preflight::Probe, StepError>>,
    unreachable: &BTreeMap<String, String>,
    kube_nodes: &KubeNodesStatus,
) -> Vec<GpuStatus> {
    use super::gpu_preflight::interpret_smi;
    let mut out = Vec::new();
    for (m, g) in cluster.gpu_machines() {
        let mut s = GpuStatus {
            host: m.hostname.clone(),
            node: m.nodename.clone(),
            sku: g.sku.clone(),
            model: g.model.clone(),
            sku_count: g.count,
            listed: None,
            driver_version: None,
            allocatable: kube_nodes
                .nodes
                .iter()
                .find(|n| n.name == m.nodename)
                .and_then(|n| n.allocatable_gpus.clone()),
            error: None,
            ok: false,
        };
        let mut why = Vec::new();
        match probes.remove(&m.hostname) {
            Some(Ok(p)) => match interpret_smi(p.smi_exit, &p.smi_output) {
                Ok(rows) => {
                    s.listed = Some(rows.len());
                    let mut versions: Vec<&str> =
                        rows.iter().map(|r| r.driver_version.as_str()).collect();
                    versions.dedup();
                    s.driver_version = Some(versions.join(","));
                    if rows.len() != g.count as usize {
                        why.push(format!("nvidia-smi lists {}", rows.len()));
                    }
                }
                Err(f) => why.push(f.found),
            },
            Some(Err(e)) => why.push(e.message),
            None if unreachable.contains_key(&m.hostname) => why.push("unreachable".into()),
            None => why.push("not probed".into()),
        }
        let want = g.count.to_string();
        match &s.allocatable {
            Some(a) if *a == want => {}
            Some(a) => why.push(format!("node offers nvidia.com/gpu {a}")),
            None => why.push("node offers no nvidia.com/gpu".into()),
        }
        s.ok = why.is_empty();
        if !s.ok {
            s.error = Some(format!(
                "machine-sku {} says {} ({}), but {}",
                g.sku,
                g.count,
                g.model,
                why.join("; ")
            ));
        }
        out.push(s);
    }
    out
}

impl Status {
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let names: Vec<&str> = {
            let mut v: Vec<&str> = Vec::new();
            for n in &self.nodes {
                for c in &n.containers {
                    if !v.contains(&c.name.as_str()) {
                        v.push(&c.name);
                    }
                }
            }
            v
        };
        s.push_str(&format!("{:<16} {:<7} {:<10}", "NODE", "ROLE", "REACHABLE"));
        for n in &names {
            s.push_str(&format!(" {n}"));
        }
        s.push('\n');
        for n in &self.nodes {
            s.push_str(&format!(
                "{:<16} {:<7} {:<10}",
                n.host,
                n.role,
                if n.reachable { "yes" } else { "NO" }
            ));
            for name in &names {
                let cell = match n.containers.iter().find(|c| &c.name == name) {
                    None => "-".to_string(),
                    Some(c) => match c.current {
                        Some(false) if c.state == "running" => "outdated".into(),
                        _ => c.state.clone(),
                    },
                };
                s.push_str(&format!(" {cell:<w$}", w = name.len()));
            }
            s.push('\n');
        }
        if !self.pki {
            s.push_str("(no PKI: spec hashes, etcd and the API were not checked)\n");
        }
        match &self.etcd.health {
            Some(h) => s.push_str(&format!(
                "etcd: {}/{} members healthy, leader {}\n",
                h.healthy_count(),
                h.members.len(),
                h.leader.as_deref().unwrap_or("NONE")
            )),
            None => s.push_str("etcd: not checked\n"),
        }
        s.push_str(&format!(
            "API {}: {}\n",
            self.api.url,
            if self.api.ready { "ready" } else { "NOT ready" }
        ));
        let ready = self.kube_nodes.nodes.iter().filter(|n| n.ready).count();
        s.push_str(&format!(
            "nodes: {}/{} registered, {} Ready\n",
            self.kube_nodes.nodes.len(),
            self.kube_nodes.nodes.len() + self.kube_nodes.missing.len(),
            ready
        ));
        for g in &self.gpus {
            s.push_str(&format!(
                "GPUs {} ({} {}): {} in the SKU, nvidia-smi {}, allocatable {}, driver {}\n",
                g.host,
                g.sku,
                g.model,
                g.sku_count,
                g.listed
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                g.allocatable.as_deref().unwrap_or("-"),
                g.driver_version.as_deref().unwrap_or("-"),
            ));
        }
        match &self.certificates.soonest {
            Some(c) => s.push_str(&format!(
                "certificates: {} checked, soonest {} on {} ({} days, {})\n",
                self.certificates.total, c.name, c.not_after, c.days_left, c.status
            )),
            None => s.push_str("certificates: none\n"),
        }
        if self.ok {
            s.push_str(&format!("cluster {}: healthy\n", self.cluster));
        } else {
            s.push_str(&format!("cluster {}: NOT healthy\n", self.cluster));
            for p in &self.problems {
                s.push_str(&format!("  problem: {p}\n"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::gpu_preflight::parse_probe;

    fn registered(allocatable: Option<&str>) -> KubeNodesStatus {
        KubeNodesStatus {
            nodes: vec![RegisteredNode {
                name: "10.0.0.21".into(),
                ready: true,
                host: Some("gpu-worker-1".into()),
                allocatable_gpus: allocatable.map(str::to_string),
            }],
            missing: vec![],
            error: None,
            ok: true,
        }
    }

    #[test]
    fn gpus_per_node_agree_or_say_what_differs() {
        let c = crate::model::gpu::testing::openi_cluster();
        let smi = "name, memory.total [MiB], driver_version\nTesla K80, 11441 MiB, 470.82.01\nTesla K80, 11441 MiB, 470.82.01\nTesla K80, 11441 MiB, 470.82.01\nTesla K80, 11441 MiB, 470.82.01\nk8s-manage-smi-exit=0\n";
        let mut probes = BTreeMap::from([("gpu-worker-1".to_string(), Ok(parse_probe(smi)))]);
        let g = gpu_status(&c, &mut probes, &BTreeMap::new(), &registered(Some("4")));
        assert_eq!(g.len(), 1);
        assert!(g[0].ok, "{:?}", g[0]);
        assert_eq!(
            (g[0].listed, g[0].driver_version.as_deref()),
            (Some(4), Some("470.82.01"))
        );

        let mut probes = BTreeMap::from([(
            "gpu-worker-1".to_string(),
            Ok(parse_probe("k8s-manage-smi-exit=127\n")),
        )]);
        let g = gpu_status(&c, &mut probes, &BTreeMap::new(), &registered(None));
        assert_eq!(
            g[0].error.as_deref(),
            Some(
                "machine-sku NC24R says 4 (teslak80), but nvidia-smi is not installed; node offers no nvidia.com/gpu"
            )
        );
        let unreachable = BTreeMap::from([("gpu-worker-1".to_string(), "timeout".to_string())]);
        let g = gpu_status(
            &c,
            &mut BTreeMap::new(),
            &unreachable,
            &registered(Some("4")),
        );
        assert_eq!(
            g[0].error.as_deref(),
            Some("machine-sku NC24R says 4 (teslak80), but unreachable")
        );
    }
}
