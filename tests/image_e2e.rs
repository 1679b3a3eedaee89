//! `image build` + `image push` against a real registry: Debian's `docker-registry` 2.8 on
//! loopback with htpasswd (bcrypt) authentication, the control host's real Docker engine.
//! Two images in dependency order (the second's Dockerfile is a Tera template whose FROM
//! is the first), pushed with the configured credentials, removed locally, pulled back
//! with the same credentials, and a file read out of the pulled image.

mod common;
#[path = "common/procs.rs"]
mod procs;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    RemoveContainerOptions, RemoveImageOptions,
};
use common::*;
use futures_util::StreamExt;
use procs::{free_port, wait_until};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const USER: &str = "builder";
const PASSWORD: &str = "pw-never-printed-7Qx";

struct Registry(Child);
impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &Path, port: u16) -> Registry {
    let hash = bcrypt::hash(PASSWORD, 10).unwrap();
    std::fs::write(dir.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: k8s-manage-test\n    path: {}\n",
        dir.join("data").display(),
        dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
        .spawn()
        .expect("docker-registry (Debian package docker-registry) must be installed");
    let r = Registry(child);
    wait_until("the registry answers", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    r
}

#[test]
fn build_push_and_pull_back_through_an_authenticated_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _registry = start_registry(tmp.path(), port);
    let domain = format!("127.0.0.1:{port}");
    let namespace = format!("wt-svc-test-{}", std::process::id());
    let (_t, dir) = config_dir(&standard(1, 0, false), K8S_OK);
    std::fs::write(
        dir.join("services-configuration.yaml"),
        format!("cluster:\n  docker-registry-info:\n    docker-namespace: {namespace}\n    docker-registry-domain: {domain}\n    docker-username: {USER}\n    docker-password: {PASSWORD}\n    docker-tag: t1\n"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("services/service.yaml"),
        "imagelist:\n  app:\n    prerequisite: base\n    template-list: [Dockerfile, greeting.txt]\n  base:\n    prerequisite: None\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src/base")).unwrap();
    std::fs::write(
        dir.join("src/base/Dockerfile"),
        "FROM scratch\nCOPY base.txt /base.txt\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/base/base.txt"), "from the base image\n").unwrap();
    std::fs::create_dir_all(dir.join("src/app")).unwrap();
    std::fs::write(
        dir.join("src/app/Dockerfile"),
        "FROM {{ images.base }}\nCOPY greeting.txt /greeting.txt\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/app/greeting.txt"),
        "built for {{ cluster.name }} with tag {{ registry.tag }}\n",
    )
    .unwrap();
    let base_ref = format!("{domain}/{namespace}/base:t1");
    let app_ref = format!("{domain}/{namespace}/app:t1");

    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run_cli(&["image", "build", "-n", "app"], &dir);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // dependency order: the base first, then the image built FROM it
    let b = stdout.find(&base_ref).expect(&stdout);
    let a = stdout.find(&app_ref).expect(&stdout);
    assert!(b < a, "{stdout}");
    let (code, stdout, stderr) = run_cli(&["image", "push", "-n", "all"], &dir);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    eprintln!(
        "build + push of 2 images: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSWORD), "the password was printed");
    }

    // a push without credentials is refused by the registry: authentication is real
    let rt = tokio::runtime::Runtime::new().unwrap();
    let docker = Docker::connect_with_unix_defaults().unwrap();
    let anonymous = rt.block_on(async {
        let mut s = docker.push_image(
            &format!("{domain}/{namespace}/app"),
            Some(bollard::query_parameters::PushImageOptions {
                tag: Some("t1".into()),
                ..Default::default()
            }),
            None,
        );
        let mut failed = false;
        while let Some(i) = s.next().await {
            match i {
                Err(_) => failed = true,
                Ok(i) if i.error_detail.is_some() => failed = true,
                _ => {}
            }
        }
        failed
    });
    assert!(
        anonymous,
        "the registry accepted a push without credentials"
    );

    // remove the local copies, pull back with the credentials, read the files
    rt.block_on(async {
        for r in [&app_ref, &base_ref] {
            docker
                .remove_image(
                    r,
                    Some(RemoveImageOptions {
                        force: true,
                        ..Default::default()
                    }),
                    None,
                )
                .await
                .unwrap();
        }
        let creds = DockerCredentials {
            username: Some(USER.into()),
            password: Some(PASSWORD.into()),
            serveraddress: Some(domain.clone()),
            ..Default::default()
        };
        let mut s = docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(format!("{domain}/{namespace}/app")),
                tag: Some("t1".into()),
                ..Default::default()
            }),
            None,
            Some(creds),
        );
        while let Some(i) = s.next().await {
            let i = i.unwrap();
            assert!(i.error_detail.is_none(), "{i:?}");
        }
        let name = format!("{namespace}-check");
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                bollard::models::ContainerCreateBody {
                    image: Some(app_ref.clone()),
                    cmd: Some(vec!["/none".into()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let read = |path: &'static str| {
            let docker = docker.clone();
            let name = name.clone();
            async move {
                let mut s = docker.download_from_container(
                    &name,
                    Some(DownloadFromContainerOptions { path: path.into() }),
                );
                let mut bytes = Vec::new();
                while let Some(c) = s.next().await {
                    bytes.extend_from_slice(&c.unwrap());
                }
                let mut ar = tar::Archive::new(bytes.as_slice());
                let mut text = String::new();
                ar.entries()
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                text
            }
        };
        let greeting = read("/greeting.txt").await;
        let base = read("/base.txt").await;
        docker
            .remove_container(
                &name,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        for r in [&app_ref, &base_ref] {
            let _ = docker
                .remove_image(
                    r,
                    Some(RemoveImageOptions {
                        force: true,
                        ..Default::default()
                    }),
                    None,
                )
                .await;
        }
        assert_eq!(greeting, "built for kubernetes with tag t1\n");
        assert_eq!(base, "from the base image\n");
    });
}

#[test]
fn bad_image_input_is_exit_2_with_located_errors() {
    let (_t, dir) = config_dir(&standard(1, 0, false), K8S_OK);
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("services/service.yaml"),
        "imagelist:\n  a:\n    prerequisite: b\n  b:\n    prerequisite: a\n  c:\n    prerequisit: a\n",
    )
    .unwrap();
    for n in ["a", "b", "c"] {
        std::fs::create_dir_all(dir.join("src").join(n)).unwrap();
        std::fs::write(dir.join("src").join(n).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    let (code, _, stderr) = run_cli(&["image", "build", "-n", "all"], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("service.yaml:5:19") && stderr.contains("cycle"),
        "{stderr}"
    );
    assert!(
        stderr.contains("service.yaml:7:5") && stderr.contains("did you mean `prerequisite`"),
        "{stderr}"
    );
    // unknown image name
    std::fs::write(dir.join("services/service.yaml"), "imagelist:\n  a: {}\n").unwrap();
    let (code, _, stderr) = run_cli(&["image", "build", "-n", "zz"], &dir);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown image `zz`"), "{stderr}");
}
