//! Building the validated model from a config dir (and node-list files): per-file
//! interpretation plus the checks that span files and machines.

use super::build_machines::{build_machine, check_duplicates};
use super::network::overlaps;
use super::node_list_match;
use super::{Cluster, KubernetesSettings, Machine, Role, build_kubernetes};
use crate::config::node_list::{self, NodeList};
use crate::config::raw::{RawConfig, RawMachine};
use crate::config::{self, CLUSTER_FILE};
use crate::diag::{At, Diagnostic, Diagnostics};
use ipnet::Ipv4Net;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// A loaded cluster and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub cluster: Cluster,
    pub warnings: Diagnostics,
}

/// Read and validate a config dir. Errors (with every problem listed) when anything is wrong.
pub fn load(dir: &Path) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let raw = config::read_dir(dir, &mut diags);
    let cluster = build(&raw, &mut diags);
    match cluster {
        Some(c) if !diags.has_errors() => Ok(Loaded {
            cluster: c,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

/// Build the model from raw config; every problem goes to `diags`.
pub fn build(raw: &RawConfig, diags: &mut Diagnostics) -> Option<Cluster> {
    let mut kdiags = Diagnostics::default();
    let kubernetes = build_kubernetes::build(&raw.kubernetes, &mut kdiags);
    if raw.kubernetes_read {
        diags.extend(kdiags);
    }
    let cluster_file: Arc<str> = Arc::from(raw.dir.join(CLUSTER_FILE).display().to_string());
    let file_at = At::file(&cluster_file);

    if let Some(roles) = &raw.roles {
        for l in &roles.roles {
            if Role::parse(&l.value).is_none() {
                diags.push(
                    Diagnostic::warning(l.at.clone(), format!("role `{}` is defined but k8s-manage knows only master, worker and proxy", l.value))
                        .fix("machines must use `k8s-role: master`, `worker` or `proxy`"),
                );
            }
        }
    }

    let raws: Vec<&RawMachine> = raw.cluster.machines.iter().collect();
    super::build_machines::check_defaults(&raw.cluster.defaults, &raw.dir, &file_at, diags);
    check_duplicates(&raws, diags);
    let machines: Vec<Machine> = raws
        .iter()
        .filter_map(|m| build_machine(m, &raw.cluster.defaults, &raw.dir, &file_at, diags))
        .collect();

    if raw.cluster_read && raw.cluster.machines.is_empty() {
        diags.push(
            Diagnostic::error(file_at.clone(), "`machine-list` holds no machine")
                .fix("add at least one machine with `k8s-role: master`"),
        );
    }
    check_cluster(
        &raw.cluster.machines,
        &machines,
        &kubernetes,
        &raw.kubernetes,
        &file_at,
        diags,
    );

    let gpu_skus = super::gpu::build(
        &raw.cluster.gpu_skus,
        &raw.cluster.sku_names,
        &raw.cluster.machines,
        diags,
    );

    Some(Cluster {
        config_dir: raw.dir.clone(),
        machines,
        kubernetes,
        gpu_skus,
    })
}

fn check_cluster(
    raws: &[RawMachine],
    machines: &[Machine],
    k: &KubernetesSettings,
    rk: &crate::config::raw::RawKubernetes,
    file_at: &At,
    diags: &mut Diagnostics,
) {
    let masters = raws
        .iter()
        .filter(|m| m.k8s_role.as_ref().is_some_and(|r| r.value == "master"))
        .count();
    if !raws.is_empty() && masters == 0 {
        diags.push(
            Diagnostic::error(file_at.clone(), "no machine has `k8s-role: master`")
                .fix("make one machine (or three, for high availability) `k8s-role: master` with an `etcdid`"),
        );
    } else if masters > 0 && masters % 2 == 0 {
        diags.push(
            Diagnostic::warning(file_at.clone(), format!("{masters} masters run {masters} etcd members: an even count tolerates no more failures than {}", masters - 1))
                .fix(format!("use an odd number of masters ({} or {})", masters - 1, masters + 1)),
        );
    }

    let dashboards: Vec<&RawMachine> = raws.iter().filter(|m| m.dashboard.is_some()).collect();
    if dashboards.len() > 1 {
        for extra in &dashboards[1..] {
            let at = extra
                .dashboard
                .as_ref()
                .map(|l| l.at.clone())
                .unwrap_or_else(|| file_at.clone());
            let first = dashboards[0].dashboard.as_ref().map(|l| l.at.clone());
            let mut d = Diagnostic::error(
                at,
                "`dashboard` is set on more than one machine; the dashboard runs on one node",
            )
            .fix("keep `dashboard: \"true\"` on one machine only");
            if let Some(f) = first {
                d = d.related(f);
            }
            diags.push(d);
        }
    }

    let svc_at = rk
        .scalars
        .get("service-cluster-ip-range")
        .map(|l| l.at.clone())
        .unwrap_or_else(|| file_at.clone());
    let pod_at = rk
        .scalars
        .get("pod-cluster-ip-range")
        .map(|l| l.at.clone())
        .unwrap_or_else(|| file_at.clone());
    if overlaps(&k.service_cidr, &k.pod_cidr) {
        diags.push(
            Diagnostic::error(svc_at.clone(), format!("the service range {} overlaps the pod range {}", k.service_cidr, k.pod_cidr))
                .related(pod_at.clone())
                .fix("choose ranges that do not overlap, e.g. 10.96.0.0/12 for services and 10.244.0.0/16 for pods"),
        );
    }
    let in_range = |ip: IpAddr, net: &Ipv4Net| matches!(ip, IpAddr::V4(v4) if net.contains(&v4));
    for m in machines {
        let at = m.hostip_at.clone().unwrap_or_else(|| file_at.clone());
        for (net, name) in [
            (&k.service_cidr, "service-cluster-ip-range"),
            (&k.pod_cidr, "pod-cluster-ip-range"),
        ] {
            if in_range(m.hostip, net) {
                diags.push(
                    Diagnostic::error(
                        at.clone(),
                        format!("machine address {} lies inside `{name}` {net}", m.hostip),
                    )
                    .fix(format!("move `{name}` to a range no machine uses")),
                );
            }
        }
    }
    if let Some(lb) = k.load_balance_ip {
        for (net, name) in [
            (&k.service_cidr, "service-cluster-ip-range"),
            (&k.pod_cidr, "pod-cluster-ip-range"),
        ] {
            if in_range(lb, net) {
                let at = rk
                    .scalars
                    .get("load-balance-ip")
                    .map(|l| l.at.clone())
                    .unwrap_or_else(|| file_at.clone());
                diags.push(
                    Diagnostic::error(
                        at,
                        format!("`load-balance-ip` {lb} lies inside `{name}` {net}"),
                    )
                    .fix("use the address of your load balancer, proxy node or single master"),
                );
            }
        }
    }
}

/// What a node list is used for, which decides how it is checked against the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeListUse {
    /// Machines that join: they must not exist yet; an entry without `k8s-role` is a worker.
    Add,
    /// Machines of the cluster (remove, repair): each entry names one by hostname,
    /// nodename or hostip; the keys it gives must agree with it.
    Existing,
    /// As `Existing`, and each machine must be a master (etcdfix).
    EtcdMember,
}

/// Read a node list. `Add`: build its machines, merged with the cluster's defaults.
/// `Existing` / `EtcdMember`: the cluster's own machines that its entries name.
pub fn load_node_list(
    path: &Path,
    cluster_dir: &Path,
    usage: NodeListUse,
    cluster: &Cluster,
) -> Result<(Vec<Machine>, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let raw_cfg = config::read_dir(cluster_dir, &mut Diagnostics::default());
    let Some(mut list) = node_list::read(path, &mut diags) else {
        return Err(diags);
    };
    let out = match usage {
        NodeListUse::Add => {
            node_list_match::default_roles_for_add(&mut list, &mut diags);
            load_new_machines(&list, &raw_cfg, cluster_dir, cluster, &mut diags)
        }
        NodeListUse::Existing | NodeListUse::EtcdMember => {
            let refs: Vec<&RawMachine> = list.machines.iter().collect();
            check_duplicates(&refs, &mut diags);
            node_list_match::match_existing(
                &list,
                &raw_cfg,
                cluster,
                usage == NodeListUse::EtcdMember,
                &mut diags,
            )
        }
    };
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((out, diags))
    }
}

/// The machines of an `add` node list: built like the cluster's (defaults merged), none
/// of them already in the cluster, no etcdid taken.
fn load_new_machines(
    list: &NodeList,
    raw_cfg: &RawConfig,
    cluster_dir: &Path,
    cluster: &Cluster,
    diags: &mut Diagnostics,
) -> Vec<Machine> {
    let refs: Vec<&RawMachine> = list.machines.iter().collect();
    check_duplicates(&refs, diags);
    let file_at = list.file.at_file();
    let mut out = Vec::new();
    for raw in &list.machines {
        let Some(m) = build_machine(raw, &raw_cfg.cluster.defaults, cluster_dir, &file_at, diags)
        else {
            continue;
        };
        let at = raw.at.clone().unwrap_or_else(|| file_at.clone());
        let existing = cluster
            .machines
            .iter()
            .find(|c| c.hostip == m.hostip || c.nodename == m.nodename || c.hostname == m.hostname);
        match existing {
            Some(c) => diags.push(
                Diagnostic::error(at, format!("{} ({}) is already in the cluster as {} ({})", m.hostname, m.hostip, c.hostname, c.hostip))
                    .fix("remove it from the node list, or use `repair` for a machine that is already a member"),
            ),
            None => out.push(m),
        }
    }
    for m in &out {
        if let Some(dup) = cluster
            .machines
            .iter()
            .find(|c| c.etcdid.is_some() && c.etcdid == m.etcdid)
        {
            let at = m.at.clone().unwrap_or_else(|| file_at.clone());
            diags.push(
                Diagnostic::error(
                    at,
                    format!(
                        "etcdid `{}` is already used by {}",
                        m.etcdid.as_deref().unwrap_or(""),
                        dup.hostname
                    ),
                )
                .fix("give the new master its own etcdid"),
            );
        }
    }
    out
}
