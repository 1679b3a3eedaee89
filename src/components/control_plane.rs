//! The control-plane containers on masters: kube-apiserver, kube-controller-manager and
//! kube-scheduler, with TLS and client-certificate authentication throughout.

use super::etcd::client_url;
use super::flags::Flags;
use super::paths::{K8S_DIR, PKI_DIR, SCHEDULER_CONFIG, k8s, pki};
use super::spec::{Bind, ContainerSpec};
use crate::model::{Cluster, Machine, NetworkPlugin};

pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const SCHEDULER_PORT: u16 = 10259;

pub fn apiserver(cluster: &Cluster, m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let etcd: Vec<String> = cluster.masters().map(client_url).collect();
    let args = Flags::new()
        .set("advertise-address", m.hostip)
        .set("bind-address", "0.0.0.0")
        .set("secure-port", k.api_port)
        .set("allow-privileged", "true")
        .set("anonymous-auth", "false")
        .set("authorization-mode", "Node,RBAC")
        .set("enable-admission-plugins", "NodeRestriction")
        .set("client-ca-file", pki("ca.crt"))
        .set("tls-cert-file", pki("apiserver.crt"))
        .set("tls-private-key-file", pki("apiserver.key"))
        .set("tls-min-version", "VersionTLS12")
        .set("etcd-servers", etcd.join(","))
        .set("etcd-cafile", pki("etcd/ca.crt"))
        .set("etcd-certfile", pki("apiserver-etcd-client.crt"))
        .set("etcd-keyfile", pki("apiserver-etcd-client.key"))
        .set(
            "kubelet-client-certificate",
            pki("apiserver-kubelet-client.crt"),
        )
        .set("kubelet-client-key", pki("apiserver-kubelet-client.key"))
        .set("kubelet-certificate-authority", pki("ca.crt"))
        .set(
            "kubelet-preferred-address-types",
            "InternalIP,Hostname,ExternalIP",
        )
        .set("proxy-client-cert-file", pki("front-proxy-client.crt"))
        .set("proxy-client-key-file", pki("front-proxy-client.key"))
        .set("requestheader-client-ca-file", pki("front-proxy-ca.crt"))
        .set("requestheader-allowed-names", "front-proxy-client")
        .set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
        .set("requestheader-group-headers", "X-Remote-Group")
        .set("requestheader-username-headers", "X-Remote-User")
        .set(
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", k.cluster_domain),
        )
        .set("service-account-key-file", pki("sa.pub"))
        .set("service-account-signing-key-file", pki("sa.key"))
        .set("service-cluster-ip-range", k.service_cidr)
        .set("profiling", "false")
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "kube-apiserver",
        &k.images["kube-apiserver"],
        &["kube-apiserver"],
        args,
    );
    c.binds = vec![Bind::ro(PKI_DIR)];
    c.reads = [
        "ca.crt",
        "apiserver.crt",
        "apiserver.key",
        "etcd/ca.crt",
        "apiserver-etcd-client.crt",
        "apiserver-etcd-client.key",
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key",
        "front-proxy-ca.crt",
        "front-proxy-client.crt",
        "front-proxy-client.key",
        "sa.pub",
        "sa.key",
    ]
    .iter()
    .map(|p| pki(p))
    .collect();
    c
}

pub fn controller_manager(cluster: &Cluster, _m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let conf = k8s("controller-manager.conf");
    let flannel = k.network_plugin == NetworkPlugin::Flannel;
    let args = Flags::new()
        .set("kubeconfig", &conf)
        .set("authentication-kubeconfig", &conf)
        .set("authorization-kubeconfig", &conf)
        .set("bind-address", "127.0.0.1")
        .set("secure-port", CONTROLLER_MANAGER_PORT)
        .set("tls-cert-file", pki("controller-manager.crt"))
        .set("tls-private-key-file", pki("controller-manager.key"))
        .set("client-ca-file", pki("ca.crt"))
        .set("requestheader-client-ca-file", pki("front-proxy-ca.crt"))
        .set("cluster-name", &k.cluster_name)
        .set("cluster-signing-cert-file", pki("ca.crt"))
        .set("cluster-signing-key-file", pki("ca.key"))
        .set("root-ca-file", pki("ca.crt"))
        .set("service-account-private-key-file", pki("sa.key"))
        .set("service-cluster-ip-range", k.service_cidr)
        .set("use-service-account-credentials", "true")
        .set("controllers", "*,bootstrapsigner,tokencleaner")
        .set("leader-elect", "true")
        .set_if(flannel, "allocate-node-cidrs", "true")
        .set_if(flannel, "cluster-cidr", k.pod_cidr)
        .set_if(flannel, "node-cidr-mask-size", 24)
        .set("profiling", "false")
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "kube-controller-manager",
        &k.images["kube-controller-manager"],
        &["kube-controller-manager"],
        args,
    );
    c.binds = vec![Bind::ro(K8S_DIR)];
    c.reads = vec![
        conf,
        pki("controller-manager.crt"),
        pki("controller-manager.key"),
        pki("ca.crt"),
        pki("ca.key"),
        pki("front-proxy-ca.crt"),
        pki("sa.key"),
    ];
    c
}

pub fn scheduler(cluster: &Cluster, _m: &Machine) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let conf = k8s("scheduler.conf");
    let args = Flags::new()
        .set("config", SCHEDULER_CONFIG)
        .set("authentication-kubeconfig", &conf)
        .set("authorization-kubeconfig", &conf)
        .set("bind-address", "127.0.0.1")
        .set("secure-port", SCHEDULER_PORT)
        .set("tls-cert-file", pki("scheduler.crt"))
        .set("tls-private-key-file", pki("scheduler.key"))
        .into_args();
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        "kube-scheduler",
        &k.images["kube-scheduler"],
        &["kube-scheduler"],
        args,
    );
    c.binds = vec![Bind::ro(K8S_DIR)];
    c.reads = vec![
        SCHEDULER_CONFIG.into(),
        conf,
        pki("scheduler.crt"),
        pki("scheduler.key"),
    ];
    c
}
