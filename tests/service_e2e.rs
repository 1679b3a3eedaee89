//! The service layer on a sandbox cluster of the real components (kube-apiserver,
//! controllers, scheduler, kubelet on cri-dockerd, etcd; no stand-in on the path).
//!
//! 0. Storage: with `local-path-provisioner: true` a `local-path` claim binds and its data
//!    outlives the pod that wrote it (see [`storage_binds_and_keeps_data_across_pods`]).
//! 1. The test's own services (tests/common/services.rs, with a StatefulSet and a Pod that
//!    run the sandbox's busybox image): manifests are applied through the API and read back
//!    from it; the bounded wait fails with a clear message while the StatefulSet is not
//!    ready and succeeds once its pods pass their readiness probe (made to pass by the
//!    test); exec runs in a real container; stop runs dependents first and removes the
//!    objects; a second stop finds nothing.
//! 2. The four built-in databases: the CRDs shipped in `services/*/crds/` are accepted by
//!    the real apiextensions server (structural schemas), and `service deploy
//!    --server-dry-run` sends every rendered manifest and custom resource through the real
//!    admission and schemas (the database images cannot run here); a custom resource comes
//!    back from a server dry run with every field it was sent (nothing pruned), and a
//!    misspelt field is refused. `service scale` reads the current size from the API
//!    server: a database not deployed is refused with its missing object named, and a
//!    dry run plans from the size a StatefulSet has there.

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
mod common;
#[path = "common/kubectl.rs"]
mod kubectl;
#[path = "common/services.rs"]
mod services;
use cluster_sandbox::{admin_client, cluster, k8s_manage, ssh, up};
use kubectl::Kubectl;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DATABASES: [&str; 4] = ["iotdb", "tdengine", "dolphindb", "clickhouse"];

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

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The test services made to run on real nodes: the StatefulSet's and the Pod's containers
/// run busybox (tagged on the node under the names the templates give, pulled never), the
/// StatefulSet's pods are Ready only once `/tmp/ready` exists, and the probe waits for its
/// pod before exec.
fn runnable_services(dir: &Path) {
    services::write_services(dir);
    write(
        dir,
        "services/web/statefulset.yaml",
        r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {{ config.namespace }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: {{ config.namespace }}
spec:
  serviceName: web
  replicas: {{ config.replicas }}
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {{ registry.prefix }}web:{{ registry.tag }}
          imagePullPolicy: Never
          command: [sh, -c, "exec sleep 100000"]
          readinessProbe:
            exec: {command: [test, -f, /tmp/ready]}
            periodSeconds: 1
"#,
    );
    write(
        dir,
        "services/probe/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe-0\n  namespace: {{ services.web.namespace }}\n  labels: {app: probe}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: main\n      image: {{ registry.prefix }}probe:{{ registry.tag }}\n      imagePullPolicy: Never\n      command: [sh, -c, \"exec sleep 100000\"]\n",
    );
    write(
        dir,
        "services/probe/service.yaml",
        "prerequisite: [base]\ntemplate-list: [pod.yaml]\nstart:\n  - apply: [pod.yaml]\n  - wait: {kind: Pod, name: probe-0, namespace: \"{{ services.web.namespace }}\", condition: ready, timeout: 120}\n  - exec: {pod: probe-0, namespace: \"{{ services.web.namespace }}\", container: main, command: [sh, -c, \"echo {{ services.web.greeting }}; hostname\"]}\nrefresh:\n  - exec: {pod: probe-0, namespace: \"{{ services.web.namespace }}\", command: [sh, -c, \"echo failing >&2; exit 3\"]}\n",
    );
}

/// Poll `check` every second for at most `wait`.
fn eventually(wait: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > wait {
            return false;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn services_through_the_real_apiserver_and_the_databases_by_server_dry_run() {
    let sb = up("ec-svc", 1, 0, false);
    let dir = sb.dir.clone();
    // The optional storage add-on, checked on this cluster (part 0).
    let kfile = dir.join("kubernetes-configuration.yaml");
    let text = std::fs::read_to_string(&kfile).unwrap();
    let text = text.replacen(
        "kubernetes:\n",
        "kubernetes:\n  local-path-provisioner: true\n",
        1,
    );
    std::fs::write(&kfile, text).unwrap();
    let (code, report, stderr) = k8s_manage(&["deploy"], &dir);
    assert_eq!(code, 0, "cluster deploy: {report}\n{stderr}");
    let version = cluster(&dir).kubernetes.version.to_string();
    let k = Kubectl::new(&sb.rt, &dir, &version);
    storage_binds_and_keeps_data_across_pods(&dir, &k);
    let api = admin_client(&dir);
    let get = |path: &str| sb.rt.block_on(api.get_object(path)).unwrap();
    runnable_services(&dir);
    let busybox = k8s_manage::sandbox::upstream::BUSYBOX_IMAGE;
    ssh(&dir, "master1")
        .run_root(
            "tag",
            &format!(
                "docker tag {busybox} registry.example:5000/team/web:v7 && docker tag {busybox} registry.example:5000/team/probe:v7"
            ),
            Duration::from_secs(30),
        )
        .unwrap();

    // 1. The wait is bounded: the pods run, but none passes its readiness probe yet.
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

    // The manifests went through the API, filled from the model and the config.
    let cm = get("/api/v1/namespaces/demo/configmaps/web-settings").expect("ConfigMap");
    assert_eq!(cm["data"]["greeting"], "hello from services-configuration");
    assert_eq!(cm["data"]["masters"], "1");
    let sts = get("/apis/apps/v1/namespaces/demo/statefulsets/web").expect("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 2);
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example:5000/team/web:v7"
    );
    let svc_obj = get("/api/v1/namespaces/demo/services/web").expect("Service");
    assert_eq!(svc_obj["spec"]["publishNotReadyAddresses"], true);
    assert_eq!(svc_obj["spec"]["clusterIP"], "None");

    // 2. The wait succeeds once the pods pass their probe: the StatefulSet controller
    //    counts them ready. The test makes each pod ready as soon as its container runs.
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
        .args([
            "service",
            "deploy",
            "-s",
            "web",
            "--wait-seconds",
            "120",
            "--output",
            "json",
            "-p",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut last_exec = String::new();
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "service deploy did not finish");
        for pod in ["web-0", "web-1"] {
            let o = k.run(&["-n", "demo", "exec", pod, "--", "touch", "/tmp/ready"]);
            if !o.ok() {
                last_exec = format!("exec in {pod}: {}{}", o.stdout, o.stderr);
            }
        }
        std::thread::sleep(Duration::from_millis(700));
    };
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !exit.success() {
        let pods = k.run(&["-n", "demo", "describe", "pods"]);
        panic!(
            "{v}\n{}\nlast failed exec: {last_exec}\npods:\n{}{}",
            String::from_utf8_lossy(&out.stderr),
            pods.stdout,
            pods.stderr
        );
    }
    let detail = v["services"][1]["reports"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("StatefulSet demo/web ready after")
            && detail.contains("readyReplicas 2 of 2"),
        "{detail}"
    );
    let sts = get("/apis/apps/v1/namespaces/demo/statefulsets/web").unwrap();
    assert_eq!(sts["status"]["readyReplicas"], 2, "{sts:#}");

    // 3. exec in a real container through the pods/exec websocket; a non-zero exit fails
    //    the step with the command's stderr.
    let (code, v, stderr) = svc(&["deploy", "-s", "probe"], &dir);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let detail = v["services"][1]["reports"][2]["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "exit 0 in demo/probe-0 stdout: hello from services-configuration\nprobe-0"
    );
    let (code, v, stderr) = svc(&["refresh", "-s", "probe"], &dir);
    assert_eq!(code, 1, "{v}\n{stderr}");
    let detail = v["services"][0]["reports"][0]["detail"].as_str().unwrap();
    assert_eq!(detail, "command exited 3 in demo/probe-0; stderr: failing");

    // 4. Stop `base`: its dependents first (web with its own stop steps), then base's default.
    let (code, v, stderr) = svc(&["stop", "-s", "base", "--wait-seconds", "60"], &dir);
    assert_eq!(code, 0, "{v}\n{stderr}");
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["probe", "web", "base"]);
    assert!(get("/apis/apps/v1/namespaces/demo/statefulsets/web").is_none());
    assert!(get("/api/v1/namespaces/demo/configmaps/web-settings").is_none());
    assert!(
        eventually(Duration::from_secs(60), || {
            get("/api/v1/namespaces/demo/pods/probe-0").is_none()
                && get("/api/v1/namespaces/demo/services/web").is_none()
                && get("/api/v1/namespaces/demo").is_none()
        }),
        "the probe pod, the Service or the namespace is still there"
    );

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

    databases_by_server_dry_run(&dir, &k);
}

/// A pod of the test with the claim `data` mounted at /data, running `script`.
fn pod_with_claim(name: &str, script: &str) -> String {
    let busybox = k8s_manage::sandbox::upstream::BUSYBOX_IMAGE;
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  \
         restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  containers:\n    \
         - name: main\n      image: {busybox}\n      imagePullPolicy: Never\n      \
         command: [sh, -c, {script:?}]\n      volumeMounts: [{{name: data, mountPath: /data}}]\n  \
         volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]\n"
    )
}

