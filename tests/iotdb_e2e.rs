//! Apache IoTDB for real on a sandbox cluster: the built-in `iotdb` service (1 ConfigNode,
//! 3 DataNodes, schema and data replication factor 2) deployed by `service deploy` on the
//! sandbox's IoTDB image (Debian's Java 17 and the ConfigNode and DataNode zips of IoTDB
//! 2.0.10 from Maven Central, `k8s_manage::sandbox::iotdb_image`), its volumes from the
//! `local-path-provisioner` add-on. A real client (Apache IoTDB's Python session, PyPI
//! `apache-iotdb`, `tests/iotdb/client.py`) writes 10,000 points through DataNode 0 and
//! reads them back through DataNode 2; `show datanodes` lists three Running nodes. Then
//! `service scale` takes the DataNodes down to 2 through IoTDB's own `remove datanode`
//! (refused below the replication factor first), the freed volume goes, every point is
//! still read back, and a scale back up to 3 brings a new DataNode Running.
//!
//! The Python client comes from `K8S_MANAGE_IOTDB_PYTHON` (a Python with apache-iotdb
//! 2.0.10; `scripts/setup.sh` makes one in /opt/k8s-manage-test/iotdb-venv).

#[path = "common/cluster_sandbox.rs"]
mod cluster_sandbox;
mod common;
#[path = "common/kubectl.rs"]
mod kubectl;
use cluster_sandbox::{cluster, k8s_manage, up};
use k8s_manage::sandbox::iotdb_image;
use kubectl::Kubectl;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const POINTS: u32 = 10_000;

fn python() -> PathBuf {
    std::env::var_os("K8S_MANAGE_IOTDB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/k8s-manage-test/iotdb-venv/bin/python"))
}

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

