//! The catalogue of certificates: which CAs and leaves a request needs, each leaf's subject,
//! SANs, key usage and issuing CA, where it is stored on the control host and where it lands
//! on a node. Pure data; no cryptography here.

use super::{PkiError, PkiHost, PkiRequest, San};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// One of the three certificate authorities (kubeadm names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaKind {
    /// `ca.crt`/`ca.key`, CN `kubernetes`: the cluster CA.
    Kubernetes,
    /// `front-proxy-ca.crt`/`.key`, CN `front-proxy-ca`: signs the aggregation-layer client.
    FrontProxy,
    /// `etcd/ca.crt`/`.key`, CN `etcd-ca`: signs everything etcd serves or accepts.
    Etcd,
}

impl CaKind {
    pub const ALL: [CaKind; 3] = [CaKind::Kubernetes, CaKind::FrontProxy, CaKind::Etcd];

    /// Path without extension, relative to the PKI directory (and to `/etc/kubernetes/pki`).
    pub fn stem(self) -> &'static str {
        match self {
            CaKind::Kubernetes => "ca",
            CaKind::FrontProxy => "front-proxy-ca",
            CaKind::Etcd => "etcd/ca",
        }
    }

    pub fn common_name(self) -> &'static str {
        match self {
            CaKind::Kubernetes => "kubernetes",
            CaKind::FrontProxy => "front-proxy-ca",
            CaKind::Etcd => "etcd-ca",
        }
    }
}

/// Extended key usage of a leaf, as kubeadm sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
    ServerAndClient,
}

impl Usage {
    pub fn server_auth(self) -> bool {
        matches!(self, Usage::Server | Usage::ServerAndClient)
    }
    pub fn client_auth(self) -> bool {
        matches!(self, Usage::Client | Usage::ServerAndClient)
    }
}

/// What one leaf certificate must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// Storage path without extension, relative to the PKI directory.
    pub stem: String,
    pub issuer: CaKind,
    pub common_name: String,
    pub organizations: Vec<String>,
    pub sans: Vec<San>,
    pub usage: Usage,
}

/// Per-host leaves, stored as `hosts/<hostname>/<name>.crt/.key`.
pub mod host_leaf {
    pub const ETCD_SERVER: &str = "etcd/server";
    pub const ETCD_PEER: &str = "etcd/peer";
    pub const CONTROLLER_MANAGER: &str = "controller-manager";
    pub const SCHEDULER: &str = "scheduler";
    pub const KUBELET: &str = "kubelet";
    pub const KUBELET_CLIENT: &str = "kubelet-client";
}

/// Cluster-wide leaves, stored at these stems.
pub mod shared_leaf {
    pub const APISERVER: &str = "apiserver";
    pub const APISERVER_KUBELET_CLIENT: &str = "apiserver-kubelet-client";
    pub const APISERVER_ETCD_CLIENT: &str = "apiserver-etcd-client";
    pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";
    pub const ETCD_HEALTHCHECK_CLIENT: &str = "etcd/healthcheck-client";
    pub const LB_HEALTHCHECK: &str = "lb-healthcheck";
    pub const ADMIN: &str = "clients/admin";
    pub const CONTROLLER_MANAGER_CLIENT: &str = "clients/kube-controller-manager";
    pub const SCHEDULER_CLIENT: &str = "clients/kube-scheduler";
    pub const KUBE_PROXY_CLIENT: &str = "clients/kube-proxy";
}

/// Stem of a per-host leaf.
pub fn host_stem(hostname: &str, leaf: &str) -> String {
    format!("hosts/{hostname}/{leaf}")
}

/// `system:node:<nodename>`, the kubelet's identity (client and serving).
pub fn node_user(nodename: &str) -> String {
    format!("system:node:{nodename}")
}

const SYSTEM_NODES: &str = "system:nodes";
const SYSTEM_MASTERS: &str = "system:masters";

