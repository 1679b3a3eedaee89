//! Health endpoints answer over TLS with the serving certificate each component was given
//! (verified against the CA by the test client), and client-certificate rules hold.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::support::https::{get, plain_get};
use crate::support::pki::Ca;
use crate::support::proc::{Proc, free_port, wait_until};
use crate::support::setups;

const START: Duration = Duration::from_secs(15);

fn start(component: &str, args: &[String]) -> Proc {
    let p = Proc::standin(component, args);
    assert!(
        p.wait_log("] started", START),
        "{component} did not start:\n{}",
        p.log()
    );
    p
}

#[test]
fn apiserver_healthz_over_tls_without_etcd() {
    // etcd is not running: /healthz answers, /readyz does not.
    let (s, _) = setups::apiserver(&format!("https://127.0.0.1:{}", free_port()));
    let p = start("kube-apiserver", &s.args);
    let admin = s.ca.client("kubernetes-admin", &["system:masters"]);
    let r = get(s.port, &s.ca, Some(&admin), "/healthz").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{}", p.log());
    let r = get(s.port, &s.ca, Some(&admin), "/readyz").unwrap();
    assert_eq!(r.status, 500, "{}", p.log());
    let r = get(s.port, &s.ca, Some(&admin), "/version").unwrap();
    assert_eq!(r.json()["minor"], "36");
    // Anonymous auth is off: no client certificate, 401.
    assert_eq!(get(s.port, &s.ca, None, "/healthz").unwrap().status, 401);
    // A client certificate from another CA: 401, as the real apiserver answers.
    let stranger = Ca::new("other-ca").client("kubernetes-admin", &["system:masters"]);
    let r = get(s.port, &s.ca, Some(&stranger), "/healthz").unwrap();
    assert_eq!(r.status, 401, "{}", p.log());
    assert!(p.wait_log("invalid client certificate", START));
    // The serving certificate is not one another CA would vouch for.
    assert!(get(s.port, &Ca::new("other-ca"), Some(&admin), "/healthz").is_err());
}

#[test]
fn apiserver_anonymous_allowed_only_for_health_and_version() {
    let (mut s, _) = setups::apiserver(&format!("https://127.0.0.1:{}", free_port()));
    s.set("anonymous-auth", "true");
    let _p = start("kube-apiserver", &s.args);
    assert_eq!(get(s.port, &s.ca, None, "/livez").unwrap().status, 200);
    // An invalid certificate is not anonymous: 401 even here.
    let stranger = Ca::new("other-ca").client("kubernetes-admin", &["system:masters"]);
    assert_eq!(
        get(s.port, &s.ca, Some(&stranger), "/livez")
            .unwrap()
            .status,
        401
    );
    assert_eq!(get(s.port, &s.ca, None, "/version").unwrap().status, 200);
    let r = get(s.port, &s.ca, None, "/api/v1/namespaces").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["kind"], "Status");
}

#[test]
fn controller_manager_and_scheduler_healthz_over_tls() {
    for c in ["kube-controller-manager", "kube-scheduler"] {
        let s = setups::control(c, free_port());
        let p = start(c, &s.args);
        // Without a client certificate (optional) ...
        let r = get(s.port, &s.ca, None, "/healthz").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{c}: {}", p.log());
        // ... with one from the client CA ...
        let client = s.ca.client("k8s-manage:lb-healthcheck", &[]);
        assert_eq!(
            get(s.port, &s.ca, Some(&client), "/healthz")
                .unwrap()
                .status,
            200
        );
        // ... and one from another CA, refused.
        let stranger = Ca::new("other-ca").client("x", &[]);
        assert!(
            get(s.port, &s.ca, Some(&stranger), "/healthz").is_err(),
            "{c}"
        );
        // The API is not there: the failure is logged, the component keeps running.
        assert!(p.wait_log("/readyz: failed", START), "{}", p.log());
    }
}

#[test]
fn kubelet_serves_with_client_certificates_only_and_plain_healthz() {
    let s = setups::kubelet(free_port());
    let p = start("kubelet", &s.args);
    let apiserver = s.ca.client("kube-apiserver-kubelet-client", &[]);
    let r = get(s.port, &s.ca, Some(&apiserver), "/healthz").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{}", p.log());
    let r = get(s.port, &s.ca, Some(&apiserver), "/pods").unwrap();
    assert_eq!(r.json()["kind"], "PodList");
    assert!(
        get(s.port, &s.ca, None, "/healthz").is_err(),
        "no client cert must be refused"
    );
    let r = plain_get(s.port2, "/healthz").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
}

#[test]
fn kube_proxy_healthz_plain() {
    let s = setups::proxy(free_port());
    let p = start("kube-proxy", &s.args);
    let r = plain_get(s.port, "/healthz").unwrap();
    assert_eq!(r.status, 200, "{}", p.log());
    assert!(r.json()["lastUpdated"].is_string());
}

#[test]
fn cri_dockerd_socket_accepts_connections() {
    let s = setups::cri_dockerd();
    let p = start("cri-dockerd", &s.args);
    let path = s.dir.path("cri-dockerd.sock");
    assert!(
        wait_until(START, || UnixStream::connect(&path).is_ok()),
        "{}",
        p.log()
    );
    assert!(p.wait_log("connection on unix://", START));
}
