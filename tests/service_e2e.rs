//! `service deploy|stop` against a sandbox cluster (real sshd, Docker, etcd, haproxy, TLS;
//! the test-only stand-in apiserver, which stores objects in etcd and runs no pods):
//! manifests are applied through the API and read back from etcd with etcdctl; the bounded
//! wait fails with a clear message while the StatefulSet is not ready and succeeds once the
//! test writes its status through the API; stop runs dependents first and removes the
//! objects from etcd; exec runs through the pods/exec websocket.

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
mod common;
#[path = "common/services.rs"]
mod services;
use cluster_sandbox::{admin_client, k8s_manage, ssh, up};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn svc(args: &[&str], dir: &Path) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .arg("service")
        .args(args)
        .arg("-p")
        .arg(dir)
        .args(["--output", "json"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value etcd holds under `key` (empty when absent), read on the master with etcdctl.
fn etcd_get(dir: &Path, key: &str) -> String {
    let s = ssh(dir, "master1");
    let o = s
        .run_root(
            "etcdctl get",
            &format!("docker exec etcd etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key get {key} --print-value-only"),
            Duration::from_secs(30),
        )
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn deploy_waits_and_stop_through_the_api() {
    let sb = up("wt-svc-e2e", 1, 0, false);
    let dir = sb.dir.clone();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "cluster deploy: {report}\n{stderr}");
    services::write_services(&dir);

    // 1. The wait is bounded: no controller makes the StatefulSet ready.
    let started = Instant::now();
    let (code, v, stderr) = svc(&["deploy", "-s", "web", "--wait-seconds", "4"], &dir);
    let took = started.elapsed();
    assert_eq!(code, 1, "{v}\n{stderr}");
    assert_eq!(v["services"][0]["name"], "base");
    assert_eq!(v["services"][0]["ok"], true);
    let failed = &v["services"][1]["reports"][1];
    assert_eq!(failed["ok"], false);
    let detail = failed["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("timed out after 4 s waiting for StatefulSet demo/web to be ready; last seen: readyReplicas 0 of 2"),
        "{detail}"
    );
    assert!(took < Duration::from_secs(40), "the 4 s wait took {took:?}");
    assert!(
        stderr.contains("[web] (2/2) wait for StatefulSet demo/web: ready ..."),
        "{stderr}"
    );

    // The manifests went through the API into etcd, filled from the model and the config.
    let cm: Value =
        serde_json::from_str(&etcd_get(&dir, "/registry/configmaps/demo/web-settings")).unwrap();
    assert_eq!(cm["data"]["greeting"], "hello from services-configuration");
    assert_eq!(cm["data"]["masters"], "1");
    let sts: Value =
        serde_json::from_str(&etcd_get(&dir, "/registry/apps/statefulsets/demo/web")).unwrap();
    assert_eq!(sts["spec"]["replicas"], 2);
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example:5000/team/web:v7"
    );
    let svc_obj: Value =
        serde_json::from_str(&etcd_get(&dir, "/registry/services/demo/web")).unwrap();
    assert_eq!(svc_obj["spec"]["publishNotReadyAddresses"], true);

    // 2. The wait succeeds once the StatefulSet reports ready replicas (status written
    //    through the API's status subresource, as a controller would).
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args([
            "service",
            "deploy",
            "-s",
            "web",
            "--wait-seconds",
            "90",
            "--output",
            "json",
            "-p",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let api = admin_client(&dir);
    let status_path = "/apis/apps/v1/namespaces/demo/statefulsets/web/status";
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "service deploy did not finish");
        // (re)write the status: each apply replaces the object in the stand-in
        let _ = sb.rt.block_on(api.merge_patch(
            status_path,
            &json!({"status": {"readyReplicas": 2, "replicas": 2}}),
        ));
        std::thread::sleep(Duration::from_millis(700));
    };
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        exit.success(),
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = v["services"][1]["reports"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("StatefulSet demo/web ready after")
            && detail.contains("readyReplicas 2 of 2"),
        "{detail}"
    );

    // 3. exec in a pod through the pods/exec websocket (the stand-in emulates `echo`,
    //    `true` and `false`: it runs no containers); a non-zero exit fails the step.
    let (code, v, stderr) = svc(&["deploy", "-s", "probe"], &dir);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let detail = v["services"][1]["reports"][1]["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "exit 0 in demo/probe-0 stdout: hello from services-configuration"
    );
    let (code, v, stderr) = svc(&["refresh", "-s", "probe"], &dir);
    assert_eq!(code, 1, "{v}\n{stderr}");
    let detail = v["services"][0]["reports"][0]["detail"].as_str().unwrap();
    assert_eq!(detail, "command exited 1 in demo/probe-0");

    // 4. Stop `base`: its dependents first (web with its own stop steps), then base's default.
    let (code, v, stderr) = svc(&["stop", "-s", "base", "--wait-seconds", "30"], &dir);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["probe", "web", "base"]);
    assert_eq!(etcd_get(&dir, "/registry/pods/demo/probe-0"), "");
    assert_eq!(etcd_get(&dir, "/registry/apps/statefulsets/demo/web"), "");
    assert_eq!(etcd_get(&dir, "/registry/services/demo/web"), "");
    assert_eq!(etcd_get(&dir, "/registry/configmaps/demo/web-settings"), "");

    // 5. Stopping again finds nothing to delete and still succeeds. (Not `-s all`: that
    // also names the built-in databases, which this config does not configure.)
    let (code, v, stderr) = svc(&["stop", "-s", "base"], &dir);
    assert_eq!(code, 0, "{v}\n{stderr}");
    assert!(
        v["services"][2]["reports"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("0 deleted"),
        "{v}"
    );
}
