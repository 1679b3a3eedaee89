//! End to end on the real upstream components (kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubelet, kube-proxy, cri-dockerd, etcd, CoreDNS, flannel; built from
//! source here, or pulled where a registry answers): deploy 3 masters + 2 workers + a
//! proxy node from nothing, then pods, a Service, DNS, logs and exec, and RBAC.

use std::path::Path;
use std::time::Duration;

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/workloads.rs"]
mod workloads;

use cluster_sandbox::{cluster, k8s_manage, ssh, up};
use kubectl::Kubectl;

const READYZ_VIA: &str = "printf 'GET /readyz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -connect HOSTPORT -cert /etc/kubernetes/pki/lb-healthcheck.pem -key /etc/kubernetes/pki/lb-healthcheck.pem -CAfile /etc/kubernetes/pki/ca.crt -verify_return_error 2>/dev/null | head -1";

#[test]
fn real_components_run_pods_services_dns_and_rbac() {
    let sb = up("e2e-real", 3, 2, true);
    let dir = sb.dir.clone();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "deploy failed: {report:#}\n{stderr}");
    let c = cluster(&dir);
    let version = c.kubernetes.version.to_string();
    let k = Kubectl::new(&sb.rt, &dir, &version);

    // Every node Ready, reporting the real kubelet version.
    let nodes = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}",
    ]);
    assert_eq!(nodes.lines().count(), 6, "{nodes}");
    for line in nodes.lines() {
        assert!(line.ends_with(&format!("True {version}")), "{nodes}");
    }

    // Every add-on pod Running and Ready (CoreDNS, flannel).
    let pods = k.ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    assert!(pods.contains("kube-system/coredns-"), "{pods}");
    assert_eq!(
        pods.lines()
            .filter(|l| l.starts_with("kube-flannel/"))
            .count(),
        6,
        "{pods}"
    );
    for line in pods.lines() {
        assert!(line.ends_with("Running True"), "{pods}");
    }

    // /readyz through the proxy node and through every node's local load balancer.
    let proxy = c
        .machines
        .iter()
        .find(|m| m.role.to_string() == "proxy")
        .unwrap();
    for m in &c.machines {
        let target = if m.hostname == proxy.hostname {
            format!("{}:6443", proxy.hostip)
        } else {
            "127.0.0.1:6444".into()
        };
        let o = ssh(&dir, &m.hostname)
            .run_root(
                "readyz",
                &READYZ_VIA.replace("HOSTPORT", &target),
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
    assert_eq!(k.ok(&["get", "--raw", "/readyz"]).trim(), "ok");

    // A 3-replica Deployment on the workers; a client pod on a master answers through the
    // Service (another node, so the pod network and kube-proxy carry it) and DNS.
    workloads::deploy_web(&k);
    let on = workloads::web_nodes(&k);
    assert_eq!(on.len(), 3);
    for n in &on {
        assert!(n.starts_with("172.") || n.contains("worker"), "{on:?}");
        let m = c.machines.iter().find(|m| &m.nodename == n).unwrap();
        assert_eq!(m.role.to_string(), "worker", "{on:?}");
    }
    let master = &c.masters().next().unwrap().nodename;
    workloads::start_client(&k, "client", master);
    workloads::check_service_and_dns(&k, "client", &c.kubernetes.cluster_domain);
    workloads::check_logs_and_exec(&k, "client", master);

    check_rbac(&k, &dir, &c);
}

/// A ServiceAccount token with no binding is refused (403), and a kubelet's credentials
/// cannot read a Secret no pod on its node uses (the Node authorizer), while they can
/// read their own Node.
fn check_rbac(k: &Kubectl, dir: &Path, c: &k8s_manage::model::Cluster) {
    let server = c.api_url();
    let ca = dir.join(".k8s-manage/pki/ca.crt");
    let ca = ca.display().to_string();
    k.ok(&["create", "serviceaccount", "nobody"]);
    let token = k.ok(&["create", "token", "nobody", "--duration=10m"]);
    let o = k.run(&[
        "--kubeconfig=/dev/null",
        &format!("--server={server}"),
        &format!("--certificate-authority={ca}"),
        &format!("--token={}", token.trim()),
        "get",
        "secrets",
    ]);
    assert!(
        !o.ok(),
        "an unbound ServiceAccount listed secrets: {}",
        o.stdout
    );
    assert!(o.stderr.contains("forbidden"), "{}", o.stderr);

    k.ok(&[
        "create",
        "secret",
        "generic",
        "unused",
        "--from-literal=k=v",
    ]);
    use k8s_manage::pki::{KubeconfigUser, Pki};
    let pki = Pki::load_read_only(
        &c.state_dir().join("pki"),
        &k8s_manage::render::node::pki_request(c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let worker = c
        .machines
        .iter()
        .find(|m| m.role.to_string() == "worker")
        .unwrap();
    let (cert, key) = pki
        .client_credential(&KubeconfigUser::Kubelet {
            nodename: worker.nodename.clone(),
        })
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (
        tmp.path().join("kubelet.crt"),
        tmp.path().join("kubelet.key"),
    );
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let as_kubelet = |args: &[&str]| {
        let mut all = vec![
            "--kubeconfig=/dev/null".to_string(),
            format!("--server={server}"),
            format!("--certificate-authority={ca}"),
            format!("--client-certificate={}", cert_path.display()),
            format!("--client-key={}", key_path.display()),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        k.run(&refs)
    };
    let own = as_kubelet(&["get", "node", &worker.nodename, "-o", "name"]);
    assert!(
        own.ok(),
        "the kubelet cannot read its own Node: {}",
        own.stderr
    );
    let secret = as_kubelet(&["get", "secret", "unused", "-o", "name"]);
    assert!(
        !secret.ok(),
        "a kubelet read a Secret no pod of its node uses"
    );
    assert!(secret.stderr.contains("forbidden"), "{}", secret.stderr);
}
