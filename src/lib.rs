//! k8s-manage: turns bare-metal Linux servers into a secure, highly available Kubernetes
//! cluster over SSH. Data flows one way: config → validated model → plan → executor → report.

pub mod cli;
pub mod commands;
pub mod components;
pub mod config;
pub mod diag;
pub mod etcd;
pub mod executor;
pub mod image;
pub mod init;
pub mod kubeapi;
pub mod local_file;
pub mod logging;
pub mod model;
pub mod pki;
pub mod plan;
pub mod relay;
pub mod render;
pub mod run;
pub mod sandbox;
pub mod secret_text;
pub mod service;
pub mod ssh;
