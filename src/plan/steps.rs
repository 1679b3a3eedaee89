//! The steps each phase runs on one node (or once for the cluster). Pure: derived from the
//! model only; with no observed state every container and file is "new".

use crate::components::{self, etcd, files, spec::ContainerSpec};
use crate::model::{Cluster, Machine, Role};
use serde::Serialize;

/// One step: something the executor does and can check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    Connect {
        user: String,
        address: String,
        port: u16,
    },
    Preflight {
        checks: Vec<String>,
    },
    PutFile {
        path: String,
        mode: String,
    },
    EnsureImage {
        image: String,
    },
    /// Create (or replace, when observed differently) a container.
    EnsureContainer {
        name: String,
        image: String,
        change: Change,
    },
    WaitEtcdHealthy {
        members: Vec<String>,
    },
    EtcdSnapshot,
    /// `upgrade`: the running version may move to this one (one minor at a time).
    CheckVersionSkew {
        to: String,
    },
    EtcdQuorumCheck {
        remaining: Vec<String>,
    },
    EtcdMemberAdd {
        name: String,
        peer_url: String,
    },
    EtcdMemberRemove {
        name: String,
    },
    EtcdMemberRestart {
        name: String,
    },
    EtcdWipe {
        data_dir: String,
    },
    UpdateLbBackends {
        apiservers: Vec<String>,
    },
    ApplyManifests {
        files: Vec<String>,
    },
    Drain {
        node: String,
    },
    DeleteNode {
        node: String,
    },
    RemoveContainers {
        label: String,
    },
    RemoveDirs {
        paths: Vec<String>,
    },
    VerifyHealth {
        endpoints: Vec<String>,
    },
    VerifyRegistered {
        nodes: Vec<String>,
    },
    WriteState {
        files: Vec<String>,
    },
    UpdateConfig {
        file: String,
    },
    /// `cert rotate`: the PKI copied to a backup folder, then the certificates reissued.
    ReissueCertificates {
        backup: String,
    },
    /// `add` with masters: the merged cluster deployed, these existing masters rolled one
    /// at a time.
    RollMasters {
        masters: Vec<String>,
    },
    ForgetState,
    /// `restore`: the control host's snapshot file against its recorded sha256.
    CheckSnapshot {
        file: String,
    },
    /// `restore`: a checked copy of the snapshot on the node.
    CopySnapshot {
        path: String,
    },
    /// Stop these containers, in this order (they are kept, not removed).
    StopContainers {
        names: Vec<String>,
    },
    /// Move a directory's contents aside (kept).
    MoveAside {
        from: String,
        to: String,
    },
    /// `restore`: the snapshot restored into the node's empty etcd data dir as this member.
    EtcdRestore {
        snapshot: String,
        name: String,
        peer_url: String,
    },
}

/// What happens to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not observed: created.
    Create,
    /// Observed with another spec hash: renamed, new one created and started, old removed.
    Replace,
    /// Observed missing, stopped or unhealthy: re-created (repair).
    Recreate,
}

impl Step {
    /// The `connect` step of machine `m` (what `plan` lists and what each action's
    /// `connect` phase walks).
    pub fn connect_to(m: &Machine) -> Step {
        Step::Connect {
            user: m.ssh.username.clone(),
            address: m.hostip.to_string(),
            port: m.ssh.port,
        }
    }

