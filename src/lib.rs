//! k8s-manage: turns bare-metal Linux servers into a secure, highly available Kubernetes
//! cluster over SSH. Data flows one way: config → validated model → plan → executor → report.

pub mod config;
pub mod sandbox;