/// Part 0: `local-path-provisioner: true` deployed the provisioner (deploy's verify waited
/// for it); a claim of the `local-path` class binds once a pod uses it, gets a directory
/// under /var/lib/k8s-manage/local-path-provisioner on the pod's node, what one pod wrote
/// there a second pod reads after the first is deleted, and deleting the claim removes
/// the directory.
fn storage_binds_and_keeps_data_across_pods(dir: &Path, k: &Kubectl) {
    let deploy = k.ok(&[
        "-n",
        "local-path-storage",
        "get",
        "deployment",
        "local-path-provisioner",
        "-o",
        "jsonpath={.status.availableReplicas}",
    ]);
    assert_eq!(
        deploy, "1",
        "deploy returned before the provisioner was available"
    );
    k.apply(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: default\n\
         spec:\n  storageClassName: local-path\n  accessModes: [ReadWriteOnce]\n  \
         resources: {requests: {storage: 16Mi}}\n",
    );
    // WaitForFirstConsumer: no volume before a pod asks for it.
    let phase = k.ok(&["get", "pvc", "data", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Pending");
    k.apply(&pod_with_claim(
        "writer",
        "echo written-by-writer > /data/proof",
    ));
    let wait = Duration::from_secs(180);
    k.wait_for(
        &["get", "pod", "writer", "-o", "jsonpath={.status.phase}"],
        wait,
        |p| p == "Succeeded",
    );
    let pv = k.ok(&[
        "get",
        "pvc",
        "data",
        "-o",
        "jsonpath={.status.phase} {.spec.volumeName}",
    ]);
    let (phase, volume) = pv.split_once(' ').unwrap();
    assert_eq!(phase, "Bound", "{pv}");
    let path = k.ok(&["get", "pv", volume, "-o", "jsonpath={.spec.hostPath.path}"]);
    assert!(
        path.starts_with("/var/lib/k8s-manage/local-path-provisioner/pvc-")
            && path.ends_with("_default_data"),
        "{path}"
    );
    let on_node = ssh(dir, "master1")
        .run_root(
            "read",
            &format!("cat {path}/proof"),
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&on_node.stdout).trim(),
        "written-by-writer"
    );

    k.ok(&["delete", "pod", "writer", "--wait=true"]);
    k.apply(&pod_with_claim("reader", "cat /data/proof"));
    k.wait_for(
        &["get", "pod", "reader", "-o", "jsonpath={.status.phase}"],
        wait,
        |p| p == "Succeeded",
    );
    assert_eq!(k.ok(&["logs", "reader"]).trim(), "written-by-writer");

    // Deleting the claim (reclaimPolicy Delete) removes the volume and its directory.
    k.ok(&["delete", "pod", "reader", "--wait=true"]);
    k.ok(&["delete", "pvc", "data", "--wait=true"]);
    k.wait_for(&["get", "pv", "-o", "name"], wait, |out| {
        !out.contains(volume)
    });
    assert!(
        eventually(Duration::from_secs(60), || {
            ssh(dir, "master1")
                .run_root(
                    "gone",
                    &format!("test ! -e {path}"),
                    Duration::from_secs(30),
                )
                .is_ok()
        }),
        "{path} is still on the node after its claim was deleted"
    );
}

/// Part 2 (see the module doc), on the same cluster.
fn databases_by_server_dry_run(dir: &Path, k: &Kubectl) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = repo.join("cluster-configuration/services");
    std::fs::remove_dir_all(dir.join("services")).unwrap();
    std::fs::copy(
        example.join("services-configuration.yaml"),
        dir.join("services-configuration.yaml"),
    )
    .unwrap();
    std::fs::copy(example.join("dolphindb.lic"), dir.join("dolphindb.lic")).unwrap();

    // The shipped CRDs, applied for real: the apiextensions server takes only structural
    // schemas, and Established means it serves them.
    let mut crds = Vec::new();
    for db in DATABASES {
        let Ok(rd) = std::fs::read_dir(repo.join("services").join(db).join("crds")) else {
            continue;
        };
        for e in rd {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            k.apply(&text);
            let v: Value = serde_saphyr::from_str(&text).unwrap();
            crds.push(v["metadata"]["name"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(crds.len(), 2, "{crds:?}");
    for name in &crds {
        k.ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{name}"),
            "--timeout=60s",
        ]);
    }

    // A server dry run stores nothing, so the namespaces the services create must exist:
    // without, the run says which and how to make it.
    let (code, v, stderr) = svc(&["deploy", "-s", "tdengine", "--server-dry-run"], dir);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    let detail = v["services"][0]["reports"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("HTTP 404") && detail.contains("kubectl create namespace tdengine"),
        "{detail}"
    );
    for db in DATABASES {
        k.ok(&["create", "namespace", db]);
    }
    // The files the product renders, to count and compare with.
    let rendered = tempfile::tempdir().unwrap();
    for db in DATABASES {
        let out = Command::new(env!("CARGO_BIN_EXE_k8s-manage"))
            .args(["service", "render", "-s", db, "--out"])
            .arg(rendered.path())
            .arg("-p")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "render {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for db in DATABASES {
        let (code, v, stderr) = svc(&["deploy", "-s", db, "--server-dry-run"], dir);
        assert_eq!(code, 0, "{db}: {v:#}\n{stderr}");
        assert_eq!(v["server_dry_run"], true, "{v:#}");
        // Every rendered document went to the server, once.
        let mut sent = 0;
        let mut skipped = 0;
        for r in v["services"][0]["reports"].as_array().unwrap() {
            let d = r["detail"].as_str().unwrap();
            if let Some(n) =
                d.strip_suffix(" object(s) accepted by the server (dry run: nothing stored)")
            {
                sent += n.parse::<usize>().unwrap();
            } else {
                assert!(d.starts_with("skipped: "), "{db}: {d}");
                skipped += 1;
            }
        }
        let mut docs = 0;
        for e in std::fs::read_dir(rendered.path().join(db)).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            docs += k8s_manage::kubeapi::parse_manifest("rendered", &text)
                .unwrap()
                .len();
        }
        eprintln!("{db}: {sent} object(s) accepted by a server dry run, {skipped} step(s) skipped");
        assert_eq!(sent, docs, "{db}: {v:#}");
        // Nothing was stored.
        let left = k.ok(&[
            "get",
            "statefulsets,services,configmaps,secrets,dolphindbs,clickhouseinstallations",
            "-n",
            db,
            "-o",
            "name",
        ]);
        let ours: Vec<&str> = left
            .lines()
            .filter(|l| !l.ends_with("/kube-root-ca.crt"))
            .collect();
        assert!(ours.is_empty(), "{db}: a dry run stored {ours:?}");
    }

    // Scale reads the current size from the API server: a database that is not deployed
    // is a failure (exit 1) that names its missing scale target (a StatefulSet, or a
    // custom resource of a CRD the server has) and says to deploy it first.
    for db in DATABASES {
        let (code, v, stderr) = svc(&["scale", "-s", db, "--replicas", "2", "--dry-run"], dir);
        assert_eq!(code, 1, "{db}: {v:#}\n{stderr}");
        assert!(
            stderr.contains(&format!(
                " does not exist\n  fix: deploy the service first (`service deploy -s {db}`)\n"
            )),
            "{db}: {stderr}"
        );
    }
    // With the target there, a dry run plans from the size the server has (the pods can
    // be scheduled nowhere: only the object counts).
    let busybox = k8s_manage::sandbox::upstream::BUSYBOX_IMAGE;
    k.apply(&format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: iotdb-datanode\n  namespace: iotdb\n\
         spec:\n  replicas: 3\n  serviceName: iotdb-datanode-headless\n  \
         selector: {{matchLabels: {{app: scale-probe}}}}\n  template:\n    \
         metadata: {{labels: {{app: scale-probe}}}}\n    spec:\n      \
         nodeSelector: {{k8s-manage.test/nowhere: \"true\"}}\n      \
         containers: [{{name: main, image: {busybox}, imagePullPolicy: Never}}]\n"
    ));
    let (code, v, stderr) = svc(
        &["scale", "-s", "iotdb", "--replicas", "4", "--dry-run"],
        dir,
    );
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    assert!(
        stderr.contains("scale iotdb: StatefulSet iotdb/iotdb-datanode from 3 to 4 ("),
        "{stderr}"
    );
    assert_eq!(v["action"], "scale", "{v:#}");
    assert_eq!(v["dry_run"], true, "{v:#}");
    assert!(
        !v["services"][0]["steps"].as_array().unwrap().is_empty(),
        "{v:#}"
    );
    k.ok(&[
        "delete",
        "statefulset",
        "-n",
        "iotdb",
        "iotdb-datanode",
        "--wait=true",
    ]);

    // Each custom resource comes back from a server dry run with every field it was sent
    // (a plain create as a server dry run, with field validation off so that pruning would
    // show; a server-side apply refuses an undeclared field outright).
    for (db, kind) in [
        ("dolphindb", "DolphinDB"),
        ("clickhouse", "ClickHouseInstallation"),
    ] {
        let cr = rendered_object(&rendered.path().join(db), kind);
        let back = dry_run_back(k, &cr);
        let lost = missing(&cr, &back, "");
        assert!(
            lost.is_empty(),
            "{kind}: the server dropped {lost:?}\n{back:#}"
        );
        // The comparison can fail: a field the schema lacks is pruned by the server.
        let mut typo = cr.clone();
        typo["spec"]["replicaz"] = Value::from(1);
        let back = dry_run_back(k, &typo);
        assert_eq!(missing(&typo, &back, ""), ["/spec/replicaz"], "{kind}");
    }

    // A misspelt field in a custom resource (of a config dir's own service, with the CRD
    // found on the cluster) is refused by the product's server dry run, named.
    let chi = std::fs::read_to_string(rendered.path().join("clickhouse/20-clickhouse.yaml"))
        .unwrap()
        .replacen("configuration:", "configuration:\n    clusterz: []", 1);
    write(dir, "services/service.yaml", "servicelist:\n  - chi-typo\n");
    write(
        dir,
        "services/chi-typo/service.yaml",
        "template-list: [chi.yaml]\nstart:\n  - apply: [chi.yaml]\n",
    );
    write(dir, "services/chi-typo/chi.yaml", &chi);
    let (code, v, stderr) = svc(&["deploy", "-s", "chi-typo", "--server-dry-run"], dir);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    let detail = v["services"][0]["reports"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("clusterz") && detail.contains("HTTP "),
        "{detail}"
    );
}

/// The one document of `kind` among the rendered files in `dir`.
fn rendered_object(dir: &Path, kind: &str) -> Value {
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for d in k8s_manage::kubeapi::parse_manifest("rendered", &text).unwrap() {
            if d["kind"] == kind {
                return d;
            }
        }
    }
    panic!("no {kind} rendered in {}", dir.display())
}

/// `kubectl create --dry-run=server --validate=false -o json` of one object: the object as
/// the server would store it (a field the CRD's schema does not declare pruned silently).
fn dry_run_back(k: &Kubectl, obj: &Value) -> Value {
    let o = k.run_stdin(
        &[
            "create",
            "--dry-run=server",
            "--validate=false",
            "-o",
            "json",
            "-f",
            "-",
        ],
        Some(&obj.to_string()),
    );
    assert!(
        o.ok(),
        "dry run of {}: {}{}",
        obj["kind"],
        o.stdout,
        o.stderr
    );
    serde_json::from_str(&o.stdout).unwrap()
}

/// Every field of `sent` (leaves and empty containers) that `back` lacks or holds with
/// another value, as JSON pointers.
fn missing(sent: &Value, back: &Value, at: &str) -> Vec<String> {
    match (sent, back) {
        (Value::Object(s), Value::Object(b)) => s
            .iter()
            .flat_map(|(key, v)| match b.get(key) {
                Some(bv) => missing(v, bv, &format!("{at}/{key}")),
                None => vec![format!("{at}/{key}")],
            })
            .collect(),
        (Value::Array(s), Value::Array(b)) if s.len() == b.len() => s
            .iter()
            .zip(b)
            .enumerate()
            .flat_map(|(i, (v, bv))| missing(v, bv, &format!("{at}/{i}")))
            .collect(),
        _ if sent == back => Vec::new(),
        _ => vec![at.to_string()],
    }
}
