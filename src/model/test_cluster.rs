//! Unit-test support: a one-master cluster loaded through the real config path, with
//! `kubernetes` lines added under `kubernetes:`.

use super::Cluster;

/// One master `m1` (10.0.0.11, etcd1) and `docker-registry: r:5000`, plus `kubernetes`
/// (lines indented under `kubernetes:`, each ending in a newline).
pub fn one_master(kubernetes: &str) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cluster-configuration.yaml"),
        "default-machine-properties:\n  username: root\n  ssh-agent: \"true\"\nmachine-list:\n  - hostname: m1\n    hostip: 10.0.0.11\n    k8s-role: master\n    etcdid: etcd1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kubernetes-configuration.yaml"),
        format!("kubernetes:\n  docker-registry: r:5000\n{kubernetes}"),
    )
    .unwrap();
    super::build::load(dir.path())
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster
}
