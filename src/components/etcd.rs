//! The `etcd` container on masters: TLS with client-certificate auth on the client and
//! peer ports.

use super::flags::Flags;
use super::paths::{host_port, pki};
use super::spec::{Bind, ContainerSpec};
use crate::model::{Cluster, Machine};

pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;

/// How a member starts: with the cluster it founds, or joining an existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdBootstrap {
    pub state: BootstrapState,
    /// `name=peer-url` for every member of the initial cluster.
    pub members: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapState {
    New,
    Existing,
}

pub fn peer_url(m: &Machine) -> String {
    format!("https://{}", host_port(m.hostip, PEER_PORT))
}

pub fn client_url(m: &Machine) -> String {
    format!("https://{}", host_port(m.hostip, CLIENT_PORT))
}

/// A new cluster of every master (what `deploy` founds).
pub fn new_cluster(cluster: &Cluster) -> EtcdBootstrap {
    EtcdBootstrap {
        state: BootstrapState::New,
        members: cluster
            .masters()
            .map(|m| (m.etcdid.clone().unwrap_or_default(), peer_url(m)))
            .collect(),
    }
}

pub fn container(cluster: &Cluster, m: &Machine, boot: &EtcdBootstrap) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let name = m.etcdid.clone().unwrap_or_else(|| m.hostname.clone());
    let initial: Vec<String> = boot
        .members
        .iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect();
    let args = Flags::new()
        .set("name", &name)
        .set("data-dir", &k.etcd_data_path)
        .set(
            "listen-client-urls",
            format!("{},https://127.0.0.1:{CLIENT_PORT}", client_url(m)),
        )
        .set("advertise-client-urls", client_url(m))
        .set("listen-peer-urls", peer_url(m))
        .set("initial-advertise-peer-urls", peer_url(m))
        .set("initial-cluster", initial.join(","))
        .set(
            "initial-cluster-state",
            if boot.state == BootstrapState::New {
                "new"
            } else {
                "existing"
            },
        )
        .set("initial-cluster-token", format!("{}-etcd", k.cluster_name))
        .set("client-cert-auth", "true")
        .set("trusted-ca-file", pki("etcd/ca.crt"))
        .set("cert-file", pki("etcd/server.crt"))
        .set("key-file", pki("etcd/server.key"))
        .set("peer-client-cert-auth", "true")
        .set("peer-trusted-ca-file", pki("etcd/ca.crt"))
        .set("peer-cert-file", pki("etcd/peer.crt"))
        .set("peer-key-file", pki("etcd/peer.key"))
        .set("snapshot-count", 10000)
        .into_args();
    let image = &k.images["etcd"];
    let mut c = ContainerSpec::new(&k.cluster_name, "etcd", image, &["etcd"], args);
    c.binds = vec![Bind::rw(&k.etcd_data_path), Bind::ro(&pki("etcd"))];
    c.reads = [
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/server.key",
        "etcd/peer.crt",
        "etcd/peer.key",
    ]
    .iter()
    .map(|p| pki(p))
    .collect();
    c.unhashed_flags = vec![
        "initial-cluster".into(),
        "initial-cluster-state".into(),
        "initial-cluster-token".into(),
    ];
    c
}
