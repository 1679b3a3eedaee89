//! End to end on sandbox nodes running the real upstream components (kube-apiserver,
//! kube-controller-manager, kube-scheduler, kubelet, kube-proxy, cri-dockerd, etcd,
//! CoreDNS, flannel; built from source here, or pulled where a registry answers).
//!
//! One 3-master + 1-worker cluster serves the whole deploy lifecycle, in order (a
//! real cluster costs minutes on two cores): host keys checked before anything changes (no
//! terminal to ask, then a wrong key); a dry run; deploy from nothing with the haproxy
//! image coming from a bundle; nodes Ready, add-on pods Running, /readyz everywhere, TLS
//! client certificates required; a 3-replica Deployment behind a Service answering a pod on
//! another node; install-kubectl; re-deploy (nothing replaced); a changed apiserver setting
//! (only the apiservers replaced, the workload still answering); an interrupted deploy;
//! repair of a deleted kubelet and scheduler; the loss of a master; clean. (RBAC and the
//! Node authorizer, and /readyz through a proxy node, on 3 masters + 2 workers + a proxy:
//! real_cluster_e2e.rs.)

use k8s_manage::sandbox;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/workloads.rs"]
mod workloads;

use cluster_sandbox::{cluster, k8s_manage, managed_containers, ssh, up};
use kubectl::Kubectl;

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

/// GET /readyz at HOSTPORT from a node, with the load balancers' health-check client
/// certificate; the HTTP status line.
const READYZ_VIA: &str = "printf 'GET /readyz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -connect HOSTPORT -cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | head -1";

/// The status line of /readyz through `host`'s load balancer: the proxy node's on
/// `IP:6443`, every other node's local one on 127.0.0.1:6444.
fn readyz_on(dir: &Path, c: &k8s_manage::model::Cluster, host: &str) -> String {
    let m = c.machine(host).unwrap();
    let target = if m.role.to_string() == "proxy" {
        format!("{}:6443", m.hostip)
    } else {
        "127.0.0.1:6444".into()
    };
    ssh(dir, host)
        .run_root(
            "readyz",
            &READYZ_VIA.replace("HOSTPORT", &target),
            Duration::from_secs(20),
        )
        .unwrap()
        .stdout_str()
}

/// Print how long a step took (the e2e's time matters: CI runs it on two cores).
fn lap(clock: &mut Instant, step: &str) {
    eprintln!("[lifecycle] {step}: {:.1} s", clock.elapsed().as_secs_f64());
    *clock = Instant::now();
}

/// Before anything changes: without a terminal nobody can be asked about a new host key
/// (refused, saying how to accept it, nothing recorded); `--accept-new-host-keys` records
/// them; a wrong key for worker1 (master1's) stops the deploy in the connect phase with
/// nothing started anywhere. Leaves the true keys recorded.
fn host_keys_are_checked_before_any_change(dir: &Path, c: &k8s_manage::model::Cluster) {
    let kh = dir.join(".k8s-manage/known_hosts");
    let (m, w) = (
        c.machine("master1").unwrap().hostip.to_string(),
        c.machine("worker1").unwrap().hostip.to_string(),
    );
    let _ = std::fs::remove_file(&kh);
    let (code, report, stderr) = k8s_manage(&["deploy", "--dry-run"], dir);
    assert_eq!(code, 1, "{report:#} {stderr}");
    let said = format!("{report} {stderr}");
    assert!(
        said.contains("not a terminal") && said.contains("--accept-new-host-keys"),
        "{said}"
    );
    assert!(std::fs::read_to_string(&kh).unwrap_or_default().is_empty());

    // TOFU with --accept-new-host-keys; a dry run says what it would create, creates nothing
    let (code, report, stderr) =
        k8s_manage(&["deploy", "--dry-run", "--accept-new-host-keys"], dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("new host key"), "{stderr}");
    let would = replaced(&report);
    for m in &c.machines {
        assert!(
            would
                .iter()
                .any(|r| r.starts_with(&format!("{}/", m.hostname))),
            "the dry run creates nothing on {}: {report:#}",
            m.hostname
        );
        assert_eq!(
            managed_containers(dir, &m.hostname),
            "0",
            "dry run created containers"
        );
    }

    // worker1's recorded key replaced by master1's
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
    let (code, report, stderr) = k8s_manage(&["deploy"], dir);
    assert_eq!(code, 1, "{report:#} {stderr}");
    let errors = report["errors"].to_string();
    assert!(errors.contains("worker1"), "{errors}");
    assert_eq!(report["failed_phase"], "connect");
    assert_eq!(managed_containers(dir, "master1"), "0", "a node changed");
    std::fs::write(&kh, text).unwrap();
}

