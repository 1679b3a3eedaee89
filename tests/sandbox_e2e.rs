//! End-to-end tests of the sandbox against this machine's Docker engine (`.ci/setup-docker.sh`
//! starts one). Traffic goes only to the sandbox nodes' addresses on this machine.
//! One five-node sandbox serves every check of `up`: nodes, SSH, preloaded images (the
//! upstream components, built from source here), and the config it writes (validate,
//! render).

mod sandbox_support;

use std::collections::HashSet;
use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveVolumeOptions,
};
use k8s_manage::sandbox::{self, Role, SandboxError, UpOptions, labels};
use sandbox_support::DownGuard;

fn progress(message: &str) {
    eprintln!("sandbox: {message}");
}

fn label_filter(value: &str) -> std::collections::HashMap<String, Vec<String>> {
    std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{}={value}", labels::SANDBOX)],
    )])
}

async fn labelled_objects(docker: &Docker, name: &str) -> (usize, usize, usize) {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(label_filter(name)),
            ..Default::default()
        }))
        .await
        .unwrap();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(name)),
        }))
        .await
        .unwrap();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(name)),
        }))
        .await
        .unwrap()
        .volumes
        .unwrap_or_default();
    (containers.len(), networks.len(), volumes.len())
}

async fn labelled_volume(docker: &Docker, volume: &str, sandbox: &str) {
    docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.to_string()),
            labels: Some(std::collections::HashMap::from([(
                labels::SANDBOX.to_string(),
                sandbox.to_string(),
            )])),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// What one command returned over SSH.
struct Ran {
    status: i32,
    stdout: String,
    stderr: String,
}

/// An SSH session to a node with the given key, the host key checked against `host_key`
/// (a `type base64` pair from known_hosts).
fn ssh_session(address: Ipv4Addr, keyfile: &Path, host_key: &str) -> Result<ssh2::Session, String> {
    let tcp = TcpStream::connect_timeout(&(address, 22).into(), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut session = ssh2::Session::new().map_err(|e| e.to_string())?;
    session.set_tcp_stream(tcp);
    session.set_timeout(10_000);
    session.handshake().map_err(|e| e.to_string())?;
    let expected = ssh_key::PublicKey::from_openssh(host_key)
        .unwrap()
        .to_bytes()
        .unwrap();
    let (presented, kind) = session.host_key().expect("a host key");
    assert!(
        matches!(kind, ssh2::HostKeyType::Ed25519),
        "{address}: host key type"
    );
    assert_eq!(presented, expected.as_slice(), "{address}: host key");
    session
        .userauth_pubkey_file("root", None, keyfile, None)
        .map_err(|e| e.to_string())?;
    Ok(session)
}

fn run(session: &ssh2::Session, command: &str) -> Ran {
    let mut channel = session.channel_session().unwrap();
    channel.exec(command).unwrap();
    let mut stdout = String::new();
    channel.read_to_string(&mut stdout).unwrap();
    let mut stderr = String::new();
    channel.stderr().read_to_string(&mut stderr).unwrap();
    channel.wait_close().unwrap();
    Ran {
        status: channel.exit_status().unwrap(),
        stdout,
        stderr,
    }
}

fn known_hosts(path: &Path) -> Vec<(Ipv4Addr, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut parts = line.split_whitespace();
            let address = parts.next().unwrap().parse().unwrap();
            let key = format!("{} {}", parts.next().unwrap(), parts.next().unwrap());
            (address, key)
        })
        .collect()
}

