//! `executor::docker` (ensure, observe, remove, images, logs, waits) against the real local
//! Docker engine. Every test uses its own cluster label and container-name prefix
//! (`dockerops-test-<pid>-<n>`), runs only network-less containers (the locally built etcd
//! image, network mode `none`), and a guard removes whatever it made, also when the test
//! fails.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveImageOptions, RenameContainerOptions,
    StopContainerOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;
use k8s_manage::components::spec::{Bind, ContainerSpec, LABEL_CLUSTER};
use k8s_manage::executor::docker::ensure::{Action, EnsureOptions, ensure_container};
use k8s_manage::executor::docker::images::{self, ImageAction};
use k8s_manage::executor::docker::observe::{self, Observed, observe};
use k8s_manage::executor::docker::waits::wait_running;
use k8s_manage::executor::docker::{create_body, logs, remove};
use k8s_manage::sandbox;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Removes the test's containers (by name prefix and by cluster label), images and
/// directories when dropped. Uses the docker CLI: Drop cannot await.
struct Guard {
    prefix: String,
    images: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

impl Guard {
    fn new() -> Guard {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Guard {
            prefix: format!("dockerops-test-{}-{n:03}", std::process::id()),
            images: Vec::new(),
            dirs: Vec::new(),
        }
    }

    /// The cluster label of this test (also the container-name prefix).
    fn cluster(&self) -> &str {
        &self.prefix
    }

    fn name(&self, component: &str) -> String {
        format!("{}-{component}", self.prefix)
    }

    fn dir(&mut self) -> String {
        let d = tempfile::tempdir().expect("temp dir");
        let path = d.path().display().to_string();
        self.dirs.push(d);
        path
    }
}

fn docker_cli(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Import a small image `tag` holding one file (this machine's `/bin/sleep`) with
/// `docker import`.
fn import_one_file_image(tag: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_path_with_name("/bin/sleep", "bin/sleep")
        .expect("archiving /bin/sleep");
    let tar = tar.into_inner().expect("the archive");
    let mut child = Command::new("docker")
        .args(["import", "-", tag])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker import");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &tar).expect("writing");
    drop(child.stdin.take());
    assert!(
        child.wait().expect("docker import").success(),
        "docker import {tag}"
    );
}

impl Drop for Guard {
    fn drop(&mut self) {
        let by_name = format!("name={}", self.prefix);
        let by_label = format!("label={LABEL_CLUSTER}={}", self.prefix);
        let mut ids: Vec<String> = Vec::new();
        for filter in [&by_name, &by_label] {
            ids.extend(
                docker_cli(&["ps", "-aq", "--filter", filter])
                    .split_whitespace()
                    .map(String::from),
            );
        }
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            docker_cli(&args);
        }
        for image in &self.images {
            docker_cli(&["rmi", "-f", image]);
        }
    }
}

async fn engine() -> Docker {
    sandbox::connect_engine()
        .await
        .expect("a Docker engine on /var/run/docker.sock (bash .ci/setup-docker.sh)")
}

/// The locally built etcd image, built when absent.
async fn etcd_image(docker: &Docker) -> &'static str {
    if !images::image_present(docker, sandbox::ETCD_IMAGE)
        .await
        .unwrap()
    {
        sandbox::build_component_images(&|m| eprintln!("sandbox: {m}"))
            .await
            .expect("building the component images");
    }
    sandbox::ETCD_IMAGE
}

/// A sealed etcd spec without network: it listens on its own loopback only.
fn etcd_spec(g: &mut Guard, image: &str, extra_args: &[&str]) -> ContainerSpec {
    let data = g.dir();
    let mut args = vec![
        format!("--name={}", g.prefix),
        "--data-dir=/var/lib/etcd/data".to_string(),
    ];
    args.extend(extra_args.iter().map(|a| a.to_string()));
    let mut spec = ContainerSpec::new(
        g.cluster(),
        &g.name("etcd"),
        image,
        &["/usr/local/bin/etcd"],
        args,
    );
    spec.network_mode = "none".into();
    spec.binds.push(Bind {
        host: data,
        container: "/var/lib/etcd".into(),
        read_only: false,
        propagation: None,
    });
    spec.env.insert("ETCD_LOG_LEVEL".into(), "info".into());
    spec.seal(&|_| None);
    spec
}

fn opts() -> EnsureOptions {
    EnsureOptions::default()
}

async fn id_of(docker: &Docker, name: &str) -> String {
    observe(docker, name)
        .await
        .unwrap()
        .id()
        .unwrap_or_else(|| panic!("{name} exists"))
        .to_string()
}

/// Names of every container whose name starts with the guard's prefix.
fn names_with_prefix(g: &Guard) -> Vec<String> {
    let mut names: Vec<String> = docker_cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={}", g.prefix),
        "--format",
        "{{.Names}}",
    ])
    .split_whitespace()
    .map(String::from)
    .collect();
    names.sort();
    names
}