#[test]
fn deploy_lifecycle_on_three_masters_and_a_worker() {
    let total = Instant::now();
    let mut clock = Instant::now();
    let sb = up("ea-deploy", 3, 1, false);
    let dir = sb.dir.clone();
    let c = cluster(&dir);
    let version = c.kubernetes.version.to_string();
    let domain = c.kubernetes.cluster_domain.clone();
    lap(&mut clock, "sandbox up");

    host_keys_are_checked_before_any_change(&dir, &c);
    lap(&mut clock, "host keys, dry run");

    // The haproxy image is missing on worker1: it comes from an image bundle over SSH.
    let image = sandbox::HAPROXY_IMAGE;
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

    // deploy from nothing
    let (code, report, stderr) =
        k8s_manage(&["deploy", "--images", bundle.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    assert!(dir.join(".k8s-manage/admin.kubeconfig").exists());
    let o = ssh(&dir, "worker1")
        .run_root(
            "image",
            &format!("docker image inspect {image} >/dev/null && echo present"),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "present");
    lap(&mut clock, "deploy from nothing");
    let k = Kubectl::new(&sb.rt, &dir, &version);

    // etcd: the real etcdctl on a node, with the healthcheck client certificate
    let o = ssh(&dir, "master1")
        .run_root(
            "etcdctl",
            "docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health --cluster -w json",
            Duration::from_secs(30),
        )
        .unwrap();
    let v: Value = serde_json::from_str(&o.stdout_str()).unwrap_or(Value::Null);
    let healthy = v
        .as_array()
        .map(|a| a.iter().filter(|e| e["health"] == true).count())
        .unwrap_or(0);
    assert_eq!(healthy, 3, "{}{}", o.stdout_str(), o.stderr_str());

    // Every node Ready, reporting the real kubelet version.
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}",
    ]);
    assert_eq!(nodes.lines().count(), c.machines.len(), "{nodes}");
    for m in &c.machines {
        assert!(
            nodes
                .lines()
                .any(|l| l == format!("{} True {version}", m.nodename)),
            "{} is not Ready at {version}:\n{nodes}",
            m.hostname
        );
    }

    // Every add-on pod Running and Ready: CoreDNS, and flannel on every node.
    let pods = k.ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.nodeName} {.status.phase} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    assert!(pods.contains("kube-system/coredns-"), "{pods}");
    for m in &c.machines {
        assert!(
            pods.lines().any(|l| l.starts_with("kube-flannel/")
                && l.contains(&format!(" {} ", m.nodename))),
            "no flannel pod on {}:\n{pods}",
            m.hostname
        );
    }
    for line in pods.lines() {
        assert!(line.ends_with("Running True"), "{pods}");
    }
    // CoreDNS's replicas on different nodes (losing one node must not take DNS away).
    let dns_nodes: std::collections::BTreeSet<&str> = pods
        .lines()
        .filter(|l| l.starts_with("kube-system/coredns-"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(dns_nodes.len(), 2, "{pods}");

    // /readyz through every node's local load balancer, and through the admin kubeconfig
    // (which points at master1).
    for m in &c.machines {
        let o = readyz_on(&dir, &c, &m.hostname);
        assert!(o.contains("200"), "{}: {o}", m.hostname);
    }
    assert_eq!(k.ok(&["get", "--raw", "/readyz"]).trim(), "ok");

    // Without a client certificate: etcd, the API and the kubelet refuse.
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
    let worker1 = c.machine("worker1").unwrap().hostip;
    for url in [
        format!("https://{master_ip}:6443/api/v1/nodes"),
        format!("https://{worker1}:10250/pods"),
    ] {
        // A plain HTTPS client without a certificate: the handshake fails, or 401/403.
        let status = reqwest_blocking_status(&url, &ca);
        assert!(
            matches!(status, None | Some(401) | Some(403)),
            "{url} answered {status:?} without a client certificate"
        );
    }
    lap(&mut clock, "nodes, add-ons, readyz, TLS checks");

    // A 3-replica Deployment on the worker; a client pod on a master other than master3
    // (which goes away below) answers through the Service (another node, so the pod
    // network and kube-proxy carry it) and DNS; logs and exec reach the kubelet.
    workloads::deploy_web(&k);
    let on = workloads::web_nodes(&k);
    assert_eq!(on.len(), 3, "{on:?}");
    for n in &on {
        let m = c.machines.iter().find(|m| &m.nodename == n).unwrap();
        assert_eq!(m.role.to_string(), "worker", "{on:?}");
    }
    let client_node = c.machine("master2").unwrap().nodename.clone();
    workloads::start_client(&k, "client", &client_node);
    workloads::check_service_and_dns(&k, "client", &domain);
    workloads::check_logs_and_exec(&k, "client", &client_node);
    lap(&mut clock, "workload, Service, DNS, logs/exec");

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

    // a second deploy replaces nothing, and leaves the workload alone
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        replaced(&report),
        Vec::<String>::new(),
        "second deploy changed containers"
    );
    lap(&mut clock, "install-kubectl, no-op re-deploy");

    // one apiserver setting: only the apiservers are replaced, and the workload still
    // answers (Service from the client pod; exec through the new apiservers)
    // (The sandbox's config already has `extra-args:`, for kube-proxy.)
    let k8s = std::fs::read_to_string(dir.join("kubernetes-configuration.yaml")).unwrap();
    assert!(k8s.contains("\n  extra-args:\n"), "{k8s}");
    let with_maxage = |days: u32| {
        k8s.replacen(
            "\n  extra-args:\n",
            &format!("\n  extra-args:\n    kube-apiserver:\n      audit-log-maxage: \"{days}\"\n"),
            1,
        )
    };
    std::fs::write(dir.join("kubernetes-configuration.yaml"), with_maxage(7)).unwrap();
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
    let o = ssh(&dir, "master3")
        .run_root(
            "apiserver flag",
            "docker inspect -f '{{join .Args \" \"}}' kube-apiserver",
            Duration::from_secs(20),
        )
        .unwrap();
    assert!(
        o.stdout_str().contains("--audit-log-maxage=7"),
        "{}",
        o.stdout_str()
    );
    assert!(
        workloads::service_answers(&k, "client", &domain, Duration::from_secs(5)),
        "the Service stopped answering after the apiservers were replaced"
    );
    k.wait_for(
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        Duration::from_secs(60),
        |o| o.trim() == "3",
    );
    lap(&mut clock, "apiserver change");

    // interrupted deploy: change something, SIGINT mid-run, deploy again converges
    std::fs::write(dir.join("kubernetes-configuration.yaml"), with_maxage(9)).unwrap();
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
    lap(&mut clock, "interrupted deploy and convergence");

    // repair: worker1's kubelet and master1's scheduler are deleted; repair brings both
    // back, never restarts master1's etcd or apiserver, and the kubelet runs a new pod
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
    std::fs::write(
        &list,
        "machine-list:\n  - hostname: master1\n  - hostname: worker1\n",
    )
    .unwrap();
    let (code, report, stderr) = k8s_manage(&["repair", "-f", list.to_str().unwrap()], &dir);
    assert_eq!(code, 0, "repair failed: {report:#}\n{stderr}");
    assert_eq!(report["action"], "repair");
    let mut back = replaced(&report);
    back.sort();
    assert_eq!(back, vec!["master1/kube-scheduler", "worker1/kubelet"]);
    assert_eq!(
        ids("master1"),
        before,
        "repair restarted a healthy etcd or apiserver"
    );
    let worker1 = &c.machine("worker1").unwrap().nodename;
    k.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: after-repair\n  namespace: default\nspec:\n  \
         nodeSelector:\n    kubernetes.io/hostname: \"{worker1}\"\n  terminationGracePeriodSeconds: 1\n  \
         containers:\n    - name: sh\n      image: {}\n      command: [\"sleep\", \"100000\"]\n",
        workloads::IMAGE
    ));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/after-repair",
        "--timeout=180s",
    ]);
    lap(&mut clock, "repair");

    // A master's node goes away: the API still answers from the worker through its local
    // LB and from outside through master1, and the workload still serves.
    let rt = &sb.rt;
    let docker = rt.block_on(sandbox::connect_engine()).unwrap();
    let stopped = format!("{}-master3", sb.name);
    rt.block_on(docker.stop_container(
        &stopped,
        None::<bollard::query_parameters::StopContainerOptions>,
    ))
    .unwrap();
    let lost = Instant::now();
    let mut last = String::new();
    while lost.elapsed() < Duration::from_secs(60) {
        last = readyz_on(&dir, &c, "worker1");
        if last.contains("200") {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(last.contains("200"), "worker1 after losing master3: {last}");
    k.wait_for(&["get", "--raw", "/readyz"], Duration::from_secs(60), |o| {
        o.trim() == "ok"
    });
    let answered = (0..30).any(|_| {
        workloads::service_answers(&k, "client", &domain, Duration::from_secs(5)) || {
            std::thread::sleep(Duration::from_secs(2));
            false
        }
    });
    if !answered {
        for args in [
            &["get", "pods", "-A", "-o", "wide"][..],
            &["get", "endpointslices", "-A"][..],
        ] {
            let o = k.run(args);
            eprintln!("kubectl {args:?}:\n{}{}", o.stdout, o.stderr);
        }
        let (code, out, err) = workloads::exec(
            &k,
            "client",
            &workloads::http_get(&format!("web.default.svc.{domain}")),
        );
        eprintln!("GET web from the client: exit {code}: {out}{err}");
    }
    assert!(answered, "the Service stopped answering without master3");
    rt.block_on(docker.start_container(
        &stopped,
        None::<bollard::query_parameters::StartContainerOptions>,
    ))
    .unwrap();
    // Its node boots again: clean needs every node, so wait until its sshd answers.
    let ip = c.machine("master3").unwrap().hostip;
    let back = Instant::now();
    while std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::new(ip, 22),
        Duration::from_secs(3),
    )
    .is_err()
    {
        if back.elapsed() > Duration::from_secs(180) {
            // what the node container did: its state and the end of its output
            let state = std::process::Command::new("docker")
                .args(["inspect", "-f", "{{json .State}}", &stopped])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let logs = std::process::Command::new("docker")
                .args(["logs", "--tail", "40", &stopped])
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_default();
            panic!(
                "master3's sshd did not come back after its restart\nstate: {state}\nlogs:\n{logs}"
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "[lifecycle] master3's sshd answers {:.1} s after its restart",
        back.elapsed().as_secs_f64()
    );
    lap(&mut clock, "master3 lost");

    // clean: an etcd snapshot first, kept on the control host; then nothing of ours
    // remains on any node: no container of ours or of the pods, no directory
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
        if m.hostname == "master3" {
            continue; // restarted; its dockerd may still be starting
        }
        let s = ssh(&dir, &m.hostname);
        let o = s.run_root("left", "docker ps -aq --filter label=io.k8s-manage.managed=true | wc -l; docker ps -aq --filter label=io.kubernetes.pod.name | wc -l; ls -d /etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/cni/net.d /run/flannel 2>/dev/null | wc -l; ip -br link | grep -cE '^(cni0|flannel\\.1)[ @]' || true", Duration::from_secs(20)).unwrap();
        assert_eq!(
            o.stdout_str().split_whitespace().collect::<Vec<_>>(),
            vec!["0", "0", "0", "0"],
            "{}: managed containers, pod containers, directories, pod network links left",
            m.hostname
        );
    }
    lap(&mut clock, "clean");
    eprintln!("[lifecycle] total: {:.1} s", total.elapsed().as_secs_f64());
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