    /// One line for the text plan.
    pub fn describe(&self) -> String {
        match self {
            Step::Connect {
                user,
                address,
                port,
            } => format!("SSH to {user}@{address}:{port}, check the host key, gather facts"),
            Step::Preflight { checks } => format!("check {}", checks.join(", ")),
            Step::PutFile { path, mode } => format!("put {path} ({mode})"),
            Step::EnsureImage { image } => format!("image {image}"),
            Step::EnsureContainer {
                name,
                image,
                change,
            } => format!("{change:?} container {name} ({image})").to_lowercase(),
            Step::WaitEtcdHealthy { members } => format!(
                "wait (bounded) until etcd has quorum and {} are healthy",
                members.join(", ")
            ),
            Step::EtcdSnapshot => {
                "take an etcd snapshot, copy it to the control host with its checksum".into()
            }
            Step::CheckVersionSkew { to } => format!(
                "read the running version (state.json, else the kube-apiserver image tag); refuse unless {to} is the same minor or the next"
            ),
            Step::EtcdQuorumCheck { remaining } => {
                format!("refuse unless {} still form a quorum", remaining.join(", "))
            }
            Step::EtcdMemberAdd { name, peer_url } => {
                format!("etcd member add {name} {peer_url} through the leader")
            }
            Step::EtcdMemberRemove { name } => {
                format!("etcd member remove {name} (exact member id) through the leader")
            }
            Step::EtcdMemberRestart { name } => {
                format!("start etcd {name} with --initial-cluster-state=existing")
            }
            Step::EtcdWipe { data_dir } => format!(
                "stop and remove container etcd, move the contents of {data_dir} to {data_dir}.broken-<UTC time> (kept)"
            ),
            Step::UpdateLbBackends { apiservers } => {
                format!("load balancers point at {}", apiservers.join(", "))
            }
            Step::ApplyManifests { files } => {
                format!("apply {} (server-side apply)", files.join(", "))
            }
            Step::Drain { node } => format!("cordon and drain {node}"),
            Step::DeleteNode { node } => format!("delete node {node}"),
            Step::RemoveContainers { label } => format!("remove every container labelled {label}"),
            Step::RemoveDirs { paths } => format!("unmount and remove {}", paths.join(", ")),
            Step::VerifyHealth { endpoints } => format!("check over TLS: {}", endpoints.join(", ")),
            Step::VerifyRegistered { nodes } => {
                format!("every node registered: {}", nodes.join(", "))
            }
            Step::WriteState { files } => format!("write {}", files.join(", ")),
            Step::UpdateConfig { file } => format!("update {file} (timestamped backup kept)"),
            Step::ReissueCertificates { backup } => format!(
                "copy .k8s-manage/pki to {backup} (folders 0700, files 0600), then reissue the selected certificates from the CA (every leaf unless --service; new CAs with --ca)"
            ),
            Step::RollMasters { masters } => format!(
                "deploy the merged cluster, replacing {} one at a time (--etcd-servers, apiserver certificate, load balancers), each healthy before the next",
                masters.join(", ")
            ),
            Step::ForgetState => {
                "remove state.json and admin.kubeconfig from the control host".into()
            }
            Step::CheckSnapshot { file } => {
                format!("refuse unless {file} has the sha256 recorded when it was taken")
            }
            Step::CopySnapshot { path } => format!(
                "copy the snapshot to {path} unless a copy with its sha256 is there, then check the copy"
            ),
            Step::StopContainers { names } => format!("stop {}", names.join(", ")),
            Step::MoveAside { from, to } => format!("move the contents of {from} to {to} (kept)"),
            Step::EtcdRestore {
                snapshot,
                name,
                peer_url,
            } => format!(
                "restore {snapshot} as member {name} ({peer_url}) inside the etcd image (etcdutl, or etcdctl on 3.4), then put it in place as the data dir"
            ),
        }
    }
}

/// The images a node needs: its containers' and the pod sandbox (`pause`) image that
/// cri-dockerd starts every pod with; sorted, each once. Plan and deploy both use it.
pub fn node_images(cluster: &Cluster, containers: &[ContainerSpec]) -> Vec<String> {
    let mut imgs: Vec<String> = containers.iter().map(|c| c.image.clone()).collect();
    imgs.push(cluster.kubernetes.images["pause"].clone());
    imgs.sort();
    imgs.dedup();
    imgs
}

fn container_step(c: &ContainerSpec) -> Step {
    Step::EnsureContainer {
        name: c.name.clone(),
        image: c.image.clone(),
        change: Change::Create,
    }
}

/// The plan steps of the node's containers with these names (a container phase).
pub fn containers_named(cluster: &Cluster, m: &Machine, names: &[&str]) -> Vec<Step> {
    components::node_containers(cluster, m, &etcd::new_cluster(cluster))
        .iter()
        .filter(|c| names.contains(&c.name.as_str()))
        .map(container_step)
        .collect()
}

/// `add`'s deploy of a new node: its files, images, containers (etcd has started in
/// `etcd-join` already), then its health endpoints.
pub fn deploy_onto(cluster: &Cluster, m: &Machine) -> Vec<Step> {
    let containers: Vec<ContainerSpec> =
        components::node_containers(cluster, m, &etcd::new_cluster(cluster))
            .into_iter()
            .filter(|c| c.name != "etcd")
            .collect();
    let mut steps = node_steps("files", cluster, m);
    steps.extend(node_steps("images", cluster, m));
    steps.extend(containers.iter().map(container_step));
    steps.extend(node_steps("verify", cluster, m));
    steps
}

/// `add`'s last deploy when masters join: every existing master, one at a time. `cluster`
/// is the merged one (the new machines included); `targets` the new machines.
pub fn roll_masters(_action: &str, cluster: &Cluster, targets: &[&Machine]) -> Vec<Step> {
    if !targets.iter().any(|m| m.role == Role::Master) {
        return Vec::new();
    }
    let masters = cluster
        .masters()
        .filter(|m| !targets.iter().any(|t| t.hostname == m.hostname))
        .map(|m| m.hostname.clone())
        .collect();
    vec![Step::RollMasters { masters }]
}

