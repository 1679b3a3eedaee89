//! The sandbox (the `k8s-manage-sandbox` crate, `sandbox/`: simulated bare-metal servers
//! for trying k8s-manage and for its end-to-end tests), with the product's facts filled in.
//!
//! Everything of the crate is here under the same names; the calls that need to know what
//! the product pulls ([`up`], [`build_images`], [`referenced_images_for`],
//! [`upstream::upstream_references`], [`upstream::build_upstream_images`]) are the crate's
//! with [`K8sManageFacts`] passed in, so callers (the `sandbox` command, the tests) never
//! pass it themselves. The tests below hold the facts the sandbox keeps as its own (the
//! roles, the node agent's CNI folder) to the product's.

use std::collections::BTreeMap;

pub use k8s_manage_sandbox::*;

/// The product's facts for the sandbox: image names as `model::images` resolves them on
/// the default registry with nothing overridden, versions as `model::version` reads them.
pub struct K8sManageFacts;

impl ProductFacts for K8sManageFacts {
    fn accepts_kubernetes_version(&self, version: &str) -> bool {
        crate::model::version::parse_kube_version(version).is_ok()
    }

    fn default_images(
        &self,
        version: &str,
        etcd_version: &str,
    ) -> Option<BTreeMap<String, String>> {
        let version = crate::model::version::parse_kube_version(version).ok()?;
        Some(crate::model::images::resolve(
            crate::model::images::DEFAULT_REGISTRY,
            version,
            etcd_version,
            &BTreeMap::new(),
        ))
    }
}

/// [`k8s_manage_sandbox::up`] with the product's image names.
pub async fn up(opts: &UpOptions, progress: &dyn Fn(&str)) -> Result<SandboxInfo, SandboxError> {
    k8s_manage_sandbox::up(&K8sManageFacts, opts, progress).await
}

/// [`k8s_manage_sandbox::build_images`] with the product's image names.
pub async fn build_images(
    components: Components,
    versions: &[String],
    progress: &dyn Fn(&str),
) -> Result<Vec<String>, SandboxError> {
    k8s_manage_sandbox::build_images(&K8sManageFacts, components, versions, progress).await
}

/// Every image the default sandbox config references, which `sandbox up` builds and
/// preloads: haproxy and a registry (Debian's), and the upstream components. (The default
/// version is always buildable; a unit test below holds that.)
pub fn referenced_images() -> Vec<String> {
    referenced_images_for(Components::Upstream, &[KUBERNETES_VERSION.to_string()])
        .expect("the default version is buildable")
}

/// [`k8s_manage_sandbox::referenced_images_for`] with the product's image names.
pub fn referenced_images_for(
    components: Components,
    versions: &[String],
) -> Result<Vec<String>, SandboxError> {
    k8s_manage_sandbox::referenced_images_for(&K8sManageFacts, components, versions)
}

/// The sandbox's upstream components, with the product's image names.
pub mod upstream {
    pub use k8s_manage_sandbox::upstream::*;

    use super::{K8sManageFacts, SandboxError};

    /// [`k8s_manage_sandbox::upstream::upstream_references`] with the product's image names.
    pub fn upstream_references(versions: &[String]) -> Result<Vec<String>, SandboxError> {
        k8s_manage_sandbox::upstream::upstream_references(&K8sManageFacts, versions)
    }

    /// [`k8s_manage_sandbox::upstream::build_upstream_images`] with the product's image
    /// names.
    pub async fn build_upstream_images(
        versions: &[String],
        progress: &dyn Fn(&str),
    ) -> Result<Vec<String>, SandboxError> {
        k8s_manage_sandbox::upstream::build_upstream_images(&K8sManageFacts, versions, progress)
            .await
    }
}

/// The sandbox agrees with the product where it keeps a product fact of its own.
#[cfg(test)]
mod product_agreement {
    use super::*;
    use crate::model;
    use k8s_manage_sandbox as sandbox;

