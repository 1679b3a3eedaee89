//! Which leaf certificates `cert rotate --service S` reissues, and whether the certificates
//! being replaced have already expired (then the cluster cannot be reached with them, so
//! the restart cannot be rolling). Pure; the reissuing itself is [`super::Pki::rotate`].

use super::CertInfo;
use super::catalog::{host_leaf, shared_leaf};
use time::OffsetDateTime;

/// The services whose certificates can be rotated on their own.
pub const SERVICES: [&str; 7] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "load-balancer",
];

/// Whether the leaf stored at `stem` (`apiserver`, `hosts/m1/etcd/server`, ...) belongs to
/// `service`: the certificates it serves with and the client certificates it presents.
/// `None` when the service name is unknown.
pub fn leaf_of_service(stem: &str, service: &str) -> Option<bool> {
    use shared_leaf::*;
    let host_leaf = stem
        .strip_prefix("hosts/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, leaf)| leaf);
    let host_is = |names: &[&str]| host_leaf.is_some_and(|l| names.contains(&l));
    let shared_is = |names: &[&str]| names.contains(&stem);
    Some(match service {
        "etcd" => {
            host_is(&[host_leaf::ETCD_SERVER, host_leaf::ETCD_PEER])
                || shared_is(&[ETCD_HEALTHCHECK_CLIENT])
        }
        "kube-apiserver" => shared_is(&[
            APISERVER,
            APISERVER_KUBELET_CLIENT,
            APISERVER_ETCD_CLIENT,
            FRONT_PROXY_CLIENT,
            ADMIN,
        ]),
        "kube-controller-manager" => {
            host_is(&[host_leaf::CONTROLLER_MANAGER]) || shared_is(&[CONTROLLER_MANAGER_CLIENT])
        }
        "kube-scheduler" => host_is(&[host_leaf::SCHEDULER]) || shared_is(&[SCHEDULER_CLIENT]),
        "kubelet" => host_is(&[host_leaf::KUBELET, host_leaf::KUBELET_CLIENT]),
        "kube-proxy" => shared_is(&[KUBE_PROXY_CLIENT]),
        "load-balancer" => shared_is(&[LB_HEALTHCHECK]),
        _ => return None,
    })
}

/// Check `--service` names: the unknown ones, for an error that lists the valid names.
pub fn unknown_services(services: &[String]) -> Vec<String> {
    services
        .iter()
        .filter(|s| !SERVICES.contains(&s.as_str()))
        .cloned()
        .collect()
}

/// Whether a leaf is selected: every leaf when `services` is empty, else the leaves of
/// any of them.
pub fn selected(stem: &str, services: &[String]) -> bool {
    services.is_empty()
        || services
            .iter()
            .any(|s| leaf_of_service(stem, s).unwrap_or(false))
}

/// The certificates among `certs` that have expired at `now` (CAs included), by name.
pub fn expired(certs: &[CertInfo], now: OffsetDateTime) -> Vec<String> {
    certs
        .iter()
        .filter(|c| c.not_after <= now)
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_belongs_to_exactly_one_service() {
        let stems = [
            "apiserver",
            "apiserver-kubelet-client",
            "apiserver-etcd-client",
            "front-proxy-client",
            "etcd/healthcheck-client",
            "lb-healthcheck",
            "clients/admin",
            "clients/kube-controller-manager",
            "clients/kube-scheduler",
            "clients/kube-proxy",
            "hosts/m1/etcd/server",
            "hosts/m1/etcd/peer",
            "hosts/m1/controller-manager",
            "hosts/m1/scheduler",
            "hosts/w1/kubelet",
            "hosts/w1/kubelet-client",
        ];
        for stem in stems {
            let owners: Vec<&str> = SERVICES
                .iter()
                .copied()
                .filter(|s| leaf_of_service(stem, s) == Some(true))
                .collect();
            assert_eq!(owners.len(), 1, "{stem}: {owners:?}");
        }
        assert_eq!(leaf_of_service("hosts/m1/etcd/server", "etcd"), Some(true));
        assert_eq!(
            leaf_of_service("hosts/w1/kubelet", "kube-proxy"),
            Some(false)
        );
        assert_eq!(leaf_of_service("apiserver", "nginx"), None);
    }

    #[test]
    fn selection_and_unknown_names() {
        assert!(selected("clients/kube-proxy", &[]));
        let proxy = vec!["kube-proxy".to_string()];
        assert!(selected("clients/kube-proxy", &proxy));
        assert!(!selected("apiserver", &proxy));
        assert_eq!(
            unknown_services(&["etcd".into(), "kubeproxy".into()]),
            vec!["kubeproxy".to_string()]
        );
    }
}
