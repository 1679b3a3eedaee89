//! Workloads on a real sandbox cluster: a 3-replica web Deployment behind a ClusterIP
//! Service on the workers, a client pod on another node, and the checks the real
//! components must pass (Service through kube-proxy and the pod network, CoreDNS, logs
//! and exec through the kubelet, RBAC and the Node authorizer).
#![allow(dead_code)]

use std::time::Duration;

use super::kubectl::Kubectl;

/// The test workload image: Debian's busybox, made and preloaded by `sandbox up`.
pub const IMAGE: &str = k8s_manage::sandbox::upstream::BUSYBOX_IMAGE;

/// Three busybox httpd replicas answering with their pod name, on workers, behind the
/// ClusterIP Service `web` (port 80), with a PodDisruptionBudget of one unavailable.
pub fn web_manifest() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeSelector:
        node-role.kubernetes.io/worker: ""
      terminationGracePeriodSeconds: 2
      containers:
        - name: httpd
          image: {IMAGE}
          command: ["sh", "-c", "mkdir -p /www && echo $HOSTNAME > /www/index.html && echo serving $HOSTNAME && exec httpd -f -v -p 8080 -h /www"]
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet:
              path: /
              port: 8080
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: default
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: web
"#
    )
}

/// A pod that sleeps on `node` (by name), to run checks from.
pub fn client_manifest(name: &str, node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
    - name: sh
      image: {IMAGE}
      command: ["sh", "-c", "echo client on {node} is up; exec sleep 100000"]
"#
    )
}

/// Apply the web workload and wait until its three replicas are available.
pub fn deploy_web(k: &Kubectl) {
    k.apply(&web_manifest());
    k.rollout("default", "deployment/web", "300s");
}

/// `kubectl get` of the web pods' node names, one per line.
const WEB_NODES: &[&str] = &[
    "get",
    "pods",
    "-l",
    "app=web",
    "-o",
    "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
];

/// The nodes the web pods run on.
pub fn web_nodes(k: &Kubectl) -> Vec<String> {
    k.ok(WEB_NODES).lines().map(str::to_string).collect()
}

/// Wait (bounded by `wait`) until exactly `count` web pods exist (pods of a drained node
/// may still be terminating); the nodes they run on.
pub fn wait_web_pods(k: &Kubectl, count: usize, wait: Duration) -> Vec<String> {
    k.wait_for(WEB_NODES, wait, |out| out.lines().count() == count)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Start the client pod on `node` and wait until it runs.
pub fn start_client(k: &Kubectl, name: &str, node: &str) {
    k.apply(&client_manifest(name, node));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        &format!("pod/{name}"),
        "--timeout=180s",
    ]);
}

/// A shell command that GETs `http://HOST/` (port 80) with busybox `nc` within 5 s and
/// prints the last line of the response: the web pods answer one line, their name
/// (Debian's busybox wget crashes; see the sandbox's images).
pub fn http_get(host: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 5 {host} 80 | tail -n 1")
}

/// `kubectl exec POD -- sh -c SCRIPT`: (exit code, stdout, stderr).
pub fn exec(k: &Kubectl, pod: &str, script: &str) -> (i32, String, String) {
    let o = k.run(&["exec", pod, "--", "sh", "-c", script]);
    (o.code, o.stdout, o.stderr)
}

/// From the client pod: the Service answers by name (CoreDNS + kube-proxy + the pod
/// network) with a web pod's name, and the API's Service name resolves.
pub fn check_service_and_dns(k: &Kubectl, client: &str, domain: &str) {
    let (code, out, err) = exec(
        k,
        client,
        &format!("nslookup kubernetes.default.svc.{domain}"),
    );
    assert_eq!(
        code, 0,
        "nslookup kubernetes.default.svc.{domain}: {out}{err}"
    );
    let service_ip = k.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(out.contains(service_ip.trim()), "{out}");
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let (code, out, err) = exec(k, client, &http_get(&format!("web.default.svc.{domain}")));
        assert_eq!(code, 0, "GET web.default.svc.{domain}: {out}{err}");
        assert!(out.trim().starts_with("web-"), "{out}");
        answered.insert(out.trim().to_string());
    }
    assert!(
        answered.len() >= 2,
        "the Service spread 12 requests over {answered:?} only"
    );
    // The short name resolves through the pod's search path too.
    let (code, out, err) = exec(k, client, &http_get("web"));
    assert_eq!(code, 0, "GET http://web/: {out}{err}");
    assert!(out.trim().starts_with("web-"), "{out}");
}

/// `kubectl logs` and `kubectl exec` reach the kubelet (TLS, the apiserver's kubelet
/// client certificate).
pub fn check_logs_and_exec(k: &Kubectl, client: &str, node: &str) {
    let logs = k.ok(&["logs", client]);
    assert!(logs.contains(&format!("client on {node} is up")), "{logs}");
    let (code, out, err) = exec(k, client, "echo exec-works; hostname");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exec-works") && out.contains(client), "{out}");
    let (code, _, _) = exec(k, client, "exit 3");
    assert_eq!(code, 3, "exec's exit status is not passed through");
}

/// A Service answers: one request from `client`, within `timeout` seconds.
pub fn service_answers(k: &Kubectl, client: &str, domain: &str, timeout: Duration) -> bool {
    let script = http_get(&format!("web.default.svc.{domain}"))
        .replace("nc -w 5", &format!("nc -w {}", timeout.as_secs().max(1)));
    let (code, out, _) = exec(k, client, &script);
    code == 0 && out.trim().starts_with("web-")
}