/// A DataNode's client port on a node's address: a NodePort Service of the test that
/// selects that one pod (the DataNode listens on its pod address only, so a
/// `kubectl port-forward`, which connects to the pod's loopback, cannot reach it).
/// (node address, port).
fn endpoint(k: &Kubectl, dir: &Path, pod: &str) -> (String, u16) {
    let name = format!("test-{pod}");
    k.apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: iotdb\n\
         spec:\n  type: NodePort\n  selector:\n    statefulset.kubernetes.io/pod-name: {pod}\n  \
         ports: [{{port: 6667, targetPort: 6667}}]\n"
    ));
    let port = k.ok(&[
        "-n",
        "iotdb",
        "get",
        "svc",
        &name,
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let host = cluster(dir).machines[0].hostip.to_string();
    (host, port.trim().parse().expect("a node port"))
}

/// Run the client against a DataNode; (exit ok, stdout + stderr).
fn client(k: &Kubectl, dir: &Path, pod: &str, args: &[&str]) -> (bool, String) {
    let (host, port) = endpoint(k, dir, pod);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iotdb/client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(host)
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("the IoTDB Python client runs (K8S_MANAGE_IOTDB_PYTHON)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `show datanodes` through `pod`: (NodeID, Status, RpcAddress) per DataNode.
fn datanodes(k: &Kubectl, dir: &Path, pod: &str) -> Vec<(String, String, String)> {
    let (ok, out) = client(k, dir, pod, &["sql", "show datanodes"]);
    assert!(ok, "show datanodes: {out}");
    out.lines()
        .map(|l| l.split('|').map(str::to_string).collect::<Vec<_>>())
        .filter(|c| c.len() >= 3)
        .map(|c| (c[0].clone(), c[1].clone(), c[2].clone()))
        .collect()
}

/// (busy, total) jiffies of the whole machine from /proc/stat (steal counts as busy).
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The share of all cores kept busy since `from`, in percent.
fn cpu_share(from: (u64, u64)) -> f64 {
    let now = cpu_jiffies();
    100.0 * (now.0 - from.0) as f64 / (now.1 - from.1).max(1) as f64
}

fn services_config(image: &str) -> String {
    format!(
        "iotdb:\n  namespace: iotdb\n  storage-class: local-path\n  \
         # The zips on Maven Central have no REST plugin (org.apache.iotdb:rest is not there).\n  \
         rest-service: false\n  \
         # Nor iotdb-cli: the image's own SQL client runs scale's statements.\n  \
         cli-class: {cli}\n  \
         schema-replication-factor: 2\n  data-replication-factor: 2\n  \
         confignode:\n    replicas: 1\n    image: {image}\n    storage-size: 1Gi\n    \
         cpu: 500m\n    memory: 1536Mi\n  \
         datanode:\n    replicas: 3\n    image: {image}\n    storage-size: 1Gi\n    \
         cpu: 500m\n    memory: 2Gi\n",
        cli = iotdb_image::SQL_CLIENT_CLASS
    )
}

#[test]
fn iotdb_runs_replicates_and_answers_through_another_datanode() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let image = rt
        .block_on(iotdb_image::ensure_iotdb_image(
            iotdb_image::IOTDB_VERSION,
            &|m: &str| eprintln!("iotdb image: {m}"),
        ))
        .expect("the IoTDB image is built");
    eprintln!("iotdb image ready after {:?}", started.elapsed());

    let sb = up("iotdb", 1, 1, false);
    let dir = sb.dir.clone();
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

    // The image into every node's engine, as `sandbox up` does for the components.
    for host in ["master1", "worker1"] {
        let node = format!("{}-{host}", sb.name);
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker save {image} | docker exec -i {node} docker load -q"
            ))
            .status()
            .unwrap();
        assert!(status.success(), "loading {image} into {node}");
    }
    std::fs::write(
        dir.join("services-configuration.yaml"),
        services_config(&image),
    )
    .unwrap();

    // Deploy, timed until IoTDB answers a query through a DataNode.
    let t0 = Instant::now();
    let cpu0 = cpu_jiffies();
    let (code, v, stderr) = svc(&["deploy", "-s", "iotdb", "--wait-seconds", "900"], &dir);
    if code != 0 {
        let pods = k.run(&["-n", "iotdb", "describe", "pods"]);
        let logs = k.run(&[
            "-n",
            "iotdb",
            "logs",
            "--tail",
            "40",
            "-l",
            "app.kubernetes.io/name=iotdb",
            "--all-containers",
            "--prefix",
        ]);
        panic!(
            "service deploy iotdb: {v}\n{stderr}\n{}\n{}",
            pods.stdout, logs.stdout
        );
    }
    let deployed = t0.elapsed();
    let nodes = datanodes(&k, &dir, "iotdb-datanode-0");
    let answered = t0.elapsed();
    eprintln!(
        "BENCH service deploy iotdb: deploy returned after {:.1}s, first answer after {:.1}s, \
         machine CPU busy {:.0}% of 2 cores",
        deployed.as_secs_f64(),
        answered.as_secs_f64(),
        cpu_share(cpu0)
    );
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.1 == "Running"), "{nodes:?}");
    // Every PVC is bound by the provisioner.
    let pvcs = k.ok(&[
        "-n",
        "iotdb",
        "get",
        "pvc",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(
        pvcs.split_whitespace().filter(|p| *p == "Bound").count(),
        4,
        "{pvcs}"
    );

    // Write through DataNode 0, read back through DataNode 2.
    let t = Instant::now();
    let cpu0 = cpu_jiffies();
    let (ok, out) = client(
        &k,
        &dir,
        "iotdb-datanode-0",
        &["write", &POINTS.to_string()],
    );
    assert!(ok, "write: {out}");
    eprintln!(
        "BENCH wrote {POINTS} points in {:.1}s (machine CPU busy {:.0}%)",
        t.elapsed().as_secs_f64(),
        cpu_share(cpu0)
    );
    let sum: u64 = (1..=u64::from(POINTS)).map(|t| t * 2).sum();
    assert_points(&k, &dir, "iotdb-datanode-2", sum);
    // The data regions keep two replicas.
    let (ok, regions) = client(&k, &dir, "iotdb-datanode-1", &["sql", "show regions"]);
    assert!(ok, "show regions: {regions}");
    eprintln!("show regions:\n{regions}");

    // A scale-down below the replication factor is refused with the reason; nothing changes.
    let (code, v, stderr) = scale_datanodes(&k, &dir, 1);
    assert_eq!(code, 2, "{v}\n{stderr}");
    let said = format!("{v}{stderr}");
    assert!(
        said.contains("regions keep 2 replicas") && said.contains("scale to at least 2 DataNodes"),
        "{said}"
    );
    let sts_replicas = || {
        k.ok(&[
            "-n",
            "iotdb",
            "get",
            "sts",
            "iotdb-datanode",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    assert_eq!(sts_replicas(), "3");
    assert_eq!(datanodes(&k, &dir, "iotdb-datanode-1").len(), 3);

    // Down to 2 through IoTDB's own removal: DataNode 2 leaves `show datanodes` (its
    // regions move to the two left), the StatefulSet shrinks, its PVC is deleted.
    let t = Instant::now();
    let cpu0 = cpu_jiffies();
    let (code, v, stderr) = scale_datanodes(&k, &dir, 2);
    assert_eq!(code, 0, "scale to 2: {v}\n{stderr}");
    eprintln!(
        "BENCH DataNode scale-down 3 -> 2 with {POINTS} points written: {:.1}s \
         (machine CPU busy {:.0}%)",
        t.elapsed().as_secs_f64(),
        cpu_share(cpu0)
    );
    assert_eq!(sts_replicas(), "2");
    let nodes = datanodes(&k, &dir, "iotdb-datanode-1");
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.1 == "Running"), "{nodes:?}");
    assert!(
        !nodes.iter().any(|n| n.2.starts_with("iotdb-datanode-2.")),
        "{nodes:?}"
    );
    let claims = k.ok(&[
        "-n",
        "iotdb",
        "get",
        "pvc",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert!(!claims.contains("iotdb-datanode-2"), "{claims}");
    // Every region was moved off it and still has its two replicas.
    let (ok, regions) = client(&k, &dir, "iotdb-datanode-1", &["sql", "show regions"]);
    assert!(ok, "show regions: {regions}");
    let mut replicas: std::collections::BTreeMap<String, u32> = Default::default();
    for cells in regions
        .lines()
        .map(|l| l.split('|').collect::<Vec<_>>())
        .filter(|c| c.len() > 7)
    {
        assert!(!cells[7].starts_with("iotdb-datanode-2."), "{regions}");
        assert_eq!(cells[2], "Running", "{regions}");
        *replicas.entry(cells[0].to_string()).or_default() += 1;
    }
    assert!(
        !replicas.is_empty() && replicas.values().all(|n| *n == 2),
        "{regions}"
    );
    // Everything written is still there, read through the other DataNode.
    assert_points(&k, &dir, "iotdb-datanode-1", sum);

    // Back up to 3: a new DataNode on a new volume joins and is Running.
    let t = Instant::now();
    let (code, v, stderr) = scale_datanodes(&k, &dir, 3);
    assert_eq!(code, 0, "scale to 3: {v}\n{stderr}");
    eprintln!(
        "BENCH DataNode scale-up 2 -> 3: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(sts_replicas(), "3");
    let nodes = datanodes(&k, &dir, "iotdb-datanode-2");
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.1 == "Running"), "{nodes:?}");
    assert_points(&k, &dir, "iotdb-datanode-2", sum);
}

/// `service scale iotdb --component datanode --replicas N`: (exit code, report, stderr).
fn scale_datanodes(k: &Kubectl, dir: &Path, replicas: u32) -> (i32, Value, String) {
    let n = replicas.to_string();
    let (code, v, stderr) = svc(
        &[
            "scale",
            "-s",
            "iotdb",
            "--component",
            "datanode",
            "--replicas",
            &n,
            "--wait-seconds",
            "900",
        ],
        dir,
    );
    // a step failed (not a refusal, 2): show the pods and the DataNodes' last lines
    if code == 1 {
        let pods = k.run(&["-n", "iotdb", "get", "pods", "-o", "wide"]);
        let logs = k.run(&[
            "-n",
            "iotdb",
            "logs",
            "--tail",
            "60",
            "-l",
            "app.kubernetes.io/component=datanode",
            "--prefix",
        ]);
        eprintln!("pods:\n{}\nlogs:\n{}", pods.stdout, logs.stdout);
    }
    (code, v, stderr)
}

/// The POINTS points, counted and summed through `pod`.
fn assert_points(k: &Kubectl, dir: &Path, pod: &str, sum: u64) {
    let (ok, out) = client(k, dir, pod, &["count"]);
    assert!(ok, "count through {pod}: {out}");
    let mut cells = out.trim().split('|');
    assert_eq!(
        cells.next(),
        Some(POINTS.to_string().as_str()),
        "through {pod}: {out}"
    );
    let read_sum: f64 = cells.next().unwrap_or("").parse().unwrap_or(-1.0);
    assert_eq!(read_sum as u64, sum, "through {pod}: {out}");
}