const STABLE: Duration = Duration::from_secs(1);
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn create_then_unchanged_then_started() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);

    assert_eq!(
        observe(&docker, &spec.name).await.unwrap(),
        Observed::Missing
    );
    let t = Instant::now();
    let action = ensure_container(&docker, &spec, &opts()).await.unwrap();
    eprintln!(
        "measured: ensure Created (create + start) took {:?}",
        t.elapsed()
    );
    assert_eq!(action, Action::Created);
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();

    let inspect = docker
        .inspect_container(&spec.name, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let labels = inspect.config.as_ref().unwrap().labels.clone().unwrap();
    for (k, v) in &spec.labels {
        assert_eq!(labels.get(k), Some(v), "label {k}");
    }
    let config = inspect.config.as_ref().unwrap();
    assert_eq!(config.entrypoint.as_ref().unwrap(), &spec.entrypoint);
    assert_eq!(config.cmd.as_ref().unwrap(), &spec.args);
    assert!(
        config
            .env
            .as_ref()
            .unwrap()
            .contains(&"ETCD_LOG_LEVEL=info".to_string())
    );
    let host = inspect.host_config.as_ref().unwrap();
    let binds: Vec<String> = spec.binds.iter().map(|b| b.to_docker()).collect();
    assert_eq!(host.binds.as_ref().unwrap(), &binds);
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(
        host.restart_policy
            .as_ref()
            .unwrap()
            .name
            .unwrap()
            .to_string(),
        "always"
    );
    // etcd wrote its data through the bind.
    assert!(Path::new(&spec.binds[0].host).join("data/member").exists());

    let id = id_of(&docker, &spec.name).await;
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let action = ensure_container(&docker, &spec, &opts()).await.unwrap();
        times.push(t.elapsed());
        assert_eq!(action, Action::Unchanged);
    }
    times.sort();
    eprintln!(
        "measured: ensure Unchanged min {:?} median {:?} max {:?} (10 runs)",
        times[0], times[5], times[9]
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);

    // Stopped with the same hash: started again, same container.
    docker
        .stop_container(&spec.name, None::<StopContainerOptions>)
        .await
        .unwrap();
    assert!(matches!(
        observe(&docker, &spec.name).await.unwrap(),
        Observed::Stopped { .. }
    ));
    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Started
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_changed_arg_replaces_the_container() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);
    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Created
    );
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();
    let old_id = id_of(&docker, &spec.name).await;

    let mut changed = spec.clone();
    changed.args.push("--heartbeat-interval=200".into());
    changed.seal(&|_| None);
    assert_ne!(changed.labels, spec.labels);
    let t = Instant::now();
    let action = ensure_container(&docker, &changed, &opts()).await.unwrap();
    eprintln!("measured: ensure Replaced took {:?}", t.elapsed());
    assert_eq!(action, Action::Replaced);

    let new_id = id_of(&docker, &spec.name).await;
    assert_ne!(new_id, old_id);
    let old = docker
        .inspect_container(&old_id, None::<InspectContainerOptions>)
        .await;
    assert!(old.is_err(), "the old container is gone");
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);
    let observed = observe(&docker, &spec.name).await.unwrap();
    assert_eq!(
        observed.hash(),
        changed
            .labels
            .get(k8s_manage::components::spec::LABEL_SPEC_HASH)
            .map(String::as_str)
    );
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();
    // And the replaced one is left alone on the next run.
    assert_eq!(
        ensure_container(&docker, &changed, &opts()).await.unwrap(),
        Action::Unchanged
    );
}

#[tokio::test]
async fn a_process_that_exits_fails_wait_running_with_exit_code_and_logs() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &["--no-such-flag"]);
    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Created
    );
    let t = Instant::now();
    let err = wait_running(
        &docker,
        &spec.name,
        Duration::from_secs(2),
        Duration::from_secs(6),
    )
    .await
    .expect_err("etcd refuses the flag");
    let text = err.to_string();
    eprintln!("wait_running failed after {:?}: {text}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(text.contains(&spec.name), "{text}");
    assert!(text.contains("last exit code"), "{text}");
    assert!(text.contains("no-such-flag"), "{text}");

    // The restart loop is seen as restarting (between two runs); a repair recreates it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let observed = loop {
        let o = observe(&docker, &spec.name).await.unwrap();
        if matches!(o, Observed::Restarting { .. }) || Instant::now() > deadline {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(observed, Observed::Restarting { .. }),
        "{observed:?}"
    );
    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Unchanged,
        "no repair unless asked"
    );
    let repair = EnsureOptions {
        recreate_unhealthy: true,
        ..opts()
    };
    let before = observed.id().unwrap().to_string();
    assert_eq!(
        ensure_container(&docker, &spec, &repair).await.unwrap(),
        Action::Recreated
    );
    assert_ne!(id_of(&docker, &spec.name).await, before);
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);

    let logs = logs::container_logs_tail(&docker, &spec.name, 5)
        .await
        .unwrap();
    assert!(logs.lines().count() <= 5, "{logs}");
}

