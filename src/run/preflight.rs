//! Preflight checks on a node before anything changes: Docker version and cgroup driver,
//! swap, ports free, clock skew, disk space, bridge netfilter and overlayfs, and on GPU
//! machines the driver and the NVIDIA runtime ([`super::gpu_preflight`]). Each failure
//! explains the fix.

use super::fleet::{Node, StepError, blocking};
use crate::components::{control_plane, etcd, node_agents};
use crate::model::Cluster;
use crate::ssh::snippets::probes::NODE_FACTS;
use std::collections::BTreeSet;
use std::time::Duration;

/// What a node reported.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub swap_devices: usize,
    pub epoch: i64,
    pub free_kib: u64,
    /// `/proc/sys/net/bridge/bridge-nf-call-iptables`: `None` when bridge netfilter is
    /// not available at all (neither built in nor loaded).
    pub bridge_nf_call_iptables: Option<String>,
    /// overlayfs is listed in /proc/filesystems (built in or loaded).
    pub overlayfs: bool,
    /// The file system type of /sys/fs/cgroup: `cgroup2fs` (v2), `tmpfs` (v1).
    pub cgroup_fs: String,
    /// The nameservers of the node's /etc/resolv.conf.
    pub nameservers: Vec<String>,
    pub listening: BTreeSet<u16>,
}

/// Read [`NODE_FACTS`]' output.
pub fn parse_facts(out: &str) -> Facts {
    let mut f = Facts::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "swap" => f.swap_devices = v.trim().parse().unwrap_or(0),
            "epoch" => f.epoch = v.trim().parse().unwrap_or(0),
            "free" => f.free_kib = v.trim().parse().unwrap_or(0),
            "bridge_nf" if !v.trim().is_empty() => {
                f.bridge_nf_call_iptables = Some(v.trim().to_string())
            }
            "overlayfs" => f.overlayfs = true,
            "cgroupfs" => f.cgroup_fs = v.trim().to_string(),
            "nameserver" => f.nameservers.push(v.trim().to_string()),
            "listen" => {
                if let Some(port) = v
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                {
                    f.listening.insert(port);
                }
            }
            _ => {}
        }
    }
    f
}

/// Ports each component listens on (host network).
fn component_ports(cluster: &Cluster, name: &str) -> Vec<u16> {
    let k = &cluster.kubernetes;
    match name {
        "etcd" => vec![etcd::CLIENT_PORT, etcd::PEER_PORT],
        "kube-apiserver" => vec![k.api_port],
        "kube-controller-manager" => vec![control_plane::CONTROLLER_MANAGER_PORT],
        "kube-scheduler" => vec![control_plane::SCHEDULER_PORT],
        "kubelet" => vec![node_agents::KUBELET_PORT, node_agents::KUBELET_HEALTHZ_PORT],
        "kube-proxy" => vec![node_agents::KUBE_PROXY_HEALTHZ_PORT],
        "k8s-manage-local-lb" => vec![k.local_lb_port],
        "k8s-manage-proxy-lb" => vec![k.api_port],
        _ => vec![],
    }
}

