//! What the sandbox asks of the product it is a test bed for: the names of the images the
//! product pulls, and which Kubernetes versions it accepts.
//!
//! The sandbox makes the upstream components' images under exactly the names the product
//! would pull (so a deploy onto sandbox nodes finds them preloaded), but it does not know
//! the product's image rules, and must not copy them: the product passes a
//! [`ProductFacts`] into the few calls that need them (`up`, `build_images`,
//! `referenced_images`, `upstream::build_upstream_images`, ...). A trait rather than
//! values, because image names depend on the version asked for; an argument rather than
//! a global, so the sandbox's own tests can pass a stand-in.

use std::collections::BTreeMap;

/// The product's answers to what the sandbox must agree with.
pub trait ProductFacts: Sync {
    /// Whether the product accepts `version` as its `kubernetes-version`.
    fn accepts_kubernetes_version(&self, version: &str) -> bool;

    /// The images the product pulls for a cluster of Kubernetes `version` with etcd
    /// `etcd_version` whose config names no registry and no image of its own: component
    /// (`kube-apiserver`, `kubelet`, `etcd`, `pause`, `coredns`, `flannel`,
    /// `local-path-provisioner`, ...) to image reference. `None` when the product does not
    /// accept `version`.
    fn default_images(&self, version: &str, etcd_version: &str)
    -> Option<BTreeMap<String, String>>;
}

/// A stand-in for the product in the sandbox's own unit tests: any `vX.Y.Z` version, and
/// every component's image at `test.invalid/<component>:<version>`. The product's side
/// tests the real names.
#[cfg(test)]
pub(crate) struct StandIn;

#[cfg(test)]
impl ProductFacts for StandIn {
    fn accepts_kubernetes_version(&self, version: &str) -> bool {
        version
            .strip_prefix('v')
            .is_some_and(|v| v.split('.').all(|n| n.parse::<u32>().is_ok()))
    }

    fn default_images(
        &self,
        version: &str,
        etcd_version: &str,
    ) -> Option<BTreeMap<String, String>> {
        if !self.accepts_kubernetes_version(version) {
            return None;
        }
        let mut images: BTreeMap<String, String> = [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kube-proxy",
            "kubelet",
            "pause",
            "coredns",
            "flannel",
            "local-path-provisioner",
        ]
        .into_iter()
        .map(|c| (c.to_string(), format!("test.invalid/{c}:{version}")))
        .collect();
        images.insert("etcd".into(), format!("test.invalid/etcd:{etcd_version}"));
        Some(images)
    }
}