/// Containers started again as they were (restore: stopped, then the same spec).
fn recreated(steps: Vec<Step>) -> Vec<Step> {
    steps
        .into_iter()
        .map(|s| match s {
            Step::EnsureContainer { name, image, .. } => Step::EnsureContainer {
                name,
                image,
                change: Change::Recreate,
            },
            other => other,
        })
        .collect()
}

fn apiserver_addresses(cluster: &Cluster) -> Vec<String> {
    cluster
        .masters()
        .map(|m| components::paths::host_port(m.hostip, cluster.kubernetes.api_port))
        .collect()
}

/// Steps of a per-node phase on one node.
pub fn node_steps(phase: &str, cluster: &Cluster, m: &Machine) -> Vec<Step> {
    let k = &cluster.kubernetes;
    match phase {
        "connect" => vec![Step::connect_to(m)],
        "preflight" => {
            let mut checks: Vec<String> = [
                "Docker engine version",
                "swap off",
                "clock skew",
                "disk space",
                "cgroup driver",
                "kernel modules br_netfilter, overlay",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let mut ports = vec![
                components::node_agents::KUBELET_PORT,
                k.local_lb_port,
                components::node_agents::KUBE_PROXY_HEALTHZ_PORT,
            ];
            if m.role == Role::Master {
                ports.extend([etcd::CLIENT_PORT, etcd::PEER_PORT, k.api_port]);
            }
            if m.role == Role::Proxy {
                ports.push(k.api_port);
            }
            ports.sort();
            checks.push(format!(
                "ports free: {}",
                ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            vec![Step::Preflight { checks }]
        }
        "files" => files::node_files(m)
            .into_iter()
            .map(|f| Step::PutFile {
                path: f.path,
                mode: format!("{:o}", f.mode),
            })
            .collect(),
        "images" => node_images(
            cluster,
            &components::node_containers(cluster, m, &etcd::new_cluster(cluster)),
        )
        .into_iter()
        .map(|image| Step::EnsureImage { image })
        .collect(),
        "verify" => {
            let mut e = vec![
                format!(
                    "kubelet https://{}",
                    components::paths::host_port(m.hostip, components::node_agents::KUBELET_PORT)
                ),
                format!("local LB https://127.0.0.1:{}/readyz", k.local_lb_port),
            ];
            if m.role == Role::Master {
                e.push(format!("etcd {}", etcd::client_url(m)));
                e.push(format!(
                    "kube-apiserver https://{}/readyz",
                    components::paths::host_port(m.hostip, k.api_port)
                ));
                e.push(format!(
                    "kube-controller-manager https://127.0.0.1:{}/healthz",
                    components::control_plane::CONTROLLER_MANAGER_PORT
                ));
                e.push(format!(
                    "kube-scheduler https://127.0.0.1:{}/healthz",
                    components::control_plane::SCHEDULER_PORT
                ));
            }
            if m.role == Role::Proxy {
                e.push(format!(
                    "proxy LB https://{}/readyz",
                    components::paths::host_port(m.hostip, k.api_port)
                ));
            }
            vec![Step::VerifyHealth { endpoints: e }]
        }
        "etcd-join" => {
            vec![
                Step::EtcdMemberAdd {
                    name: m.etcdid.clone().unwrap_or_default(),
                    peer_url: etcd::peer_url(m),
                },
                Step::EnsureContainer {
                    name: "etcd".into(),
                    image: k.images["etcd"].clone(),
                    change: Change::Create,
                },
                Step::WaitEtcdHealthy {
                    members: vec![m.etcdid.clone().unwrap_or_default()],
                },
            ]
        }
        "etcd-leave" => vec![Step::EtcdMemberRemove {
            name: m.etcdid.clone().unwrap_or_default(),
        }],
        "etcd-stop-wipe" => vec![Step::EtcdWipe {
            data_dir: k.etcd_data_path.clone(),
        }],
        "etcd-rejoin" => vec![Step::EtcdMemberRestart {
            name: m.etcdid.clone().unwrap_or_default(),
        }],
        "drain" => vec![Step::Drain {
            node: m.nodename.clone(),
        }],
        "delete-node" => vec![Step::DeleteNode {
            node: m.nodename.clone(),
        }],
        "stop-containers" => vec![Step::RemoveContainers {
            label: format!("{}={}", components::spec::LABEL_CLUSTER, k.cluster_name),
        }],
        // restore
        "snapshot-copy" => vec![Step::CopySnapshot {
            path: format!("{}/<NAME>.db", crate::etcd::snapshot::NODE_SNAPSHOT_DIR),
        }],
        "stop" => vec![Step::StopContainers {
            names: [
                "kube-scheduler",
                "kube-controller-manager",
                "kube-apiserver",
                "etcd",
            ]
            .map(String::from)
            .to_vec(),
        }],
        "move-aside" => vec![Step::MoveAside {
            from: k.etcd_data_path.clone(),
            to: format!("{}.before-restore-<UTC time>", k.etcd_data_path),
        }],
        "restore" => vec![Step::EtcdRestore {
            snapshot: "<NAME>".into(),
            name: m.etcdid.clone().unwrap_or_else(|| m.hostname.clone()),
            peer_url: etcd::peer_url(m),
        }],
        "etcd-start" => recreated(containers_named(cluster, m, &["etcd"])),
        "repair" => {
            let mut steps = recreated(containers_named(
                cluster,
                m,
                &[
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                ],
            ));
            steps.extend(node_steps("verify", cluster, m));
            steps
        }
        "remove-dirs" => vec![Step::RemoveDirs {
            paths: components::paths::removed_dirs(m.role == Role::Master, &k.etcd_data_path),
        }],
        _ => Vec::new(),
    }
}

/// Steps of a cluster-scope phase. `targets` are the listed machines (add/remove/etcdfix).
pub fn cluster_steps(
    phase: &str,
    action: &str,
    cluster: &Cluster,
    targets: &[&Machine],
) -> Vec<Step> {
    let k = &cluster.kubernetes;
    let target_masters: Vec<&Machine> = targets
        .iter()
        .copied()
        .filter(|m| m.role == Role::Master)
        .collect();
    match phase {
        "etcd-health" => vec![Step::WaitEtcdHealthy {
            members: cluster.masters().filter_map(|m| m.etcdid.clone()).collect(),
        }],
        "addons" => {
            let mut files = vec!["00-rbac.yaml".to_string(), "10-coredns.yaml".to_string()];
            if k.network_plugin == crate::model::NetworkPlugin::Flannel {
                files.push("20-flannel.yaml".into());
            }
            if cluster.machines.iter().any(|m| m.dashboard) {
                files.push("30-dashboard.yaml".into());
            }
            vec![
                Step::ApplyManifests { files },
                Step::VerifyRegistered {
                    nodes: cluster
                        .machines
                        .iter()
                        .map(|m| m.nodename.clone())
                        .collect(),
                },
            ]
        }
        "state" => vec![Step::WriteState {
            files: vec![
                ".k8s-manage/state.json".into(),
                ".k8s-manage/admin.kubeconfig".into(),
            ],
        }],
        "forget-state" => vec![Step::ForgetState],
        "snapshot-check" => vec![Step::CheckSnapshot {
            file: ".k8s-manage/snapshots/<NAME>.db".into(),
        }],
        "reissue" => vec![Step::ReissueCertificates {
            backup: ".k8s-manage/backups/pki-<UTC time>".into(),
        }],
        "version-skew" => vec![Step::CheckVersionSkew {
            to: k.version.to_string(),
        }],
        "snapshot" if action == "etcdfix" || !target_masters.is_empty() => vec![Step::EtcdSnapshot],
        "quorum-check" => {
            let leaving: Vec<&str> = target_masters
                .iter()
                .filter_map(|m| m.etcdid.as_deref())
                .collect();
            let remaining = cluster
                .masters()
                .filter_map(|m| m.etcdid.clone())
                .filter(|id| !leaving.contains(&id.as_str()))
                .collect();
            vec![Step::EtcdQuorumCheck { remaining }]
        }
        // add: only where a worker or proxy besides the new nodes has a load balancer
        "lb-backends"
            if action == "add"
                && !cluster.machines.iter().any(|m| {
                    m.role != Role::Master && !targets.iter().any(|t| t.hostname == m.hostname)
                }) =>
        {
            Vec::new()
        }
        "lb-backends" if !target_masters.is_empty() => {
            let apiservers = if action == "remove" {
                cluster
                    .masters()
                    .filter(|m| !target_masters.iter().any(|t| t.hostname == m.hostname))
                    .map(|m| components::paths::host_port(m.hostip, k.api_port))
                    .collect()
            } else {
                // for add, `cluster` already includes the joining machines
                apiserver_addresses(cluster)
            };
            vec![Step::UpdateLbBackends { apiservers }]
        }
        "etcd-replace" => target_masters
            .iter()
            .flat_map(|m| {
                let name = m.etcdid.clone().unwrap_or_default();
                [
                    Step::EtcdMemberRemove { name: name.clone() },
                    Step::EtcdMemberAdd {
                        name,
                        peer_url: etcd::peer_url(m),
                    },
                ]
            })
            .collect(),
        "etcd-wait" => vec![Step::WaitEtcdHealthy {
            members: cluster.masters().filter_map(|m| m.etcdid.clone()).collect(),
        }],
        "config-update" => vec![Step::UpdateConfig {
            file: crate::config::CLUSTER_FILE.into(),
        }],
        _ => Vec::new(),
    }
}
