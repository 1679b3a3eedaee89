//! Certificates: a certificate from another CA, or a key that is not the certificate's, makes
//! the component exit non-zero naming the file.

use crate::support::pki::{Ca, Kind};
use crate::support::proc::{free_port, run_to_exit};
use crate::support::setups;

fn refused(component: &str, args: &[String], needles: &[&str]) -> String {
    let (ok, log) = run_to_exit(component, args, "1.36");
    assert!(!ok, "{component} started:\n{log}");
    for n in needles {
        assert!(log.contains(n), "{component}: {n:?} not in:\n{log}");
    }
    log
}

#[test]
fn apiserver_refuses_etcd_client_cert_from_another_ca() {
    let (mut s, _) = setups::apiserver("https://127.0.0.1:1");
    let other = Ca::new("other-ca");
    let (cert, key) = s.dir.leaf(
        "pki/other-etcd-client",
        &other.client("kube-apiserver-etcd-client", &[]),
    );
    s.set("etcd-certfile", &cert);
    s.set("etcd-keyfile", &key);
    refused(
        "kube-apiserver",
        &s.args,
        &[&cert, "not signed by the given CA", "pki/etcd/ca.crt"],
    );
}

#[test]
fn apiserver_refuses_kubelet_client_cert_from_another_ca_and_mismatched_keys() {
    let (mut s, _) = setups::apiserver("https://127.0.0.1:1");
    let other = Ca::new("other-ca");
    let (cert, key) = s.dir.leaf(
        "pki/other-kubelet-client",
        &other.client("kube-apiserver-kubelet-client", &[]),
    );
    s.set("kubelet-client-certificate", &cert);
    s.set("kubelet-client-key", &key);
    // A serving key that belongs to another certificate.
    let (_, wrong_key) = s.dir.leaf("pki/unrelated", &s.ca.server("unrelated"));
    s.set("tls-private-key-file", &wrong_key);
    refused(
        "kube-apiserver",
        &s.args,
        &[
            &cert,
            "not signed by the given CA",
            &wrong_key,
            "does not match certificate",
        ],
    );
}

#[test]
fn apiserver_refuses_service_account_keys_that_do_not_pair() {
    let (mut s, _) = setups::apiserver("https://127.0.0.1:1");
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let pub_file = s.dir.write("pki/other-sa.pub", &other.public_key_pem());
    s.set("service-account-key-file", &pub_file);
    refused(
        "kube-apiserver",
        &s.args,
        &[&pub_file, "does not hold the public key"],
    );
}

#[test]
fn controller_manager_and_scheduler_refuse_kubeconfig_from_another_ca() {
    for c in ["kube-controller-manager", "kube-scheduler"] {
        let mut s = setups::control(c, free_port());
        let other = Ca::new("other-ca");
        let client = other.client(&format!("system:{c}"), &[]);
        // The kubeconfig's CA is the cluster CA, its client certificate from another CA.
        let bad = s
            .dir
            .kubeconfig("bad.conf", "https://127.0.0.1:1", &s.ca, &client);
        if c == "kube-controller-manager" {
            s.set("kubeconfig", &bad);
        } else {
            let config = s.dir.write(
                "bad-scheduler-config.yaml",
                &format!("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: {bad}\n"),
            );
            s.set("config", &config);
        }
        refused(c, &s.args, &[&bad, "not signed by the given CA"]);
    }
}

#[test]
fn controller_manager_refuses_serving_cert_without_server_usage() {
    let mut s = setups::control("kube-controller-manager", free_port());
    let (cert, key) = s.dir.leaf(
        "pki/client-only",
        &s.ca.client("kube-controller-manager", &[]),
    );
    s.set("tls-cert-file", &cert);
    s.set("tls-private-key-file", &key);
    refused("kube-controller-manager", &s.args, &[&cert, "serverAuth"]);
}

#[test]
fn kubelet_refuses_kubeconfig_from_another_ca_and_wrong_identity() {
    let mut s = setups::kubelet(free_port());
    let other = Ca::new("other-ca");
    let bad = s.dir.kubeconfig(
        "bad.conf",
        "https://127.0.0.1:1",
        &s.ca,
        &other.client("system:node:node1", &["system:nodes"]),
    );
    s.set("kubeconfig", &bad);
    refused("kubelet", &s.args, &[&bad, "not signed by the given CA"]);

    let mut s = setups::kubelet(free_port());
    let wrong = s.dir.kubeconfig(
        "wrong.conf",
        "https://127.0.0.1:1",
        &s.ca,
        &s.ca.client("system:node:node2", &["system:nodes"]),
    );
    s.set("kubeconfig", &wrong);
    refused("kubelet", &s.args, &[&wrong, "system:node:node1"]);
}

#[test]
fn kubelet_refuses_serving_cert_without_node_ip() {
    let s = setups::kubelet(free_port());
    let (cert, key) = s.dir.leaf(
        "pki/kubelet",
        &s.ca
            .leaf("node1", &[], &["10.0.0.9", "node1"], Kind::Server),
    );
    // Same paths as in the configuration: rewritten in place.
    assert!(cert.ends_with("pki/kubelet.crt") && key.ends_with("pki/kubelet.key"));
    refused(
        "kubelet",
        &s.args,
        &["tlsCertFile has no IP address 127.0.0.1"],
    );
}

#[test]
fn kube_proxy_refuses_kubeconfig_from_another_ca() {
    let mut s = setups::proxy(free_port());
    let other = Ca::new("other-ca");
    let bad = s.dir.kubeconfig(
        "bad.conf",
        "https://127.0.0.1:1",
        &s.ca,
        &other.client("system:kube-proxy", &[]),
    );
    s.set("kubeconfig", &bad);
    refused("kube-proxy", &s.args, &[&bad, "not signed by the given CA"]);
}

#[test]
fn cri_dockerd_refuses_a_non_unix_endpoint() {
    // cri-dockerd takes no certificate; its one checked input is the endpoint.
    let (ok, log) = run_to_exit(
        "cri-dockerd",
        &["--container-runtime-endpoint=tcp://127.0.0.1:1".into()],
        "1.36",
    );
    assert!(!ok && log.contains("tcp://127.0.0.1:1"), "{log}");
}
