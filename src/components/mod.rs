//! The component containers each node runs, as specs (RKE1 model: named containers,
//! host network, replaced only when their spec hash changes).

pub mod control_plane;
pub mod etcd;
pub mod files;
pub mod flags;
pub mod load_balancers;
pub mod node_agents;
pub mod paths;
pub mod spec;

use crate::model::{Cluster, Machine, Role};
use spec::ContainerSpec;

/// Every container of a node, in start order.
pub fn node_containers(
    cluster: &Cluster,
    m: &Machine,
    boot: &etcd::EtcdBootstrap,
) -> Vec<ContainerSpec> {
    let mut v = Vec::new();
    if m.role == Role::Master {
        v.push(etcd::container(cluster, m, boot));
        v.push(control_plane::apiserver(cluster, m));
    }
    v.push(load_balancers::local_lb(cluster, m));
    if m.role == Role::Proxy {
        v.push(load_balancers::proxy_lb(cluster, m));
    }
    if m.role == Role::Master {
        v.push(control_plane::controller_manager(cluster, m));
        v.push(control_plane::scheduler(cluster, m));
    }
    v.push(node_agents::cri_dockerd(cluster, m));
    v.push(node_agents::kubelet(cluster, m));
    v.push(node_agents::kube_proxy(cluster, m));
    for c in &mut v {
        if c.privileged {
            c.cap_drop = cluster.kubernetes.unavailable_capabilities.clone();
        }
        if let Some(extra) = cluster.kubernetes.extra_args.get(&c.name) {
            for (k, val) in extra {
                // an extra flag replaces ours of the same name
                c.args.retain(|a| !a.starts_with(&format!("--{k}=")));
                c.args.push(format!("--{k}={val}"));
            }
        }
    }
    v
}

/// The component names (for `component` in container labels) a role runs.
pub fn component_names(role: Role) -> Vec<&'static str> {
    let mut v = Vec::new();
    if role == Role::Master {
        v.extend(["etcd", "kube-apiserver"]);
    }
    v.push(load_balancers::LOCAL_LB);
    if role == Role::Proxy {
        v.push(load_balancers::PROXY_LB);
    }
    if role == Role::Master {
        v.extend(["kube-controller-manager", "kube-scheduler"]);
    }
    v.extend(["cri-dockerd", "kubelet", "kube-proxy"]);
    v
}