/// The apiserver serving-cert SANs the contract asks for: every master IP and hostname,
/// `extra_ips` (load-balance-ip, proxy IPs), the first service IP, the `kubernetes.default...`
/// names, 127.0.0.1 and localhost. Duplicates are dropped, order is kept.
pub fn apiserver_sans(
    masters: &[PkiHost],
    extra_ips: &[IpAddr],
    first_service_ip: IpAddr,
    cluster_domain: &str,
) -> Vec<San> {
    let mut sans = Vec::new();
    for m in masters {
        sans.push(San::Ip(m.ip));
        sans.push(San::from_name(&m.hostname));
    }
    sans.extend(extra_ips.iter().map(|ip| San::Ip(*ip)));
    sans.push(San::Ip(first_service_ip));
    for name in [
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!(
            "kubernetes.default.svc.{}",
            cluster_domain.trim_end_matches('.')
        ),
    ] {
        sans.push(San::Dns(name));
    }
    sans.push(San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    sans.push(San::Dns("localhost".into()));
    dedup(sans)
}

/// Drop repeated SANs, keeping the first occurrence.
pub fn dedup(sans: Vec<San>) -> Vec<San> {
    let mut seen = HashSet::new();
    sans.into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

fn local_sans(host: &PkiHost) -> Vec<San> {
    dedup(vec![
        San::Ip(host.ip),
        San::from_name(&host.hostname),
        San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        San::Dns("localhost".into()),
    ])
}

fn leaf(
    stem: &str,
    issuer: CaKind,
    cn: &str,
    orgs: &[&str],
    sans: Vec<San>,
    usage: Usage,
) -> LeafSpec {
    LeafSpec {
        stem: stem.to_string(),
        issuer,
        common_name: cn.to_string(),
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        sans,
        usage,
    }
}

/// Every leaf the request needs: cluster-wide ones first, then per master, then per node.
pub fn leaf_specs(req: &PkiRequest) -> Vec<LeafSpec> {
    use CaKind::*;
    use Usage::*;
    use shared_leaf::*;
    let mut specs = vec![
        leaf(
            APISERVER,
            Kubernetes,
            "kube-apiserver",
            &[],
            dedup(req.apiserver_sans.clone()),
            Server,
        ),
        leaf(
            APISERVER_KUBELET_CLIENT,
            Kubernetes,
            "kube-apiserver-kubelet-client",
            &[],
            vec![],
            Client,
        ),
        leaf(
            APISERVER_ETCD_CLIENT,
            Etcd,
            "kube-apiserver-etcd-client",
            &[],
            vec![],
            Client,
        ),
        leaf(
            FRONT_PROXY_CLIENT,
            FrontProxy,
            "front-proxy-client",
            &[],
            vec![],
            Client,
        ),
        leaf(
            ETCD_HEALTHCHECK_CLIENT,
            Etcd,
            "kube-etcd-healthcheck-client",
            &[],
            vec![],
            Client,
        ),
        leaf(
            LB_HEALTHCHECK,
            Kubernetes,
            "k8s-manage:lb-healthcheck",
            &[],
            vec![],
            Client,
        ),
        leaf(
            ADMIN,
            Kubernetes,
            "kubernetes-admin",
            &[SYSTEM_MASTERS],
            vec![],
            Client,
        ),
        leaf(
            CONTROLLER_MANAGER_CLIENT,
            Kubernetes,
            "system:kube-controller-manager",
            &[],
            vec![],
            Client,
        ),
        leaf(
            SCHEDULER_CLIENT,
            Kubernetes,
            "system:kube-scheduler",
            &[],
            vec![],
            Client,
        ),
        leaf(
            KUBE_PROXY_CLIENT,
            Kubernetes,
            "system:kube-proxy",
            &[],
            vec![],
            Client,
        ),
    ];
    for m in &req.masters {
        let h = |l| host_stem(&m.hostname, l);
        let sans = local_sans(m);
        // kubeadm gives the etcd server cert client usage too (etcd's gateway dials itself).
        specs.push(leaf(
            &h(host_leaf::ETCD_SERVER),
            Etcd,
            &m.hostname,
            &[],
            sans.clone(),
            ServerAndClient,
        ));
        specs.push(leaf(
            &h(host_leaf::ETCD_PEER),
            Etcd,
            &m.hostname,
            &[],
            sans.clone(),
            ServerAndClient,
        ));
        specs.push(leaf(
            &h(host_leaf::CONTROLLER_MANAGER),
            Kubernetes,
            "kube-controller-manager",
            &[],
            sans.clone(),
            Server,
        ));
        specs.push(leaf(
            &h(host_leaf::SCHEDULER),
            Kubernetes,
            "kube-scheduler",
            &[],
            sans,
            Server,
        ));
    }
    for n in &req.nodes {
        let h = |l| host_stem(&n.hostname, l);
        let user = node_user(&n.nodename);
        let sans = dedup(vec![
            San::Ip(n.ip),
            San::from_name(&n.hostname),
            San::from_name(&n.nodename),
        ]);
        specs.push(leaf(
            &h(host_leaf::KUBELET),
            Kubernetes,
            &user,
            &[SYSTEM_NODES],
            sans,
            Server,
        ));
        specs.push(leaf(
            &h(host_leaf::KUBELET_CLIENT),
            Kubernetes,
            &user,
            &[SYSTEM_NODES],
            vec![],
            Client,
        ));
    }
    specs
}

/// Where the content of a node file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CaCert(CaKind),
    CaKey(CaKind),
    SaKey,
    SaPub,
    LeafCert(String),
    LeafKey(String),
    /// Certificate PEM followed by key PEM (haproxy's `crt` format).
    LeafBundle(String),
}

/// The PKI files a node receives (paths relative to `/etc/kubernetes/pki`) and where each
/// comes from, per the contract table. Masters get `ca.key` (CSR signing) but never the
/// etcd or front-proxy CA keys; workers get no CA key at all.
pub fn node_layout(host: &PkiHost, is_master: bool) -> Vec<(String, Source)> {
    use Source::*;
    let mut out: Vec<(String, Source)> = Vec::new();
    let pair = |out: &mut Vec<(String, Source)>, node_path: &str, stem: String| {
        out.push((format!("{node_path}.crt"), LeafCert(stem.clone())));
        out.push((format!("{node_path}.key"), LeafKey(stem)));
    };
    out.push(("ca.crt".into(), CaCert(CaKind::Kubernetes)));
    if is_master {
        use shared_leaf::*;
        out.push(("ca.key".into(), CaKey(CaKind::Kubernetes)));
        pair(&mut out, APISERVER, APISERVER.into());
        pair(
            &mut out,
            APISERVER_KUBELET_CLIENT,
            APISERVER_KUBELET_CLIENT.into(),
        );
        pair(
            &mut out,
            APISERVER_ETCD_CLIENT,
            APISERVER_ETCD_CLIENT.into(),
        );
        out.push(("front-proxy-ca.crt".into(), CaCert(CaKind::FrontProxy)));
        pair(&mut out, FRONT_PROXY_CLIENT, FRONT_PROXY_CLIENT.into());
        out.push(("sa.key".into(), SaKey));
        out.push(("sa.pub".into(), SaPub));
        out.push(("etcd/ca.crt".into(), CaCert(CaKind::Etcd)));
        for l in [host_leaf::ETCD_SERVER, host_leaf::ETCD_PEER] {
            pair(&mut out, l, host_stem(&host.hostname, l));
        }
        pair(
            &mut out,
            ETCD_HEALTHCHECK_CLIENT,
            ETCD_HEALTHCHECK_CLIENT.into(),
        );
        for l in [host_leaf::CONTROLLER_MANAGER, host_leaf::SCHEDULER] {
            pair(&mut out, l, host_stem(&host.hostname, l));
        }
    }
    pair(
        &mut out,
        host_leaf::KUBELET,
        host_stem(&host.hostname, host_leaf::KUBELET),
    );
    out.push((
        "lb-healthcheck.pem".into(),
        LeafBundle(shared_leaf::LB_HEALTHCHECK.into()),
    ));
    out
}

/// Mode of a file on a node: keys and the LB client bundle 0600, the rest 0644.
pub fn node_mode(path: &str) -> u32 {
    if path.ends_with(".key") || path.ends_with(".pem") {
        0o600
    } else {
        0o644
    }
}

/// Check the request before anything is generated or written.
pub fn validate(req: &PkiRequest) -> Result<(), PkiError> {
    if req.leaf_validity_days == 0 || req.ca_validity_days == 0 {
        return Err(PkiError::invalid(
            "certificate validity of 0 days",
            "set cert-validity-days to at least 1",
        ));
    }
    let mut hostnames = HashSet::new();
    let mut nodenames = HashSet::new();
    for n in &req.nodes {
        check_hostname(&n.hostname)?;
        if n.nodename.is_empty()
            || !n.nodename.is_ascii()
            || n.nodename.contains(char::is_whitespace)
        {
            return Err(PkiError::invalid(
                format!(
                    "node {} has an empty or non-ASCII nodename {:?}",
                    n.hostname, n.nodename
                ),
                "give every node a DNS-style nodename",
            ));
        }
        if !hostnames.insert(n.hostname.as_str()) {
            return Err(PkiError::invalid(
                format!("hostname {} appears twice in the node list", n.hostname),
                "make every hostname unique",
            ));
        }
        if !nodenames.insert(n.nodename.as_str()) {
            return Err(PkiError::invalid(
                format!("nodename {} appears twice in the node list", n.nodename),
                "make every nodename unique",
            ));
        }
    }
    let mut masters = HashSet::new();
    for m in &req.masters {
        if !masters.insert(m.hostname.as_str()) {
            return Err(PkiError::invalid(
                format!("master {} appears twice", m.hostname),
                "list every master once",
            ));
        }
        if !req.nodes.iter().any(|n| n == m) {
            return Err(PkiError::invalid(
                format!(
                    "master {} ({}, {}) is not in the node list with the same nodename and IP",
                    m.hostname, m.nodename, m.ip
                ),
                "pass every node, masters included, in `nodes`",
            ));
        }
    }
    Ok(())
}

/// Hostnames become directory names under `hosts/`, so they must be one safe path component.
fn check_hostname(hostname: &str) -> Result<(), PkiError> {
    let ok = !hostname.is_empty()
        && hostname != "."
        && hostname != ".."
        && hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::invalid(
            format!("hostname {hostname:?} is not a plain DNS name"),
            "use only letters, digits, '.', '-', '_' (or an IP address) as hostname",
        ))
    }
}