#[tokio::test]
async fn an_interrupted_replace_converges() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);
    ensure_container(&docker, &spec, &opts()).await.unwrap();
    // Interrupted after the rename: the old container is parked, the new one missing.
    let parked = format!("{}-old-abc", spec.name);
    docker
        .rename_container(
            &spec.name,
            RenameContainerOptions {
                name: parked.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        observe(&docker, &spec.name).await.unwrap(),
        Observed::Missing
    );

    // A dry run reports the create and leaves the parked container alone.
    let dry = EnsureOptions {
        dry_run: true,
        ..opts()
    };
    assert_eq!(
        ensure_container(&docker, &spec, &dry).await.unwrap(),
        Action::Created
    );
    assert_eq!(names_with_prefix(&g), vec![parked.clone()]);

    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Created
    );
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();
    let managed = observe::list_managed(&docker, g.cluster()).await.unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].state, "running");
    assert_eq!(managed[0].component.as_deref(), Some(spec.name.as_str()));

    // Interrupted later: the old one parked (still running), the new one created but
    // not started. The parked one goes, the new one starts.
    let parked = format!("{}-old-def", spec.name);
    docker
        .rename_container(
            &spec.name,
            RenameContainerOptions {
                name: parked.clone(),
            },
        )
        .await
        .unwrap();
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            }),
            create_body::create_body(&spec).unwrap(),
        )
        .await
        .unwrap();
    let mut both = vec![spec.name.clone(), parked];
    both.sort();
    assert_eq!(names_with_prefix(&g), both);
    assert_eq!(
        ensure_container(&docker, &spec, &opts()).await.unwrap(),
        Action::Started
    );
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);
    let dry = EnsureOptions {
        dry_run: true,
        ..opts()
    };
    assert_eq!(
        ensure_container(&docker, &spec, &dry).await.unwrap(),
        Action::Created
    );
    assert_eq!(
        observe(&docker, &spec.name).await.unwrap(),
        Observed::Missing
    );
    assert!(names_with_prefix(&g).is_empty());

    ensure_container(&docker, &spec, &opts()).await.unwrap();
    let id = id_of(&docker, &spec.name).await;
    let mut changed = spec.clone();
    changed.args.push("--heartbeat-interval=200".into());
    changed.seal(&|_| None);
    assert_eq!(
        ensure_container(&docker, &changed, &dry).await.unwrap(),
        Action::Replaced
    );
    assert_eq!(
        ensure_container(&docker, &spec, &dry).await.unwrap(),
        Action::Unchanged
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);
    assert!(matches!(
        observe(&docker, &spec.name).await.unwrap(),
        Observed::Running { .. }
    ));
}

#[tokio::test]
async fn remove_managed_removes_exactly_one_clusters_containers() {
    let docker = engine().await;
    let mut g = Guard::new();
    let mut other = Guard::new();
    let image = etcd_image(&docker).await;
    let a = etcd_spec(&mut g, image, &[]);
    let mut b = a.clone();
    b.name = g.name("second");
    b.labels.insert(
        k8s_manage::components::spec::LABEL_COMPONENT.into(),
        b.name.clone(),
    );
    b.binds[0].host = g.dir();
    b.seal(&|_| None);
    let foreign = etcd_spec(&mut other, image, &[]);
    for spec in [&a, &b, &foreign] {
        assert_eq!(
            ensure_container(&docker, spec, &opts()).await.unwrap(),
            Action::Created
        );
    }
    // A parked old container of the cluster goes too.
    let parked = format!("{}-old-0123", b.name);
    docker
        .rename_container(
            &b.name,
            RenameContainerOptions {
                name: parked.clone(),
            },
        )
        .await
        .unwrap();

    let listed: Vec<String> = observe::list_managed(&docker, g.cluster())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut expected = vec![a.name.clone(), parked.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    let removed = remove::remove_managed(&docker, g.cluster()).await.unwrap();
    assert_eq!(removed, expected);
    assert!(names_with_prefix(&g).is_empty());
    assert!(
        observe::list_managed(&docker, g.cluster())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        observe(&docker, &foreign.name).await.unwrap(),
        Observed::Running { .. }
    ));
    assert_eq!(
        remove::remove_managed(&docker, other.cluster())
            .await
            .unwrap(),
        vec![foreign.name.clone()]
    );
}

