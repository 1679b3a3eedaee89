//! The apiserver stand-in against a real etcd: objects sent through it land in etcd as JSON,
//! requests without a client certificate get 401, /readyz follows etcd, and the other
//! stand-ins (controller-manager, kubelet with cri-dockerd) reach it through kubeconfigs.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::etcd;
use crate::support::https::{Response, get, https};
use crate::support::pki::Leaf;
use crate::support::proc::{Proc, free_port, wait_until};
use crate::support::setups;

const LIMIT: Duration = Duration::from_secs(20);

struct Api<'a> {
    port: u16,
    ca: &'a crate::support::pki::Ca,
    admin: &'a Leaf,
}

impl Api<'_> {
    fn call(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> Response {
        https(
            self.port,
            self.ca,
            Some(self.admin),
            method,
            path,
            content_type,
            body,
        )
        .unwrap()
    }
    fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        self.call(method, path, Some("application/json"), &body.to_string())
    }
}

fn stored(url: &str, pki: &setups::EtcdPki, key: &str) -> Option<Value> {
    etcd::get(url, pki, key).map(|s| serde_json::from_str(&s).expect("stored JSON"))
}

#[test]
fn apiserver_stores_in_real_etcd() {
    let etcd_port = free_port();
    let (s, pki) = setups::apiserver(&format!("https://127.0.0.1:{etcd_port}"));
    let mut etcd = etcd::start(&s.dir, &pki, etcd_port);
    let apiserver = Proc::standin("kube-apiserver", &s.args);
    let admin = s.ca.client("kubernetes-admin", &["system:masters"]);
    let api = Api {
        port: s.port,
        ca: &s.ca,
        admin: &admin,
    };
    let ready = wait_until(LIMIT, || {
        get(s.port, &s.ca, Some(&admin), "/readyz").is_ok_and(|r| r.status == 200)
    });
    assert!(ready, "apiserver not ready:\n{}", apiserver.log());

    // Create a ConfigMap; read it back from etcd.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "standin-test", "namespace": "kube-system"}, "data": {"k": "v"}});
    let path = "/api/v1/namespaces/kube-system/configmaps";
    let r = api.json("POST", path, &cm);
    assert_eq!(r.status, 201, "{}\n{}", r.body, apiserver.log());
    let created = r.json();
    let key = "/registry/configmaps/kube-system/standin-test";
    let value = stored(&etcd.url, &pki, key).expect("key in etcd");
    assert_eq!(value["data"]["k"], "v");
    assert_eq!(value["metadata"]["uid"], created["metadata"]["uid"]);
    assert!(created["metadata"]["resourceVersion"].is_string());
    assert_eq!(api.json("POST", path, &cm).status, 409);

    // No client certificate: 401, and nothing written.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "anon"}});
    let r = https(
        s.port,
        &s.ca,
        None,
        "POST",
        path,
        Some("application/json"),
        &other.to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(get(s.port, &s.ca, None, "/readyz").unwrap().status, 401);
    assert!(etcd::get(&etcd.url, &pki, "/registry/configmaps/kube-system/anon").is_none());

    // Read, list, merge patch, replace.
    let one = api.call("GET", &format!("{path}/standin-test"), None, "");
    assert_eq!(one.json()["data"]["k"], "v");
    let list = api.call("GET", path, None, "").json();
    assert_eq!(
        (
            list["kind"].as_str(),
            list["items"].as_array().map(Vec::len)
        ),
        (Some("ConfigMapList"), Some(1))
    );
    let r = api.call(
        "PATCH",
        &format!("{path}/standin-test"),
        Some("application/merge-patch+json"),
        r#"{"data":{"k":null,"k2":"v2"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let value = stored(&etcd.url, &pki, key).unwrap();
    assert_eq!(value["data"], json!({"k2": "v2"}));
    assert_eq!(value["metadata"]["uid"], created["metadata"]["uid"]);
    let stale = json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "standin-test", "namespace": "kube-system", "resourceVersion": "1"}});
    assert_eq!(
        api.json("PUT", &format!("{path}/standin-test"), &stale)
            .status,
        409
    );

    // Server-side apply on a group resource: fieldManager required; creates, then replaces.
    let role_path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/standin-role";
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: standin-role\nrules: []\n";
    assert_eq!(
        api.call(
            "PATCH",
            role_path,
            Some("application/apply-patch+yaml"),
            role
        )
        .status,
        400
    );
    let apply_path = format!("{role_path}?fieldManager=k8s-manage&force=true");
    assert_eq!(
        api.call(
            "PATCH",
            &apply_path,
            Some("application/apply-patch+yaml"),
            role
        )
        .status,
        201
    );
    let role2 = role.replace(
        "rules: []",
        "rules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]",
    );
    assert_eq!(
        api.call(
            "PATCH",
            &apply_path,
            Some("application/apply-patch+yaml"),
            &role2
        )
        .status,
        200
    );
    let value = stored(
        &etcd.url,
        &pki,
        "/registry/rbac.authorization.k8s.io/clusterroles/standin-role",
    )
    .unwrap();
    assert_eq!(value["rules"][0]["verbs"][0], "get");

    // A namespace that does not exist; a request of an unsupported kind.
    let r = api.json("POST", "/api/v1/namespaces/nope/configmaps", &other);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        api.json("POST", "/api/v1/namespaces/default/configmaps", &cm)
            .status,
        400
    );
    assert_eq!(
        api.call(
            "PATCH",
            &format!("{path}/standin-test"),
            Some("application/json-patch+json"),
            "[]"
        )
        .status,
        415
    );

    // Delete.
    assert_eq!(
        api.call("DELETE", &format!("{path}/standin-test"), None, "")
            .status,
        200
    );
    assert!(etcd::get(&etcd.url, &pki, key).is_none());
    assert_eq!(
        api.call("GET", &format!("{path}/standin-test"), None, "")
            .status,
        404
    );

    // The other stand-ins reach this apiserver through their kubeconfigs.
    let cm_setup = setups::control_ca("kube-controller-manager", s.port, s.ca.clone());
    let controller_manager = Proc::standin("kube-controller-manager", &cm_setup.args);
    let kubelet_setup = setups::kubelet_ca(s.port, s.ca.clone());
    let cri_socket = format!(
        "--container-runtime-endpoint=unix://{}",
        kubelet_setup.dir.path("cri.sock")
    );
    let _cri = Proc::standin("cri-dockerd", &[cri_socket]);
    let kubelet = Proc::standin("kubelet", &kubelet_setup.args);
    let lease_key = "/registry/coordination.k8s.io/leases/kube-system/kube-controller-manager";
    let leased = wait_until(LIMIT, || stored(&etcd.url, &pki, lease_key).is_some());
    assert!(
        leased,
        "no lease:\n{}\n{}",
        controller_manager.log(),
        apiserver.log()
    );
    let node_ready = wait_until(LIMIT, || {
        stored(&etcd.url, &pki, "/registry/nodes/node1").is_some_and(|n| {
            n["status"]["conditions"][0]["status"] == "True"
                && n["status"]["addresses"][0]
                    == json!({"type": "InternalIP", "address": "127.0.0.1"})
        })
    });
    assert!(
        node_ready,
        "node not ready:\n{}\n{}",
        kubelet.log(),
        apiserver.log()
    );
    assert!(
        controller_manager.wait_log("/readyz: 200 OK", LIMIT),
        "{}",
        controller_manager.log()
    );

    // etcd gone: /readyz turns 500.
    etcd.proc.kill();
    let unready = wait_until(LIMIT, || {
        get(s.port, &s.ca, Some(&admin), "/readyz").is_ok_and(|r| r.status == 500)
    });
    assert!(unready, "readyz still 200:\n{}", apiserver.log());
    assert!(apiserver.wait_log("not ready: no etcd endpoint answers", LIMIT));
}
