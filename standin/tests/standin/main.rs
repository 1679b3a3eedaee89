//! Integration tests of the k8s-standin binary: flags, certificates, health endpoints, and
//! the apiserver against a real etcd. Every process runs on loopback and every wait is bounded.

mod apiserver_etcd;
mod certs;
mod flags;
mod health;
mod support;