#[tokio::test]
async fn a_container_not_made_by_the_tool_is_left_alone() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            }),
            bollard::models::ContainerCreateBody {
                image: Some(image.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = id_of(&docker, &spec.name).await;
    let text = ensure_container(&docker, &spec, &opts())
        .await
        .expect_err("not ours")
        .to_string();
    assert!(
        text.contains(&spec.name) && text.contains("not made by k8s-manage"),
        "{text}"
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);
}

#[tokio::test]
async fn a_failed_replace_puts_the_old_container_back() {
    let docker = engine().await;
    let mut g = Guard::new();
    let image = etcd_image(&docker).await;
    let spec = etcd_spec(&mut g, image, &[]);
    ensure_container(&docker, &spec, &opts()).await.unwrap();
    let id = id_of(&docker, &spec.name).await;

    // The new container is created but cannot start: its program does not exist.
    let mut broken = spec.clone();
    broken.entrypoint = vec!["/no/such/program".into()];
    broken.seal(&|_| None);
    let text = ensure_container(&docker, &broken, &opts())
        .await
        .expect_err("cannot start")
        .to_string();
    assert!(
        text.contains(&format!("replacing container {}", spec.name)),
        "{text}"
    );
    assert!(text.contains("starting the new container"), "{text}");
    assert!(
        text.contains("put back under its name and started again"),
        "{text}"
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);
    assert_eq!(names_with_prefix(&g), vec![spec.name.clone()]);
    wait_running(&docker, &spec.name, STABLE, START_TIMEOUT)
        .await
        .unwrap();

    // An image that is not on the node stops the replace before anything is touched.
    let mut absent = spec.clone();
    absent.image = format!("k8s-manage-test/absent-{}:1", g.prefix);
    absent.seal(&|_| None);
    let text = ensure_container(&docker, &absent, &opts())
        .await
        .expect_err("no image")
        .to_string();
    assert!(
        text.contains(&absent.image) && text.contains("--images"),
        "{text}"
    );
    assert_eq!(id_of(&docker, &spec.name).await, id);

    // An unsealed spec is refused.
    let mut unsealed = spec.clone();
    unsealed
        .labels
        .remove(k8s_manage::components::spec::LABEL_SPEC_HASH);
    let text = ensure_container(&docker, &unsealed, &opts())
        .await
        .expect_err("unsealed")
        .to_string();
    assert!(text.contains("seal"), "{text}");
}

#[tokio::test]
async fn images_load_from_a_saved_tar_stream() {
    let docker = engine().await;
    let mut g = Guard::new();
    let tag = format!("k8s-manage-test/sleep:{}", g.prefix);
    g.images.push(tag.clone());
    import_one_file_image(&tag);
    assert_eq!(
        images::ensure_image(&docker, &tag, Duration::from_secs(5))
            .await
            .unwrap(),
        ImageAction::Present
    );

    let mut tar: Vec<Bytes> = Vec::new();
    let mut export = docker.export_image(&tag);
    while let Some(chunk) = export.next().await {
        tar.push(chunk.unwrap());
    }
    let size: usize = tar.iter().map(|b| b.len()).sum();
    docker
        .remove_image(&tag, None::<RemoveImageOptions>, None)
        .await
        .unwrap();
    assert!(!images::image_present(&docker, &tag).await.unwrap());

    let t = Instant::now();
    let stream = futures_util::stream::iter(tar.into_iter().map(Ok::<Bytes, std::io::Error>));
    let loaded = images::load_images(&docker, stream).await.unwrap();
    eprintln!(
        "measured: load_images of {size} bytes took {:?}",
        t.elapsed()
    );
    assert_eq!(loaded, vec![tag.clone()]);
    assert!(images::image_present(&docker, &tag).await.unwrap());

    // Not a tar at all.
    let junk = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from_static(
        b"this is no image bundle",
    ))]);
    let text = images::load_images(&docker, junk)
        .await
        .expect_err("junk")
        .to_string();
    assert!(text.contains("docker save"), "{text}");
}

#[tokio::test]
async fn pulling_an_absent_image_names_it_and_suggests_a_bundle() {
    let docker = engine().await;
    let image = format!("k8s-manage-test/absent-{}:1", std::process::id());
    let t = Instant::now();
    let text = images::ensure_image(&docker, &image, Duration::from_secs(3))
        .await
        .expect_err("no registry is reachable")
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(text.contains(&image), "{text}");
    assert!(text.contains("docker.io"), "{text}");
    assert!(text.contains("--images"), "{text}");
    assert!(text.contains("mirror"), "{text}");
}
