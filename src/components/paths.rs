//! Where things live on a node (see docs/ARCHITECTURE.md, "Files on a node").

pub const K8S_DIR: &str = "/etc/kubernetes";
pub const PKI_DIR: &str = "/etc/kubernetes/pki";
pub const KUBELET_CONFIG: &str = "/etc/kubernetes/kubelet-config.yaml";
pub const SCHEDULER_CONFIG: &str = "/etc/kubernetes/scheduler-config.yaml";
pub const LOCAL_LB_DIR: &str = "/etc/kubernetes/local-lb";
pub const LOCAL_LB_CONFIG: &str = "/etc/kubernetes/local-lb/haproxy.cfg";
pub const PROXY_LB_DIR: &str = "/etc/kubernetes/proxy-lb";
pub const PROXY_LB_CONFIG: &str = "/etc/kubernetes/proxy-lb/haproxy.cfg";
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
pub const CRI_DOCKERD_DIR: &str = "/var/lib/cri-dockerd";
pub const CRI_DOCKERD_SOCKET: &str = "unix:///var/run/cri-dockerd.sock";
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";
/// The CNI plugins the node-agent image carries (bridge, host-local, loopback, portmap:
/// what the pod network delegates to), at Debian's `containernetworking-plugins` path.
/// cri-dockerd looks in [`CNI_BIN_DIR`] (the host's, where the pod network installs its
/// own plugin) first, then here.
pub const NODE_AGENT_CNI_DIR: &str = "/usr/lib/cni";
pub const CNI_STATE_DIR: &str = "/var/lib/cni";
/// flannel's runtime state on a node (`subnet.env`: the node's pod subnet).
pub const FLANNEL_RUN_DIR: &str = "/run/flannel";

/// The network links the pod network makes on a node, with their kind: flannel's VXLAN
/// device and the bridge its CNI plugin puts the pods on. `clean` and `remove` delete
/// them (only a link of that name and that kind): a node that joins again gets a new pod
/// subnet, and a bridge still holding the old one makes every pod there fail ("cni0
/// already has an IP address different from ...").
pub const POD_NETWORK_LINKS: &[(&str, &str)] = &[("flannel.1", "vxlan"), ("cni0", "bridge")];

/// `/etc/kubernetes/pki/<rel>`.
pub fn pki(rel: &str) -> String {
    format!("{PKI_DIR}/{rel}")
}

/// `/etc/kubernetes/<name>`.
pub fn k8s(name: &str) -> String {
    format!("{K8S_DIR}/{name}")
}

/// Directories the tool creates on nodes and `clean` removes.
pub const OWNED_DIRS: &[&str] = &[
    K8S_DIR,
    KUBELET_DIR,
    CRI_DOCKERD_DIR,
    CNI_CONF_DIR,
    CNI_STATE_DIR,
    FLANNEL_RUN_DIR,
];

/// The kubelet's pod logs and their links, which it leaves behind on a node.
pub const POD_LOG_DIRS: &[&str] = &["/var/log/pods", "/var/log/containers"];

/// Every directory `clean` and `remove` delete on a node (what `plan` lists and what
/// runs): the ones the tool owns, the pod logs, and on a master the etcd data dir.
pub fn removed_dirs(master: bool, etcd_data_path: &str) -> Vec<String> {
    let mut d: Vec<String> = OWNED_DIRS
        .iter()
        .chain(POD_LOG_DIRS)
        .map(|s| s.to_string())
        .collect();
    if master {
        d.push(etcd_data_path.to_string());
    }
    d
}

/// `host:port` with brackets for IPv6.
pub fn host_port(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}