/// Run every check on one node. Warnings are returned; errors stop the run.
pub async fn check(cluster: &Cluster, node: &Node) -> Result<Vec<String>, Vec<StepError>> {
    let host = node.host().to_string();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let session = node.session.clone();
    let out =
        blocking(move || session.run_root("preflight", NODE_FACTS, Duration::from_secs(30))).await;
    let facts = match out {
        Ok(o) => parse_facts(&o.stdout_str()),
        Err(e) => return Err(vec![StepError::from_ssh(&host, "preflight", &e)]),
    };
    node.log.line(&format!("preflight facts: {facts:?}"));

    let mut runtimes = None;
    match node.docker().info().await {
        Ok(info) => {
            runtimes = Some(super::gpu_preflight::DockerRuntimes::from_info(&info));
            let version = info.server_version.clone().unwrap_or_default();
            let major_minor: Vec<u32> = version
                .split(['.', '-', '+'])
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            if major_minor.len() == 2 && (major_minor[0], major_minor[1]) < (20, 10) {
                errors.push(
                    StepError::new(
                        &host,
                        "preflight: Docker version",
                        format!("Docker {version} is too old"),
                    )
                    .hint("install Docker 20.10 or newer (Debian: apt-get install docker.io)"),
                );
            }
            let driver = info
                .cgroup_driver
                .map(|d| format!("{d:?}").to_lowercase())
                .unwrap_or_default();
            let want = &cluster.kubernetes.cgroup_driver;
            if !driver.is_empty() && !driver.contains(want.as_str()) {
                errors.push(
                    StepError::new(&host, "preflight: cgroup driver", format!("Docker uses the {driver} cgroup driver, the kubelet is configured for {want}"))
                        .hint(format!("set `cgroup-driver: {}` under `kubernetes:`, or configure Docker with exec-opts native.cgroupdriver={want}", driver.trim_matches('"'))),
                );
            }
        }
        Err(e) => errors.push(
            StepError::new(
                &host,
                "preflight: Docker engine",
                format!("the Docker API does not answer: {e}"),
            )
            .hint("start Docker (systemctl start docker)"),
        ),
    }

    if facts.swap_devices > 0 {
        errors.push(
            StepError::new(
                &host,
                "preflight: swap",
                format!(
                    "{} swap device(s) active; the kubelet refuses to run with swap",
                    facts.swap_devices
                ),
            )
            .hint("run `swapoff -a` and remove swap entries from /etc/fstab"),
        );
    }
    let local = time::OffsetDateTime::now_utc().unix_timestamp();
    if facts.epoch != 0 && (facts.epoch - local).abs() > 30 {
        errors.push(
            StepError::new(
                &host,
                "preflight: clock",
                format!(
                    "the clock is {} s off the control host's",
                    facts.epoch - local
                ),
            )
            .hint(
                "synchronise clocks (chrony or systemd-timesyncd): certificates and etcd need it",
            ),
        );
    }
    if facts.free_kib > 0 && facts.free_kib < 2 * 1024 * 1024 {
        errors.push(
            StepError::new(
                &host,
                "preflight: disk",
                format!("only {} MiB free under /var/lib", facts.free_kib / 1024),
            )
            .hint("free at least 2 GiB under /var/lib (images, etcd data, logs)"),
        );
    }
    warnings.extend(kernel_warnings(&host, &facts));
    if let Some(e) = cgroup_v1_refused(cluster, &host, &facts) {
        errors.push(e);
    }
    if let Some(e) = dns_loop(cluster, &host, &facts) {
        errors.push(e);
    }

    // Ports: needed ports must be free unless our own container already holds them.
    let ours: BTreeSet<String> = match crate::executor::docker::observe::list_managed(
        node.docker(),
        &cluster.kubernetes.cluster_name,
    )
    .await
    {
        Ok(list) => list.into_iter().map(|c| c.name).collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut busy = Vec::new();
    for c in crate::components::component_names(node.machine.role) {
        if ours.contains(c) {
            continue;
        }
        for p in component_ports(cluster, c) {
            if facts.listening.contains(&p) {
                busy.push(format!("{p} ({c})"));
            }
        }
    }
    if !busy.is_empty() {
        errors.push(
            StepError::new(&host, "preflight: ports", format!("ports already in use by something else: {}", busy.join(", ")))
                .hint("stop what listens there (`ss -ltnp`), or run `k8s-manage clean` if it is a previous cluster"),
        );
    }
    if let Some(gpu) = cluster.gpu_of(&node.machine) {
        use super::gpu_preflight;
        match gpu_preflight::probe(node, runtimes.as_ref()).await {
            Err(e) => errors.push(e),
            Ok(p) => {
                let (findings, w) = gpu_preflight::evaluate(&host, gpu, &p, runtimes.as_ref());
                warnings.extend(w);
                if !findings.is_empty() {
                    let e = gpu_preflight::refusal(&host, gpu, &findings);
                    if cluster.kubernetes.nvidia_device_plugin {
                        errors.push(e);
                    } else {
                        warnings.push(format!(
                            "{host}: {} (not refused: `nvidia-device-plugin: false` leaves GPUs to your own operator)",
                            e.message
                        ));
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

/// Bridge netfilter and overlayfs, read from what the kernel offers (a module or built
/// in), not from the list of loaded modules.
pub fn kernel_warnings(host: &str, facts: &Facts) -> Vec<String> {
    let mut w = Vec::new();
    match facts.bridge_nf_call_iptables.as_deref() {
        None => w.push(format!(
            "{host}: bridge netfilter is not available (/proc/sys/net/bridge is missing): \
             Service traffic between pods on one node bypasses kube-proxy; run \
             `modprobe br_netfilter` and add it to /etc/modules-load.d/"
        )),
        Some("1") => {}
        Some(v) => w.push(format!(
            "{host}: net.bridge.bridge-nf-call-iptables is {v}: Service traffic between pods \
             on one node bypasses kube-proxy; run `sysctl -w net.bridge.bridge-nf-call-iptables=1` \
             and set it in /etc/sysctl.d/"
        )),
    }
    if !facts.overlayfs {
        w.push(format!(
            "{host}: overlayfs is not available (not in /proc/filesystems): Docker's overlay2 \
             storage needs it; run `modprobe overlay`"
        ));
    }
    w
}

/// The kubelet refuses cgroup v1 hosts from v1.35 on unless `failCgroupV1: false`: say
/// so before anything starts, instead of letting it crash-loop.
pub fn cgroup_v1_refused(cluster: &Cluster, host: &str, facts: &Facts) -> Option<StepError> {
    let k = &cluster.kubernetes;
    let v1 = facts.cgroup_fs == "tmpfs";
    let allowed = k.kubelet_config.get("failCgroupV1") == Some(&serde_json::Value::Bool(false));
    (v1 && k.version.minor >= 35 && !allowed).then(|| {
        StepError::new(
            host,
            "preflight: cgroup version",
            format!(
                "the host uses cgroup v1, which the kubelet of Kubernetes {} refuses to run on",
                k.version
            ),
        )
        .hint(
            "move the host to cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1), or \
             set `kubelet-config: {failCgroupV1: false}` under `kubernetes:` to run on v1 \
             while the kubelet still supports it",
        )
    })
}

/// Without `cluster-dns`, CoreDNS forwards to the nameservers of the node's
/// /etc/resolv.conf; a loopback one (systemd-resolved's 127.0.0.53, Docker's 127.0.0.11)
/// is CoreDNS itself inside its pod, a loop it detects and exits on.
pub fn dns_loop(cluster: &Cluster, host: &str, facts: &Facts) -> Option<StepError> {
    if !cluster.kubernetes.dns_upstream.is_empty() || facts.nameservers.is_empty() {
        return None;
    }
    let loopback = |s: &String| {
        s.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
    };
    facts.nameservers.iter().all(loopback).then(|| {
        StepError::new(
            host,
            "preflight: DNS",
            format!(
                "/etc/resolv.conf names only a local resolver ({}), which CoreDNS cannot \
                 forward to: inside its pod that address is CoreDNS itself",
                facts.nameservers.join(", ")
            ),
        )
        .hint(
            "set `cluster-dns:` under `kubernetes:` to your upstream DNS servers; with \
             systemd-resolved, its real upstreams are in /run/systemd/resolve/resolv.conf",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_output() {
        let f = parse_facts(
            "swap=0\nepoch=1700000000\nfree=9000000\nbridge_nf=1\noverlayfs=1\nlisten=00000000:0016\nlisten=0100007F:1A2C\n",
        );
        assert_eq!(f.swap_devices, 0);
        assert!(f.listening.contains(&22) && f.listening.contains(&6700));
        assert_eq!(f.bridge_nf_call_iptables.as_deref(), Some("1"));
        assert!(f.overlayfs);
        assert!(kernel_warnings("n1", &f).is_empty());
    }

    fn cluster(kubernetes: &str) -> Cluster {
        crate::model::test_cluster::one_master(kubernetes)
    }

    #[test]
    fn cgroup_v1_is_refused_for_a_kubelet_that_refuses_it_unless_allowed() {
        let v1 = parse_facts("cgroupfs=tmpfs\n");
        let v2 = parse_facts("cgroupfs=cgroup2fs\n");
        let new = cluster("  kubernetes-version: v1.36.1\n");
        let e = cgroup_v1_refused(&new, "m1", &v1).expect("refused");
        assert!(e.to_string().contains("cgroup v1"), "{e}");
        assert!(
            e.hint
                .as_deref()
                .unwrap_or("")
                .contains("failCgroupV1: false")
        );
        assert!(cgroup_v1_refused(&new, "m1", &v2).is_none());
        let allowed =
            cluster("  kubernetes-version: v1.36.1\n  kubelet-config:\n    failCgroupV1: false\n");
        assert!(cgroup_v1_refused(&allowed, "m1", &v1).is_none());
        let old = cluster("  kubernetes-version: v1.34.2\n");
        assert!(cgroup_v1_refused(&old, "m1", &v1).is_none());
    }

    #[test]
    fn a_loopback_resolver_without_cluster_dns_is_a_dns_loop() {
        let local = parse_facts("nameserver=127.0.0.53\n");
        let real = parse_facts("nameserver=127.0.0.53\nnameserver=10.0.0.2\n");
        let plain = cluster("  kubernetes-version: v1.36.1\n");
        let e = dns_loop(&plain, "m1", &local).expect("a loop");
        assert!(e.to_string().contains("127.0.0.53"), "{e}");
        assert!(dns_loop(&plain, "m1", &real).is_none());
        let upstream = cluster("  kubernetes-version: v1.36.1\n  cluster-dns: 10.0.0.2\n");
        assert!(dns_loop(&upstream, "m1", &local).is_none());
    }

    #[test]
    fn bridge_netfilter_built_in_is_not_a_missing_module() {
        // A kernel with bridge netfilter built in lists no br_netfilter module, but has the
        // sysctl: no warning.
        let f = parse_facts("bridge_nf=1\noverlayfs=1\n");
        assert!(kernel_warnings("n1", &f).is_empty());
        let absent = parse_facts("bridge_nf=\noverlayfs=1\n");
        let w = kernel_warnings("n1", &absent);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("modprobe br_netfilter"), "{w:?}");
        let off = parse_facts("bridge_nf=0\n");
        let w = kernel_warnings("n1", &off);
        assert!(w[0].contains("bridge-nf-call-iptables is 0"), "{w:?}");
        assert!(w[1].contains("modprobe overlay"), "{w:?}");
    }
}
