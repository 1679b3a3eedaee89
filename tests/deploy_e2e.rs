//! End to end on sandbox nodes (real sshd, real Docker engines, real etcd and haproxy; the
//! Kubernetes binaries are the test-only stand-ins): deploy, re-deploy, change, failure,
//! interruption, wrong host key, clean.

use k8s_manage::sandbox;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
use cluster_sandbox::{cluster, k8s_manage, ssh, up};

fn replaced(report: &Value) -> Vec<String> {
    let mut v = Vec::new();
    for n in report["nodes"].as_array().cloned().unwrap_or_default() {
        for key in ["created", "replaced", "started"] {
            for c in n[key].as_array().cloned().unwrap_or_default() {
                v.push(format!(
                    "{}/{}",
                    n["host"].as_str().unwrap_or(""),
                    c.as_str().unwrap_or("")
                ));
            }
        }
    }
    v
}

const READYZ_VIA: &str = "printf 'GET /readyz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:PORT -cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | head -1";

#[test]
fn three_masters_two_workers_full_lifecycle() {
    let sb = up("e2e-deploy", 3, 2, false);
    let dir = sb.dir.clone();

    // deploy from nothing
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    assert!(dir.join(".k8s-manage/admin.kubeconfig").exists());

    // etcd: the real etcdctl on a node, with the healthcheck client certificate
    let s = ssh(&dir, "master1");
    let o = s
        .run_root(
            "etcdctl",
            "docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health --cluster -w json",
            Duration::from_secs(30),
        )
        .unwrap();
    let health: Value = serde_json::from_str(&o.stdout_str()).unwrap_or(Value::Null);
    let healthy = health
        .as_array()
        .map(|a| a.iter().filter(|e| e["health"] == true).count())
        .unwrap_or(0);
    assert_eq!(healthy, 3, "{}", o.stdout_str());

    // /readyz through every node's local load balancer
    let c = cluster(&dir);
    for m in &c.machines {
        let o = ssh(&dir, &m.hostname)
            .run_root(
                "readyz via local LB",
                &READYZ_VIA.replace("PORT", "6444"),
                Duration::from_secs(20),
            )
            .unwrap();
        assert!(
            o.stdout_str().contains("200"),
            "{}: {}",
            m.hostname,
            o.stdout_str()
        );
    }

    // without a client certificate: etcd, the API and the kubelet refuse
    let master_ip = c.masters().next().unwrap().hostip;
    let ca = dir.join(".k8s-manage/pki/ca.crt");
    let etcd_ca = dir.join(".k8s-manage/pki/etcd/ca.crt");
    let o = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints=https://{master_ip}:2379"),
            &format!("--cacert={}", etcd_ca.display()),
            "--dial-timeout=3s",
            "--command-timeout=5s",
            "get",
            "x",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "etcd answered a client without a certificate"
    );
    for url in [
        format!("https://{master_ip}:6443/api/v1/nodes"),
        format!("https://{}:10250/pods", c.machines[4].hostip),
    ] {
        // a plain HTTPS client without a certificate: either the handshake fails or 401
        let status = reqwest_blocking_status(&url, &ca);
        assert!(
            status.is_none() || status == Some(401),
            "{url} answered {status:?} without a client certificate"
        );
    }

    // every node registered (real kubectl from Debian, through the admin kubeconfig)
    let o = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(dir.join(".k8s-manage/admin.kubeconfig"))
        .args(["get", "--raw", "/api/v1/nodes"])
        .output()
        .expect("kubectl (Debian kubernetes-client)");
    let nodes: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert_eq!(
        nodes["items"].as_array().map(|a| a.len()),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // a second deploy replaces nothing
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        replaced(&report),
        Vec::<String>::new(),
        "second deploy changed containers"
    );

    // one apiserver setting: only the apiservers are replaced
    let k8s = std::fs::read_to_string(dir.join("kubernetes-configuration.yaml")).unwrap();
    std::fs::write(
        dir.join("kubernetes-configuration.yaml"),
        format!("{k8s}\n  extra-args:\n    kube-apiserver:\n      audit-log-maxage: \"7\"\n"),
    )
    .unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "{stderr}");
    let mut changed = replaced(&report);
    changed.sort();
    assert_eq!(
        changed,
        vec![
            "master1/kube-apiserver",
            "master2/kube-apiserver",
            "master3/kube-apiserver"
        ]
    );

    // interrupted deploy: change something, SIGINT mid-run, deploy again converges
    std::fs::write(
        dir.join("kubernetes-configuration.yaml"),
        format!("{k8s}\n  extra-args:\n    kube-apiserver:\n      audit-log-maxage: \"9\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["deploy", "-p"])
        .arg(&dir)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let _ = child.wait();
    let (code, _, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy after an interruption: {stderr}");
    let (code, report, _) = k8s_manage(&["deploy"], &dir);
    assert_eq!(
        (code, replaced(&report)),
        (0, vec![]),
        "not converged after an interruption"
    );

    // a master's node goes away: the API still answers from a worker through its local LB
    let rt = &sb.rt;
    let docker = rt.block_on(sandbox::connect_engine()).unwrap();
    let stopped = format!("{}-master1", sb.name);
    rt.block_on(docker.stop_container(
        &stopped,
        None::<bollard::query_parameters::StopContainerOptions>,
    ))
    .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    let o = ssh(&dir, "worker1")
        .run_root(
            "readyz via local LB",
            &READYZ_VIA.replace("PORT", "6444"),
            Duration::from_secs(20),
        )
        .unwrap();
    assert!(
        o.stdout_str().contains("200"),
        "worker1 after losing master1: {}",
        o.stdout_str()
    );
    rt.block_on(docker.start_container(
        &stopped,
        None::<bollard::query_parameters::StartContainerOptions>,
    ))
    .unwrap();

    // clean: an etcd snapshot first, kept on the control host; then nothing of ours
    // remains on any node
    let (code, _, stderr) = k8s_manage(&["clean", "--yes"], &dir);
    assert_eq!(code, 0, "{stderr}");
    let snaps: Vec<String> = std::fs::read_dir(dir.join(".k8s-manage/snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        snaps
            .iter()
            .any(|n| n.starts_with("auto-clean-") && n.ends_with(".db")),
        "no auto-clean snapshot before clean: {snaps:?}\n{stderr}"
    );
    for m in &c.machines {
        if m.hostname == "master1" {
            continue; // restarted; its dockerd may still be starting
        }
        let s = ssh(&dir, &m.hostname);
        let o = s.run_root("left", "docker ps -aq --filter label=io.k8s-manage.managed=true | wc -l; ls -d /etc/kubernetes /var/lib/kubelet /var/lib/etcd 2>/dev/null | wc -l", Duration::from_secs(20)).unwrap();
        assert_eq!(
            o.stdout_str().split_whitespace().collect::<Vec<_>>(),
            vec!["0", "0"],
            "{}",
            m.hostname
        );
    }
}

/// GET without a client certificate; the HTTP status, or None when TLS refused us.
fn reqwest_blocking_status(url: &str, ca: &Path) -> Option<u16> {
    let ca = std::fs::read(ca).ok()?;
    let rt = tokio::runtime::Runtime::new().ok()?;
    rt.block_on(async {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()).flatten() {
            roots.add(c).ok()?;
        }
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(cfg)
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        client
            .get(url)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

#[test]
fn wrong_host_key_stops_before_any_change() {
    let sb = up("e2e-hostkey", 1, 1, false);
    let dir = sb.dir.clone();
    // replace worker1's recorded key with master1's
    let kh = dir.join(".k8s-manage/known_hosts");
    let c = cluster(&dir);
    let (m, w) = (
        c.machines[0].hostip.to_string(),
        c.machines[1].hostip.to_string(),
    );
    // without a terminal nobody can be asked about a new host key: refused, saying how
    // to accept it; nothing recorded
    std::fs::remove_file(&kh).unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy", "--dry-run"], &dir);
    assert_eq!(code, 1, "{report:#} {stderr}");
    let said = format!("{report} {stderr}");
    assert!(
        said.contains("not a terminal") && said.contains("--accept-new-host-keys"),
        "{said}"
    );
    assert!(std::fs::read_to_string(&kh).unwrap_or_default().is_empty());
    // record both keys (TOFU with --accept-new-host-keys), then swap them
    let (code, _, stderr) = k8s_manage(&["deploy", "--dry-run", "--accept-new-host-keys"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("new host key"), "{stderr}");
    let text = std::fs::read_to_string(&kh).unwrap();
    let key_of = |ip: &str| {
        text.lines()
            .find(|l| l.starts_with(ip) || l.starts_with(&format!("[{ip}]")))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    let (mk, wk) = (key_of(&m).unwrap(), key_of(&w).unwrap());
    let swapped: String = text
        .lines()
        .map(|l| {
            if l.starts_with(&w) || l.starts_with(&format!("[{w}]")) {
                l.replace(&wk, &mk)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&kh, swapped).unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 1, "{report:#} {stderr}");
    let errors = report["errors"].to_string();
    assert!(errors.contains("worker1"), "{errors}");
    assert_eq!(report["failed_phase"], "connect");
    // nothing changed on master1
    let o = ssh(&dir, "master1")
        .run_root(
            "ps",
            "docker ps -aq --filter label=io.k8s-manage.managed=true | wc -l",
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "0");
}

#[test]
fn proxy_node_and_single_master() {
    let sb = up("e2e-proxy", 1, 1, true);
    let dir = sb.dir.clone();
    // the haproxy image is missing on the worker: it comes from an image bundle over SSH
    let image = "k8s-manage-sandbox/haproxy:2.6";
    let o = ssh(&dir, "worker1")
        .run_root(
            "rmi",
            &format!("docker rmi {image}"),
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(o.success(), "{}", o.stderr_str());
    let bundle = dir.join("bundle.tar");
    let st = Command::new("docker")
        .args(["save", "-o"])
        .arg(&bundle)
        .arg(image)
        .status()
        .unwrap();
    assert!(st.success());
    // a dry run changes nothing but says what would be created
    let (code, report, stderr) = k8s_manage(&["deploy", "--dry-run"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(replaced(&report).len() >= 10, "{report:#}");
    let o = ssh(&dir, "master1")
        .run_root(
            "ps",
            "docker ps -aq --filter label=io.k8s-manage.managed=true | wc -l",
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "0", "dry run created containers");
    let (code, report, stderr) =
        k8s_manage(&["deploy", "--images", bundle.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    let o = ssh(&dir, "worker1")
        .run_root(
            "image",
            &format!("docker image inspect {image} >/dev/null && echo present"),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "present");

    // install-kubectl merges the admin context next to an existing one and /readyz answers
    let kubeconfig = dir.join("kube-config");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://127.0.0.1:1}\nusers:\n- name: o\n  user: {token: t}\ncontexts:\n- name: o@other\n  context: {cluster: other, user: o}\ncurrent-context: o@other\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args(["install-kubectl", "-p"])
        .arg(&dir)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/readyz says ok"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let merged: Value = serde_json::to_value(
        serde_saphyr::from_str::<Value>(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(merged["contexts"].as_array().map(|a| a.len()), Some(2));
    assert_eq!(merged["current-context"], "o@other");
    let c = cluster(&dir);
    let proxy = c.proxies().next().unwrap();
    // the proxy node's haproxy answers /readyz from outside with a client certificate
    let o = ssh(&dir, &proxy.hostname)
        .run_root(
            "readyz via proxy LB",
            &READYZ_VIA.replace("127.0.0.1:PORT", &format!("{}:6443", proxy.hostip)),
            Duration::from_secs(20),
        )
        .unwrap();
    assert!(o.stdout_str().contains("200"), "{}", o.stdout_str());
    // repair: a worker's kubelet and the master's scheduler are deleted; repair brings both
    // back and never restarts the master's etcd or apiserver
    let ids = |host: &str| -> String {
        ssh(&dir, host)
            .run_root(
                "ids",
                "docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}' etcd kube-apiserver",
                Duration::from_secs(20),
            )
            .unwrap()
            .stdout_str()
    };
    let before = ids("master1");
    ssh(&dir, "worker1")
        .run_root("break", "docker rm -f kubelet", Duration::from_secs(30))
        .unwrap();
    ssh(&dir, "master1")
        .run_root(
            "break",
            "docker rm -f kube-scheduler",
            Duration::from_secs(30),
        )
        .unwrap();
    let list = dir.join("broken.yaml");
    std::fs::write(&list, format!("machine-list:\n  - hostname: master1\n    hostip: {}\n    k8s-role: master\n    etcdid: etcd1\n  - hostname: worker1\n    hostip: {}\n    k8s-role: worker\n", c.machines[0].hostip, c.machines[1].hostip)).unwrap();
    let (code, report, stderr) = k8s_manage(&["repair", "-f", list.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "repair failed: {report:#}\n{stderr}");
    let mut back = replaced(&report);
    back.sort();
    assert_eq!(back, vec!["master1/kube-scheduler", "worker1/kubelet"]);
    assert_eq!(
        ids("master1"),
        before,
        "repair restarted a healthy etcd or apiserver"
    );
    assert_eq!(report["action"], "repair");

    let (code, _, stderr) = k8s_manage(&["clean", "--yes"], &dir);
    assert_eq!(code, 0, "{stderr}");
}
