//! The rendered etcd and kube-apiserver specs, run on loopback by the real etcd (Debian)
//! and the stand-in apiserver: certificates, flags and mTLS all have to fit together.
//! Then the add-on manifests are applied through the product's API client and read back
//! from etcd.

mod common;
#[path = "common/procs.rs"]
mod procs;
use common::*;
use k8s_manage::kubeapi::KubeClient;
use k8s_manage::model::build;
use k8s_manage::pki::{KubeconfigUser, Pki};
use k8s_manage::render::{cluster, node};
use procs::*;
use std::path::Path;
use std::time::Duration;

fn localize(args: &[String], root: &Path, ports: &[(u16, u16)]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let mut a = a.replace(
                "/etc/kubernetes",
                &root.join("etc/kubernetes").display().to_string(),
            );
            a = a.replace(
                "/var/lib/etcd",
                &root.join("etcd-data").display().to_string(),
            );
            for (from, to) in ports {
                a = a.replace(&format!(":{from}"), &format!(":{to}"));
                a = a.replace(&format!("secure-port={from}"), &format!("secure-port={to}"));
            }
            a
        })
        .collect()
}

#[test]
fn rendered_etcd_and_apiserver_work_together_and_addons_apply() {
    let cluster_yaml = cluster_yaml(&[machine("master-1", "127.0.0.1", "master", Some("etcd1"))])
        .replace(
            "    k8s-role: master\n",
            "    k8s-role: master\n    dashboard: \"true\"\n",
        );
    let k8s = "kubernetes:\n  kubernetes-version: v1.36.1\n  etcd-version: 3.4.23\n  docker-registry: r:5000\n  service-cluster-ip-range: 10.96.0.0/12\n";
    let (t, dir) = config_dir(&cluster_yaml, k8s);
    let c = build::load(&dir)
        .unwrap_or_else(|d| panic!("{}", d.render_text(false)))
        .cluster;
    let pki = Pki::load_or_create(
        &c.state_dir().join("pki"),
        &node::pki_request(&c, time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    let master = node::render_node(&c, &pki, &c.machines[0]).unwrap();
    let root = t.path().join("node");
    for f in &master.files {
        k8s_manage::render::write::write_file(
            &root.join(f.path.trim_start_matches('/')),
            f.contents.as_bytes(),
            f.mode,
        )
        .unwrap();
    }
    let (p_client, p_peer, p_api) = (free_port(), free_port(), free_port());
    let ports = [(2379, p_client), (2380, p_peer), (6443, p_api)];

    let etcd_spec = master.containers.iter().find(|x| x.name == "etcd").unwrap();
    let etcd = spawn(
        "etcd",
        Path::new("/usr/bin/etcd"),
        &localize(&etcd_spec.args, &root, &ports),
        &[],
        &t.path().join("etcd.log"),
    );
    let api_spec = master
        .containers
        .iter()
        .find(|x| x.name == "kube-apiserver")
        .unwrap();
    let standin = standin_bin();
    let mut api_args = vec!["kube-apiserver".to_string()];
    api_args.extend(localize(&api_spec.args, &root, &ports));
    let api = spawn(
        "kube-apiserver",
        &standin,
        &api_args,
        &[("STANDIN_K8S_VERSION", "1.36")],
        &t.path().join("api.log"),
    );

    let (cert, key) = pki.client_credential(&KubeconfigUser::Admin).unwrap();
    let server = format!("https://127.0.0.1:{p_api}");
    let client = KubeClient::new(
        &server,
        pki.ca_cert_pem(),
        &cert,
        &key,
        Duration::from_secs(5),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
    let mut ready = false;
    for _ in 0..100 {
        if rt.block_on(client.readyz()).unwrap_or(false) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ready,
        "apiserver never became ready\n--- etcd\n{}\n--- api\n{}",
        log("etcd.log"),
        log("api.log")
    );

    // etcd is healthy, seen through the product's etcd client with the healthcheck cert
    let (hc_cert, hc_key) = {
        let f = |p: &str| {
            master
                .files
                .iter()
                .find(|f| f.path == p)
                .unwrap()
                .contents
                .clone()
        };
        (
            f("/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
            f("/etc/kubernetes/pki/etcd/healthcheck-client.key"),
        )
    };
    let etcd_ca = master
        .files
        .iter()
        .find(|f| f.path == "/etc/kubernetes/pki/etcd/ca.crt")
        .unwrap()
        .contents
        .clone();
    let cred = k8s_manage::etcd::EtcdCredentials {
        ca_pem: etcd_ca,
        cert_pem: hc_cert,
        key_pem: hc_key,
    };
    let endpoints = vec![format!("https://127.0.0.1:{p_client}")];
    let health = rt
        .block_on(k8s_manage::etcd::wait_healthy(
            &endpoints,
            &cred,
            Duration::from_secs(20),
        ))
        .expect("etcd healthy");
    assert_eq!(health.member_names, vec!["etcd1".to_string()]);
    assert!(health.leader.is_some());

    // the add-ons go in through server-side apply
    let manifests = cluster::manifests(&c).unwrap();
    let mut applied = 0;
    for m in &manifests {
        let a = rt
            .block_on(client.apply_manifest(&m.file_name, &m.content, "k8s-manage"))
            .unwrap_or_else(|e| panic!("{e}\n{}", log("api.log")));
        applied += a.len();
    }
    assert!(applied > 20, "{applied}");
    // a second apply changes nothing but still succeeds (idempotent)
    for m in &manifests {
        let again = rt
            .block_on(client.apply_manifest(&m.file_name, &m.content, "k8s-manage"))
            .unwrap();
        assert!(again.iter().all(|a| !a.created), "{:?}", again);
    }

    // read back from the real etcd with the healthcheck client certificate
    let pki_dir = root.join("etc/kubernetes/pki/etcd");
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints=https://127.0.0.1:{p_client}"),
            &format!("--cacert={}", pki_dir.join("ca.crt").display()),
            &format!(
                "--cert={}",
                pki_dir.join("healthcheck-client.crt").display()
            ),
            &format!("--key={}", pki_dir.join("healthcheck-client.key").display()),
            "get",
            "/registry/configmaps/kube-system/coredns",
            "--print-value-only",
        ])
        .output()
        .expect("etcdctl (Debian etcd-client)");
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.contains("Corefile") && v.contains("cluster.local"),
        "{v}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // etcd refuses a client without a certificate
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints=https://127.0.0.1:{p_client}"),
            &format!("--cacert={}", pki_dir.join("ca.crt").display()),
            "--dial-timeout=2s",
            "get",
            "x",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "etcd answered without a client certificate"
    );
    drop(api);
    drop(etcd);
}
