//! Faults during a deploy, on sandbox nodes (one master, one worker), in order on one
//! sandbox: a node's disk full while it loads the image bundle (a clear error naming the
//! node, the step and the fix; nothing loaded half), SIGINT in the middle of the first
//! deploy, the SSH connections to one node dropped in the middle of a phase, and after
//! each a re-run that converges to a working cluster (both nodes Ready on the real
//! kubelets, CoreDNS running). (A wrong host key on the Docker tunnel's session is in
//! ssh_e2e.rs.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{admin_client, k8s_manage, ssh, up};

const HAPROXY: &str = "k8s-manage-sandbox/haproxy:2.6";

/// `docker exec` in a sandbox node (set-up the test does as the node's operator would).
fn in_node(container: &str, script: &str) -> (bool, String) {
    let o = Command::new("docker")
        .args(["exec", container, "sh", "-c", script])
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Run `k8s-manage deploy` with text output; when a progress line contains `at`, call
/// `act` (once). The exit status, and stdout + stderr.
fn deploy_acting(dir: &Path, extra: &[&str], at: &str, act: &mut dyn FnMut(u32)) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["deploy", "-p"])
        .arg(dir)
        .args(extra)
        .args(["--wait-seconds", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let mut seen = String::new();
    let mut acted = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap_or_default();
        seen.push_str(&line);
        seen.push('\n');
        if !acted && line.starts_with("==> ") && line.contains(at) {
            acted = true;
            act(child.id());
        }
    }
    let status = child.wait().unwrap();
    assert!(acted, "the deploy never reached `{at}`:\n{seen}");
    let code = status.code().unwrap_or(-1);
    (code, format!("{}{seen}", out_reader.join().unwrap()))
}

fn managed_containers(dir: &Path, host: &str) -> Vec<String> {
    let o = ssh(dir, host)
        .run_root(
            "list",
            "docker ps -a --filter label=io.k8s-manage.managed=true --format '{{.Names}}'",
            Duration::from_secs(30),
        )
        .unwrap();
    let mut v: Vec<String> = o.stdout_str().lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn faults_in_the_middle_of_a_deploy_are_named_and_a_rerun_converges() {
    let sb = up("ea-faults", 1, 1, false);
    let dir = sb.dir.clone();
    let worker = format!("{}-worker1", sb.name);

    // 1. The worker's disk is full where its Docker engine unpacks images (a 1 MiB tmpfs
    //    over the engine's tmp folder): the bundle's load fails, naming node, step, cause
    //    and fix; the image is not there afterwards.
    let (ok, out) = in_node(
        &worker,
        &format!(
            "docker rmi {HAPROXY} >/dev/null && root=$(docker info -f '{{{{.DockerRootDir}}}}') && \
             mkdir -p $root/tmp && mount -t tmpfs -o size=1m tmpfs $root/tmp && echo $root"
        ),
    );
    assert!(ok, "{out}");
    let docker_root = out.trim().to_string();
    let bundle = dir.join("bundle.tar");
    let st = Command::new("docker")
        .args(["save", "-o"])
        .arg(&bundle)
        .arg(HAPROXY)
        .status()
        .unwrap();
    assert!(st.success());
    for relay in ["on", "off"] {
        let (code, report, stderr) = k8s_manage(
            &[
                "deploy",
                "--images",
                bundle.to_str().unwrap(),
                "--relay",
                relay,
            ],
            &dir,
        );
        assert_eq!(code, 1, "relay {relay}: {report:#} {stderr}");
        assert_eq!(report["failed_phase"], "images", "{report:#}");
        let errors = report["errors"].to_string();
        assert!(
            errors.contains("worker1")
                && errors.contains("images")
                && errors.contains("no space left on device")
                && errors.contains("the disk of worker1 is full"),
            "relay {relay}: {errors}"
        );
        let (present, _) = in_node(&worker, &format!("docker image inspect {HAPROXY}"));
        assert!(!present, "relay {relay}: a failed load left the image");
    }
    let (ok, out) = in_node(&worker, &format!("umount {docker_root}/tmp"));
    assert!(ok, "{out}");

    // 2. SIGINT while etcd comes up in the first deploy: the run stops at once, saying so
    let (code, out) = deploy_acting(
        &dir,
        &["--images", bundle.to_str().unwrap()],
        "waiting for etcd quorum",
        &mut |pid| unsafe {
            libc::kill(pid as i32, libc::SIGINT);
        },
    );
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("interrupted") && out.contains("run deploy again"),
        "{out}"
    );
    assert!(
        !managed_containers(&dir, "worker1").contains(&"kubelet".to_string()),
        "the deploy went on after SIGINT"
    );

    // 3. The worker's SSH connections (the main session and the Docker tunnel's) are
    //    killed while the apiserver phase runs: the run names worker1, its step and the
    //    lost connection
    let (code, out) = deploy_acting(&dir, &[], "kube-apiserver", &mut |_| {
        let (ok, msg) = in_node(&worker, "pkill -f '^sshd: root@'");
        assert!(ok, "{msg}");
    });
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: worker1: ") && out.contains("SSH connection to worker1 was lost"),
        "{out}"
    );

    // 4. A re-run converges: everything in place, no `-old-` leftover of the interrupted
    //    runs, and one more run changes nothing
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "{report:#} {stderr}");
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "{report:#} {stderr}");
    for n in report["nodes"].as_array().unwrap() {
        for key in ["created", "replaced", "started"] {
            assert_eq!(
                n[key].as_array().map_or(0, |a| a.len()),
                0,
                "not converged: {n:#}"
            );
        }
    }
    for host in ["master1", "worker1"] {
        let names = managed_containers(&dir, host);
        assert!(
            names.iter().all(|n| !n.contains("-old-")),
            "{host}: {names:?}"
        );
        assert!(names.contains(&"kubelet".to_string()), "{host}: {names:?}");
    }
    // and the cluster works: both nodes Ready, CoreDNS running
    let api = admin_client(&dir);
    let nodes = sb.rt.block_on(api.nodes()).unwrap();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.ready), "{nodes:?}");
    let dns = sb
        .rt
        .block_on(api.list_pods("kube-system", "k8s-app=kube-dns"))
        .unwrap();
    assert!(
        !dns.is_empty()
            && dns
                .iter()
                .all(|p| p.pointer("/status/phase") == Some(&serde_json::json!("Running"))),
        "{dns:#?}"
    );
}
