//! The real upstream components for the sandbox, built from source when no registry
//! answers: Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
//! kube-proxy), etcd, cri-dockerd, CoreDNS, flannel and the CNI plugins, each pinned by a
//! Go module of the repository (`sandbox/upstream/`), built once per version into the
//! sandbox cache ([`go_build`]), and made into images under the names a real rack pulls
//! ([`images`]).

pub mod busybox;
pub mod e2e_images;
pub mod go_build;
pub mod images;
pub mod junit;
pub mod modules;
mod pause;

pub use images::{
    BUSYBOX_IMAGE, ETCD_VERSION, FLANNEL_CNI_PLUGIN_IMAGE, NODE_AGENT_CNI_DIR,
    build_upstream_images, conformance_suite, kubectl, upstream_references,
};