    #[test]
    fn the_node_agent_image_holds_the_cni_plugins_where_the_product_looks() {
        assert_eq!(
            upstream::NODE_AGENT_CNI_DIR,
            crate::components::paths::NODE_AGENT_CNI_DIR
        );
    }

    /// The sandbox's role of each of the product's roles (a role added to the product
    /// stops this from compiling).
    fn sandbox_role(role: model::Role) -> Role {
        match role {
            model::Role::Master => Role::Master,
            model::Role::Worker => Role::Worker,
            model::Role::Proxy => Role::Proxy,
        }
    }

    #[test]
    fn the_sandbox_roles_are_the_products() {
        for role in Role::ALL {
            let product = model::Role::parse(role.as_str());
            assert_eq!(product.map(sandbox_role), Some(role), "{role}");
        }
    }

    #[test]
    fn the_images_are_the_ones_the_product_names() {
        let refs = upstream::upstream_references(&["v1.36.1".to_string()]).unwrap();
        for want in [
            "registry.k8s.io/kube-apiserver:v1.36.1",
            "registry.k8s.io/kube-controller-manager:v1.36.1",
            "registry.k8s.io/kube-scheduler:v1.36.1",
            "registry.k8s.io/kube-proxy:v1.36.1",
            "registry.k8s.io/etcd:3.6.8-0",
            "registry.k8s.io/pause:3.10.2",
            "registry.k8s.io/coredns/coredns:v1.14.2",
            "docker.io/rancher/local-path-provisioner:v0.0.30",
        ] {
            assert!(refs.contains(&want.to_string()), "{want} not in {refs:?}");
        }
        let product = K8sManageFacts
            .default_images("v1.36.1", upstream::ETCD_VERSION)
            .unwrap();
        assert!(refs.contains(&product["kubelet"]), "{refs:?}");
        assert!(refs.contains(&product["flannel"]), "{refs:?}");
        // What `referenced_images` expects of the default version holds.
        assert!(referenced_images().len() > refs.len(), "{refs:?}");
    }

    #[test]
    fn versions_are_the_products() {
        assert!(K8sManageFacts.accepts_kubernetes_version("v1.36.1"));
        assert!(!K8sManageFacts.accepts_kubernetes_version("latest"));
        assert!(K8sManageFacts.default_images("latest", "3.6.8-0").is_none());
    }

    /// The product, loading the config the sandbox writes, asks for exactly images the
    /// sandbox makes: every component and add-on.
    #[test]
    fn the_product_resolves_the_component_images_to_ones_the_sandbox_preloads() {
        let dir = tempfile::tempdir().unwrap();
        let keyfile = dir.path().join("id_ed25519");
        std::fs::write(&keyfile, "not read here\n").unwrap();
        let nodes = [NodeInfo {
            hostname: "master1".into(),
            container: "sb-master1".into(),
            address: "172.30.9.11".parse().unwrap(),
            role: Role::Master,
            etcd_id: Some("etcd1".into()),
        }];
        sandbox::config_files::write(&sandbox::config_files::ConfigInput {
            sandbox: "sb",
            network: "sb",
            subnet: "172.30.9.0/24".parse().unwrap(),
            keyfile: &keyfile,
            nodes: &nodes,
            dir: dir.path(),
            kubernetes_version: KUBERNETES_VERSION,
            components: Components::Upstream,
        })
        .unwrap();
        let cluster = match model::build::load(dir.path()) {
            Ok(loaded) => loaded.cluster,
            Err(diags) => panic!("{}", diags.render_text(false)),
        };
        let resolved = &cluster.kubernetes.images;
        let preloaded =
            referenced_images_for(Components::Upstream, &[KUBERNETES_VERSION.to_string()]).unwrap();
        for name in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kube-proxy",
            "kubelet",
            "haproxy",
            "pause",
            "coredns",
            "flannel",
            "flannel-cni-plugin",
        ] {
            assert!(
                preloaded.contains(&resolved[name]),
                "{name}: {} is not among {preloaded:?}",
                resolved[name]
            );
        }
    }
}
