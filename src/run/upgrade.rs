//! `upgrade`: the version skew pre-check. The running version comes from the last
//! successful run's `DIR/.k8s-manage/state.json`, else from the image tag of a running
//! kube-apiserver; the rolling itself is deploy's ([`super::rolling`]).

use super::fleet::{Node, StepError};
use crate::executor::docker::observe;
use crate::model::version::{KubeVersion, parse_kube_version};
use crate::model::{Cluster, Role};

/// Kubernetes' skew policy for the control plane: one minor at a time, upwards; a
/// downgrade only when explicitly allowed (and then also one minor at most).
pub fn check_skew(
    from: KubeVersion,
    to: KubeVersion,
    allow_downgrade: bool,
) -> Result<String, String> {
    if to == from {
        return Ok(format!("{to} is already the running version"));
    }
    if to < from && !allow_downgrade {
        return Err(format!(
            "{to} is older than the running {from}; a downgrade is refused unless \
             --allow-downgrade is given (etcd data written by the newer version may not be \
             readable by the older one: take `etcd snapshot save` first)"
        ));
    }
    let span = to.minor.abs_diff(from.minor);
    if span > 1 {
        let next = if to > from {
            format!("v1.{}.x", from.minor + 1)
        } else {
            format!("v1.{}.x", from.minor - 1)
        };
        return Err(format!(
            "{from} → {to} skips {} minor version(s); Kubernetes supports one minor at a \
             time: set kubernetes-version to {next} first, run upgrade, then go on",
            span - 1
        ));
    }
    Ok(format!("{from} → {to}"))
}

/// The version the last successful deploy recorded in `state.json`, when there is one.
pub fn recorded_version(cluster: &Cluster) -> Option<KubeVersion> {
    let text = std::fs::read_to_string(cluster.state_dir().join("state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    parse_kube_version(v.get("kubernetes_version")?.as_str()?).ok()
}

/// The version in the image tag of the kube-apiserver running on the first master that
/// has one (`...:v1.35.4`).
pub async fn running_version(nodes: &[Node]) -> Option<KubeVersion> {
    for n in nodes.iter().filter(|n| n.machine.role == Role::Master) {
        let cluster = n
            .artifacts
            .containers
            .first()
            .and_then(|c| c.labels.get(crate::components::spec::LABEL_CLUSTER))
            .cloned()
            .unwrap_or_default();
        let Ok(list) = observe::list_managed(n.docker(), &cluster).await else {
            continue;
        };
        for c in list {
            if c.component.as_deref() == Some("kube-apiserver")
                && let Some((_, tag)) = c.image.rsplit_once(':')
                && let Ok(v) = parse_kube_version(tag)
            {
                return Some(v);
            }
        }
    }
    None
}

/// The pre-check `upgrade` runs after connecting, before changing anything: an error
/// names the versions and what to do; Ok says what will happen.
pub async fn precheck(
    cluster: &Cluster,
    nodes: &[Node],
    allow_downgrade: bool,
) -> Result<String, StepError> {
    let to = cluster.kubernetes.version;
    let from = match recorded_version(cluster) {
        Some(v) => Some(v),
        None => running_version(nodes).await,
    };
    let Some(from) = from else {
        return Err(StepError::new(
            "cluster",
            "version skew",
            "no running version found (no state.json and no kube-apiserver container)",
        )
        .hint("upgrade changes a running cluster; deploy it first with `k8s-manage deploy`"));
    };
    check_skew(from, to, allow_downgrade).map_err(|m| {
        StepError::new("cluster", "version skew", m)
            .hint("change kubernetes-version in kubernetes-configuration.yaml")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        parse_kube_version(s).unwrap()
    }

    #[test]
    fn one_minor_up_and_patches_pass() {
        assert!(check_skew(v("v1.35.4"), v("v1.36.1"), false).is_ok());
        assert!(check_skew(v("v1.36.0"), v("v1.36.1"), false).is_ok());
        assert!(check_skew(v("v1.36.1"), v("v1.36.1"), false).is_ok());
    }

    #[test]
    fn skipping_a_minor_is_refused_with_the_next_step() {
        let e = check_skew(v("v1.34.2"), v("v1.36.1"), false).unwrap_err();
        assert!(e.contains("skips 1 minor"), "{e}");
        assert!(e.contains("v1.35.x"), "{e}");
        let e = check_skew(v("v1.36.1"), v("v1.33.0"), true).unwrap_err();
        assert!(e.contains("v1.35.x"), "{e}");
    }

    #[test]
    fn downgrades_need_the_flag() {
        let e = check_skew(v("v1.36.1"), v("v1.35.4"), false).unwrap_err();
        assert!(e.contains("--allow-downgrade"), "{e}");
        assert!(check_skew(v("v1.36.1"), v("v1.35.4"), true).is_ok());
        assert!(check_skew(v("v1.36.1"), v("v1.36.0"), false).is_err());
    }
}
