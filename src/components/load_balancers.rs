//! API load balancers (haproxy): the local one on every node, listening on
//! 127.0.0.1:`local-lb-port`, and the proxy-node one on `api-servers-port`. Both
//! health-check every apiserver's `/readyz` over TLS with a client certificate.

use super::paths::{LOCAL_LB_CONFIG, LOCAL_LB_DIR, PROXY_LB_CONFIG, PROXY_LB_DIR, pki};
use super::spec::{Bind, ContainerSpec};
use crate::model::{Cluster, Machine};

pub const LOCAL_LB: &str = "k8s-manage-local-lb";
pub const PROXY_LB: &str = "k8s-manage-proxy-lb";

fn haproxy(cluster: &Cluster, name: &str, dir: &str, config: &str) -> ContainerSpec {
    let k = &cluster.kubernetes;
    let args = vec!["-W".into(), "-db".into(), "-f".into(), config.into()];
    let mut c = ContainerSpec::new(
        &k.cluster_name,
        name,
        &k.images["haproxy"],
        &["haproxy"],
        args,
    );
    c.binds = vec![
        Bind::ro(dir),
        Bind::ro(&pki("ca.crt")),
        Bind::ro(&pki("lb-healthcheck.pem")),
    ];
    c.reads = vec![config.into(), pki("ca.crt"), pki("lb-healthcheck.pem")];
    c
}

pub fn local_lb(cluster: &Cluster, _m: &Machine) -> ContainerSpec {
    haproxy(cluster, LOCAL_LB, LOCAL_LB_DIR, LOCAL_LB_CONFIG)
}

pub fn proxy_lb(cluster: &Cluster, _m: &Machine) -> ContainerSpec {
    haproxy(cluster, PROXY_LB, PROXY_LB_DIR, PROXY_LB_CONFIG)
}
