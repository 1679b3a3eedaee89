//! Rendering: model + PKI → the files each node receives, the containers it runs, and the
//! Kubernetes manifests applied to the cluster through the API.

pub mod addons;