/// A key the nodes do not know, for checking that only the sandbox key logs in.
fn stranger_key(dir: &Path) -> PathBuf {
    let key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let path = dir.join("stranger");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(
        &mut file,
        key.to_openssh(ssh_key::LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_five_nodes_answer_over_ssh_with_their_own_dockerd_and_down_removes_exactly_them() {
    let name = format!("e2e-{}", std::process::id());
    let other = format!("{name}-other");
    let dir = tempfile::tempdir().unwrap();
    let _guard = DownGuard(name.clone());
    let docker = sandbox::connect_engine()
        .await
        .expect("a Docker engine answers");

    // A volume of this sandbox (down must remove it) and one of another sandbox (must stay).
    labelled_volume(&docker, &format!("{name}-data"), &name).await;
    labelled_volume(&docker, &format!("{other}-data"), &other).await;

    let opts = UpOptions {
        name: name.clone(),
        masters: 3,
        workers: 1,
        proxy: true,
        dir: dir.path().join("config"),
        subnet: None,
        versions: Vec::new(),
        components: sandbox::Components::Upstream,
    };
    let info = sandbox::up(&opts, &progress).await.expect("sandbox up");
    eprintln!("timings: {:?}", info.timings);
    assert!(info.timings.preload > Duration::ZERO);
    let archive = info.image_archive.clone().expect("images were loaded");
    assert!(archive.is_file(), "{}", archive.display());

    // Five nodes with the asked roles, at distinct addresses inside the sandbox subnet.
    assert_eq!(info.nodes.len(), 5);
    let roles: Vec<Role> = info.nodes.iter().map(|n| n.role).collect();
    assert_eq!(roles.iter().filter(|r| **r == Role::Master).count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == Role::Worker).count(), 1);
    assert_eq!(roles.iter().filter(|r| **r == Role::Proxy).count(), 1);
    let addresses: HashSet<Ipv4Addr> = info.nodes.iter().map(|n| n.address).collect();
    assert_eq!(addresses.len(), 5, "addresses are distinct");
    for address in &addresses {
        assert!(
            info.subnet.contains(address),
            "{address} in {}",
            info.subnet
        );
        assert_ne!(*address, info.subnet.network());
    }

    // The key is private and the config names every node.
    let mode = std::fs::metadata(&info.keyfile)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let cluster = std::fs::read_to_string(info.dir.join(sandbox::CLUSTER_FILE)).unwrap();
    assert!(cluster.contains(&format!("keyfile-path: \"{}\"", info.keyfile.display())));
    for node in &info.nodes {
        assert!(
            cluster.contains(&format!("hostip: {}", node.address)),
            "{cluster}"
        );
    }
    let kube = std::fs::read_to_string(info.dir.join(sandbox::KUBERNETES_FILE)).unwrap();
    for line in [
        "kubernetes-version: v1.36.1",
        "etcd-version: 3.6.8-0",
        "haproxy: k8s-manage-sandbox/haproxy:2.6",
        "flannel-cni-plugin: k8s-manage-sandbox/flannel-cni-plugin:v0.9.1",
    ] {
        assert!(kube.contains(line), "{line:?} in\n{kube}");
    }
    // The upstream names, as a real rack's config would resolve them: no registry prefix
    // of the sandbox's own, no stand-in.
    assert!(!kube.contains("docker-registry:"), "{kube}");
    assert!(!kube.to_lowercase().contains("stand-in"), "{kube}");

    // Every image the config references was loaded into the nodes.
    let images = sandbox::referenced_images();
    assert_eq!(info.images, images);
    for wanted in [
        "registry.k8s.io/etcd:3.6.8-0",
        "k8s-manage-sandbox/haproxy:2.6",
        "k8s-manage-sandbox/registry:2.8",
        "registry.k8s.io/kube-apiserver:v1.36.1",
        "registry.k8s.io/kube-controller-manager:v1.36.1",
        "registry.k8s.io/kube-scheduler:v1.36.1",
        "registry.k8s.io/kube-proxy:v1.36.1",
        "registry.k8s.io/pause:3.10.2",
        "registry.k8s.io/coredns/coredns:v1.14.2",
        "ghcr.io/flannel-io/flannel:v0.28.4",
        "k8s-manage.local/node-agent:v1.36.1",
    ] {
        assert!(images.iter().any(|i| i == wanted), "{wanted} in {images:?}");
    }

    // The written config is valid with not even a warning, and renders.
    let validate = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["validate", "--output", "json", "-p"])
        .arg(&info.dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&validate.stdout)
        .unwrap_or_else(|e| panic!("validate JSON: {e}: {:?}", validate));
    assert!(validate.status.success(), "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["warnings"], 0, "{report:#}");
    assert_eq!(
        report["diagnostics"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    let rendered = dir.path().join("rendered");
    let render = std::process::Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["render", "-p"])
        .arg(&info.dir)
        .arg("--out")
        .arg(&rendered)
        .output()
        .unwrap();
    assert!(render.status.success(), "render: {render:?}");
    let apiserver_spec =
        std::fs::read_to_string(rendered.join("nodes/master1/containers/kube-apiserver.yaml"))
            .unwrap();
    assert!(
        apiserver_spec.contains("registry.k8s.io/kube-apiserver:v1.36.1"),
        "{apiserver_spec}"
    );

    // Each node: SSH with the generated key works (host key as installed), it is the
    // node it claims to be, its own dockerd answers, and a stranger's key is refused.
    let host_keys = known_hosts(&info.known_hosts);
    assert_eq!(host_keys.len(), 5);
    let stranger = stranger_key(dir.path());
    let mut checks = Vec::new();
    for node in info.nodes.clone() {
        let keyfile = info.keyfile.clone();
        let stranger = stranger.clone();
        let host_key = host_keys
            .iter()
            .find(|(a, _)| *a == node.address)
            .map(|(_, k)| k.clone())
            .expect("known_hosts has every node");
        let images = images.clone();
        let first = node.hostname == info.nodes[0].hostname;
        checks.push(tokio::task::spawn_blocking(move || {
            let session = ssh_session(node.address, &keyfile, &host_key)
                .unwrap_or_else(|e| panic!("SSH to {} ({}): {e}", node.hostname, node.address));
            let hostname = run(&session, "hostname");
            assert_eq!(hostname.status, 0);
            assert_eq!(hostname.stdout.trim(), node.hostname);
            let whoami = run(&session, "id -u");
            assert_eq!(whoami.stdout.trim(), "0");
            let version = run(&session, "docker version --format '{{.Server.Version}}'");
            assert_eq!(version.status, 0, "docker version on {}", node.hostname);
            assert!(!version.stdout.trim().is_empty());
            let ip = run(&session, "ip -4 -o addr show eth0");
            assert!(
                ip.stdout.contains(&format!("{}/", node.address)),
                "{}",
                ip.stdout
            );
            assert!(
                ssh_session(node.address, &stranger, &host_key).is_err(),
                "{}: an unknown key must not log in",
                node.hostname
            );

            // The node's own engine has every referenced image, loaded by `up`.
            let listed = run(
                &session,
                "docker image ls --format '{{.Repository}}:{{.Tag}}'",
            );
            assert_eq!(listed.status, 0, "{}: {}", node.hostname, listed.stderr);
            let have: HashSet<&str> = listed.stdout.lines().map(str::trim).collect();
            for image in &images {
                // The engine lists a Docker Hub reference without `docker.io/` (and
                // `library/`): `docker.io/rancher/x:v1` as `rancher/x:v1`.
                let listed_as = k8s_manage::sandbox::docker_short_name(image);
                assert!(
                    have.contains(listed_as),
                    "{}: {image} missing from\n{}",
                    node.hostname,
                    listed.stdout
                );
            }
            if first {
                // The upstream programs, reporting their real versions (version-stamped as
                // upstream's build scripts do).
                for (image, entrypoint, want) in [
                    ("registry.k8s.io/kube-apiserver:v1.36.1", "kube-apiserver", "Kubernetes v1.36.1"),
                    ("k8s-manage.local/node-agent:v1.36.1", "kubelet", "Kubernetes v1.36.1"),
                    ("registry.k8s.io/etcd:3.6.8-0", "etcd", "etcd Version: 3.6.8"),
                ] {
                    let out = run(
                        &session,
                        &format!(
                            "docker run --rm --network none --entrypoint {entrypoint} {image} --version"
                        ),
                    );
                    assert_eq!(out.status, 0, "{image}: {}", out.stderr);
                    assert!(out.stdout.contains(want), "{image}: {}", out.stdout);
                }
                // The node's dockerd runs containers through the sandbox's runc wrapper.
                let runtime = run(&session, "docker info --format '{{.DefaultRuntime}}'");
                assert_eq!(runtime.stdout.trim(), "sandbox-runc", "{}", runtime.stderr);
            }
            version.stdout.trim().to_string()
        }));
    }
    for check in checks {
        check.await.expect("node checks pass");
    }

    // status agrees.
    let status = sandbox::status(&name).await.unwrap();
    assert_eq!(status.len(), 5);
    for node in &status {
        assert!(node.running && node.sshd && node.dockerd, "{node:?}");
        assert!(node.memory_bytes.unwrap_or(0) > 0, "{node:?}");
        assert!(addresses.contains(&node.address.unwrap()));
    }

    // A second up with the same name is refused and changes nothing.
    let again = sandbox::up(&opts, &progress).await.unwrap_err();
    assert!(
        matches!(again, SandboxError::AlreadyExists { .. }),
        "{again}"
    );

    // A container of a node's own dockerd has a cgroup in this machine's tree (the nodes
    // share it); down removes it with the node, so that no sandbox leaves cgroups behind
    // for every later kubelet to watch.
    let first = &info.nodes[0];
    let key = host_keys
        .iter()
        .find(|(a, _)| *a == first.address)
        .map(|(_, k)| k.clone())
        .unwrap();
    let session = ssh_session(first.address, &info.keyfile, &key).unwrap();
    let started = run(
        &session,
        "docker run -d --network none registry.k8s.io/pause:3.10.2",
    );
    assert_eq!(started.status, 0, "{}", started.stderr);
    let inner = started.stdout.trim().to_string();
    let cgroup = Path::new("/sys/fs/cgroup/pids/docker").join(&inner);
    let cgroup_v1 = Path::new("/sys/fs/cgroup/pids").exists();
    if cgroup_v1 {
        assert!(cgroup.is_dir(), "{} missing", cgroup.display());
    }
    drop(session);

    // down removes exactly what carries this sandbox's label.
    let report = sandbox::down(&name).await.unwrap();
    assert_eq!(report.containers.len(), 5, "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    if cgroup_v1 {
        assert!(!cgroup.exists(), "{} left behind", cgroup.display());
    }
    assert_eq!(report.networks, vec![name.clone()]);
    assert_eq!(report.volumes, vec![format!("{name}-data")]);
    assert_eq!(labelled_objects(&docker, &name).await, (0, 0, 0));
    assert_eq!(labelled_objects(&docker, &other).await, (0, 0, 1));
    assert!(sandbox::status(&name).await.unwrap().is_empty());
    assert!(sandbox::down(&name).await.unwrap().is_empty());

    docker
        .remove_volume(&format!("{other}-data"), None::<RemoveVolumeOptions>)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unusable_subnet_is_refused_before_anything_is_made() {
    let name = format!("e2e-subnet-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let docker = sandbox::connect_engine()
        .await
        .expect("a Docker engine answers");
    let opts = UpOptions {
        name: name.clone(),
        masters: 3,
        workers: 20,
        proxy: false,
        dir: dir.path().to_path_buf(),
        subnet: Some("172.30.250.0/28".parse().unwrap()),
        versions: Vec::new(),
        components: sandbox::Components::Upstream,
    };
    let err = sandbox::up(&opts, &progress).await.unwrap_err();
    assert!(matches!(err, SandboxError::SubnetUnusable { .. }), "{err}");
    assert!(err.to_string().contains("too small for 23 nodes"), "{err}");
    assert_eq!(labelled_objects(&docker, &name).await, (0, 0, 0));
}

/// A node killed (its dockerd gets no chance to remove its pid file) and started again
/// boots as a real server does: sshd answers and dockerd runs. Before the node command
/// removed the stale pid files, dockerd refused to start and took the node down with it.
#[tokio::test]
async fn a_node_killed_and_started_again_comes_back() {
    let name = format!("e2e-reboot-{}", std::process::id());
    let _guard = DownGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let docker = sandbox::connect_engine()
        .await
        .expect("a Docker engine answers");
    let opts = UpOptions {
        name: name.clone(),
        masters: 1,
        workers: 0,
        proxy: false,
        dir: dir.path().to_path_buf(),
        subnet: None,
        versions: Vec::new(),
        components: sandbox::Components::None,
    };
    let info = sandbox::up(&opts, &progress).await.expect("sandbox up");
    let node = &info.nodes[0];
    for round in 1..=2 {
        docker
            .kill_container(
                &node.container,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .unwrap();
        docker
            .start_container(
                &node.container,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            let state = docker
                .inspect_container(&node.container, None)
                .await
                .unwrap()
                .state
                .unwrap();
            let ssh = TcpStream::connect_timeout(
                &std::net::SocketAddr::new(node.address.into(), 22),
                Duration::from_secs(2),
            )
            .is_ok();
            if state.running == Some(true) && ssh {
                break;
            }
            assert!(
                state.running == Some(true) && started.elapsed() < Duration::from_secs(60),
                "round {round}: node not back after {:?}: {state:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // dockerd answers inside (it is the node's PID 1: running means it started)
        tokio::time::sleep(Duration::from_secs(2)).await;
        let state = docker
            .inspect_container(&node.container, None)
            .await
            .unwrap()
            .state
            .unwrap();
        assert_eq!(state.running, Some(true), "round {round}: {state:?}");
    }
}
