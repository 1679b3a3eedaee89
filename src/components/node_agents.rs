//! The containers on every node: cri-dockerd and kubelet (both from the kubelet image),
//! and kube-proxy.

use super::flags::Flags;
use super::paths::*;
use super::spec::{Bind, ContainerSpec};
use crate::model::{Cluster, Machine};

pub const KUBELET_PORT: u16 = 10250;
pub const KUBELET_HEALTHZ_PORT: u16 = 10248;
pub const KUBE_PROXY_HEALTHZ_PORT: u16 = 10256;

pub fn cri_dockerd(cluster: &Cluster, _m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let args = Flags::new()
        .set("container-runtime-endpoint", CRI_DOCKERD_SOCKET)
        .set("docker-endpoint", "unix:///var/run/docker.sock")
        .set("network-plugin", "cni")
        .set("cni-bin-dir", format!("{CNI_BIN_DIR},{NODE_AGENT_CNI_DIR}"))
        .set("cni-conf-dir", CNI_CONF_DIR)
        .set("cni-cache-dir", format!("{CNI_STATE_DIR}/cache"))
        .set("pod-infra-container-image", &k.images["pause"])
        .set("cri-dockerd-root-directory", CRI_DOCKERD_DIR)
        .set("streaming-bind-addr", "127.0.0.1:10010")
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "cri-dockerd",
        &k.images["kubelet"],
        &["cri-dockerd"],
        args,
    );
    c.privileged = true;
    c.pid_mode = Some("host".into());
    c.binds = vec![
        // /var/run for the Docker socket; /run too, where the pod network keeps its state
        // (flannel's subnet.env), which the CNI plugins cri-dockerd runs read.
        Bind::rw("/var/run"),
        Bind::rw("/run"),
        Bind::rw("/var/lib/docker").with_propagation("rslave"),
        Bind::rw(CRI_DOCKERD_DIR),
        Bind::rw(KUBELET_DIR).with_propagation("rshared"),
        // cri-dockerd links each container's log file into the kubelet's pod log folder.
        Bind::rw("/var/log/pods"),
        Bind::ro(CNI_CONF_DIR),
        Bind::ro(CNI_BIN_DIR),
        Bind::rw(CNI_STATE_DIR),
    ];
    c
}

pub fn kubelet(cluster: &Cluster, m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let args = Flags::new()
        .set("config", KUBELET_CONFIG)
        .set("kubeconfig", k8s("kubelet.conf"))
        .set("hostname-override", &m.nodename)
        .set("node-ip", m.hostip)
        .set("root-dir", KUBELET_DIR)
        .set("v", 2)
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "kubelet",
        &k.images["kubelet"],
        &["kubelet"],
        args,
    );
    c.privileged = true;
    c.pid_mode = Some("host".into());
    c.binds = vec![
        Bind::ro(K8S_DIR),
        Bind::rw(KUBELET_DIR).with_propagation("rshared"),
        Bind::rw("/var/run"),
        Bind::rw("/run"),
        Bind::rw("/var/lib/docker").with_propagation("rslave"),
        Bind::rw(CRI_DOCKERD_DIR),
        Bind::rw("/sys"),
        Bind::rw("/dev"),
        Bind::ro("/lib/modules"),
        Bind::rw("/var/log/pods"),
        Bind::rw("/var/log/containers"),
        Bind::ro(CNI_CONF_DIR),
        Bind::ro(CNI_BIN_DIR),
        Bind::rw(CNI_STATE_DIR),
    ];
    c.reads = vec![
        KUBELET_CONFIG.into(),
        k8s("kubelet.conf"),
        pki("ca.crt"),
        pki("kubelet.crt"),
        pki("kubelet.key"),
    ];
    c
}

pub fn kube_proxy(cluster: &Cluster, m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let args = Flags::new()
        .set("kubeconfig", k8s("kube-proxy.conf"))
        .set("hostname-override", &m.nodename)
        .set("cluster-cidr", k.pod_cidr)
        .set("proxy-mode", "iptables")
        .set(
            "healthz-bind-address",
            format!("0.0.0.0:{KUBE_PROXY_HEALTHZ_PORT}"),
        )
        .set("metrics-bind-address", "127.0.0.1:10249")
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "kube-proxy",
        &k.images["kube-proxy"],
        &["kube-proxy"],
        args,
    );
    c.privileged = true;
    c.binds = vec![
        Bind::ro(K8S_DIR),
        Bind::ro("/lib/modules"),
        Bind::rw("/run"),
    ];
    c.reads = vec![k8s("kube-proxy.conf")];
    c
}
