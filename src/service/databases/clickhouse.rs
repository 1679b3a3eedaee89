//! ClickHouse through the Altinity operator: a `ClickHouseInstallation`
//! (`clickhouse.altinity.com/v1`), a ClickHouse Keeper StatefulSet (or external ZooKeeper
//! hosts), and its scale planner (replicas per shard up and down, with the ZooKeeper replica
//! metadata of removed replicas dropped; shards only up).

use super::common::{self, Resources};
use super::section::Section;
use super::steps::{delete_pvcs, exec_sh, patch, refuse, wait_deleted, wait_ready};
use super::{
    Refusal, ScalePlanner, ScaleRequest, check_size, config_for_plan, same_size, unknown_component,
};
use crate::config::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};
use crate::service::ServicesConfig;
use crate::service::steps::{ObjectRef, Step};
use serde::Serialize;
use serde_json::{Value, json};

pub const API_VERSION: &str = "clickhouse.altinity.com/v1";
pub const KIND: &str = "ClickHouseInstallation";
pub const KEEPER_STS: &str = "clickhouse-keeper";
pub const KEEPER_SVC: &str = "clickhouse-keepers";

/// The in-cluster ClickHouse Keeper.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Keeper {
    pub replicas: u32,
    pub image: String,
    pub storage_size: String,
    pub sts: &'static str,
    pub svc: &'static str,
}

/// The `clickhouse:` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClickhouseConfig {
    pub namespace: String,
    /// Name of the ClickHouseInstallation.
    pub name: String,
    /// Name of its one cluster (`remote_servers`).
    pub cluster: String,
    pub image: String,
    pub shards: u32,
    pub replicas: u32,
    /// `insert_quorum` of the default profile: inserts wait for this many replicas.
    pub insert_quorum: u32,
    pub storage_class: String,
    pub data_size: String,
    pub log_size: String,
    pub resources: Resources,
    pub http_port: u16,
    pub tcp_port: u16,
    pub interserver_port: u16,
    /// `None` when `zookeeper-hosts` points at an external ZooKeeper.
    pub keeper: Option<Keeper>,
    /// `{host, port}` of every coordination node the CHI uses.
    pub zookeeper_nodes: Vec<Value>,
    /// `spec.configuration.clusters` of the CHI, as rendered (the planner patches it whole).
    pub chi_clusters: Value,
}

/// Read and check the `clickhouse:` section.
pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> Option<ClickhouseConfig> {
    let s = Section::top(file, "clickhouse", diags)?;
    let namespace = common::namespace(&s, "clickhouse", diags).value;
    let name = s.name("name", "ch", 30, diags).value;
    let cluster = s.name("cluster", "main", 15, diags).value;
    let class = common::storage_class(&s, diags);
    let image = common::image(&s, "image", "clickhouse/clickhouse-server:25.3", diags).value;
    let shards = s.int("shards", 1, 1, 64, diags);
    let replicas = s.int("replicas", 2, 1, 16, diags);
    let quorum = s.int("insert-quorum", 1, 1, 16, diags);
    let data_size = s.quantity("data-size", "100Gi", diags).value;
    let log_size = s.quantity("log-size", "10Gi", diags).value;
    let resources = common::resources(&s, "2", "8Gi", diags);
    let http_port = s.port("http-port", 8123, diags).value;
    let tcp_port = s.port("tcp-port", 9000, diags).value;
    let interserver_port = s.port("interserver-port", 9009, diags).value;
    let external = s.has("zookeeper-hosts");
    let mut zk_nodes = Vec::new();
    if external {
        let hosts_key = file
            .root
            .get("clickhouse")
            .and_then(|c| c.get("zookeeper-hosts"));
        if let Some(list) = hosts_key.and_then(|n| {
            crate::config::reader::list(file, n, "`clickhouse.zookeeper-hosts`", diags)
        }) {
            for item in list {
                let Some(t) = crate::config::reader::text(file, item, "zookeeper-hosts", diags)
                else {
                    continue;
                };
                let parsed = t
                    .value
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)));
                match parsed {
                    Some((h, p)) if !h.is_empty() && p > 0 => {
                        zk_nodes.push(json!({"host": h, "port": p}))
                    }
                    _ => diags.push(
                        Diagnostic::error(t.at, format!("`{}` is not `host:port`", t.value))
                            .fix("write each ZooKeeper node as `host:2181`"),
                    ),
                }
            }
        }
    }
    let keeper = if external {
        if let Some(k) = s.sub("keeper", diags) {
            k.finish(diags);
        }
        None
    } else {
        let k = s.sub("keeper", diags)?;
        let n = k.int("replicas", 3, 1, 3, diags);
        common::quorum_size(
            &n,
            "clickhouse.keeper.replicas",
            "Keeper (Raft) members",
            diags,
        );
        let keeper = Keeper {
            replicas: n.value,
            image: common::image(&k, "image", "clickhouse/clickhouse-keeper:25.3", diags).value,
            storage_size: k.quantity("storage-size", "10Gi", diags).value,
            sts: KEEPER_STS,
            svc: KEEPER_SVC,
        };
        k.finish(diags);
        for i in 0..keeper.replicas {
            zk_nodes.push(json!({"host": format!("{KEEPER_STS}-{i}.{KEEPER_SVC}.{namespace}.svc"), "port": 2181}));
        }
        Some(keeper)
    };
    let at = s.at.clone();
    s.finish(diags);
    if external && zk_nodes.is_empty() {
        diags.push(Diagnostic::error(at.clone(), "`clickhouse.zookeeper-hosts` lists no host").fix("list at least one `host:2181`, or remove the key to run ClickHouse Keeper in the cluster"));
    }
    common::replication_fits(
        &quorum,
        "clickhouse.insert-quorum",
        &replicas,
        "clickhouse.replicas",
        diags,
    );
    let ports = [http_port, tcp_port, interserver_port];
    if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
        diags.push(
            Diagnostic::error(
                at.clone(),
                "`clickhouse` http-port, tcp-port and interserver-port must differ",
            )
            .fix("give each its own port"),
        );
    }
    let class = class?.value;
    let mut conf = ClickhouseConfig {
        namespace,
        name,
        cluster,
        image,
        shards: shards.value,
        replicas: replicas.value,
        insert_quorum: quorum.value,
        storage_class: class,
        data_size,
        log_size,
        resources,
        http_port,
        tcp_port,
        interserver_port,
        keeper,
        zookeeper_nodes: zk_nodes,
        chi_clusters: Value::Null,
    };
    conf.chi_clusters = chi_clusters(&conf, conf.shards, conf.replicas);
    Some(conf)
}

/// `spec.configuration.clusters` for a layout.
pub fn chi_clusters(conf: &ClickhouseConfig, shards: u32, replicas: u32) -> Value {
    json!([{
        "name": conf.cluster,
        "layout": {"shardsCount": shards, "replicasCount": replicas},
        "templates": {
            "podTemplate": "clickhouse",
            "dataVolumeClaimTemplate": "data",
            "logVolumeClaimTemplate": "log"
        }
    }])
}

/// The scale planner of ClickHouse.
pub struct ClickhousePlanner;
pub static PLANNER: ClickhousePlanner = ClickhousePlanner;

#[derive(Clone, Copy, PartialEq)]
enum Component {
    Replicas,
    Shards,
}

fn component(c: Option<&str>) -> Result<Component, Refusal> {
    match c {
        None | Some("replica") | Some("replicas") => Ok(Component::Replicas),
        Some("shard") | Some("shards") => Ok(Component::Shards),
        Some(other) => Err(unknown_component(
            "clickhouse",
            other,
            &["replicas", "shards"],
        )),
    }
}

/// Host name of shard `s`, replica `r` (also its replica name in ZooKeeper).
pub fn host(conf: &ClickhouseConfig, s: u32, r: u32) -> String {
    format!("chi-{}-{}-{s}-{r}", conf.name, conf.cluster)
}

impl ScalePlanner for ClickhousePlanner {
    fn scale_target(&self, cfg: &ServicesConfig, c: Option<&str>) -> Result<ObjectRef, Refusal> {
        let conf = config_for_plan("clickhouse", cfg, read)?;
        component(c)?;
        Ok(ObjectRef {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            namespace: Some(conf.namespace),
            name: conf.name,
        })
    }

    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
        let conf = config_for_plan("clickhouse", cfg, read)?;
        check_size("clickhouse", req)?;
        match component(req.component.as_deref())? {
            Component::Replicas => plan_replicas(&conf, req),
            Component::Shards => plan_shards(&conf, req),
        }
    }
}

fn query(sql: &str) -> String {
    format!("set -eu\nclickhouse-client --query \"{sql}\"\n")
}

fn resize(conf: &ClickhouseConfig, shards: u32, replicas: u32) -> Step {
    patch(
        API_VERSION,
        KIND,
        &conf.namespace,
        &conf.name,
        json!({"spec": {"configuration": {"clusters": chi_clusters(conf, shards, replicas)}}}),
    )
}

/// Waits until `system.clusters` shows the layout on replica 0 of shard 0.
fn layout_check(conf: &ClickhouseConfig, shards: u32, replicas: u32) -> Step {
    let script = format!(
        "set -eu\nn=$(clickhouse-client --query \"SELECT count() FROM system.clusters WHERE cluster = '{}'\")\n[ \"$n\" = {} ]\n",
        conf.cluster,
        shards * replicas
    );
    exec_sh(
        &conf.namespace,
        &format!("{}-0", host(conf, 0, 0)),
        "clickhouse",
        script,
        Some(600),
    )
}

fn plan_replicas(conf: &ClickhouseConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    let ns = conf.namespace.as_str();
    if req.target < 1 {
        return Err(refuse(
            "every ClickHouse shard needs at least one replica",
            "scale to 1 or more, or use `service delete clickhouse`",
        ));
    }
    if req.target < req.current && req.target < conf.insert_quorum {
        return Err(refuse(
            format!(
                "refusing to scale ClickHouse from {} to {} replicas per shard: inserts wait for {} replicas (insert-quorum) and would fail",
                req.current, req.target, conf.insert_quorum
            ),
            format!(
                "scale to at least {} replicas, or lower `clickhouse.insert-quorum` first",
                conf.insert_quorum
            ),
        ));
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    steps.push(resize(conf, conf.shards, req.target));
    if req.target > req.current {
        for s in 0..conf.shards {
            for r in req.current..req.target {
                steps.push(wait_ready(
                    "Pod",
                    ns,
                    &format!("{}-0", host(conf, s, r)),
                    900,
                ));
            }
        }
        steps.push(layout_check(conf, conf.shards, req.target));
        return Ok(steps);
    }
    for s in 0..conf.shards {
        for r in (req.target..req.current).rev() {
            steps.push(wait_deleted(
                "Pod",
                ns,
                &format!("{}-0", host(conf, s, r)),
                600,
            ));
        }
    }
    // The operator drops replicas from ZooKeeper, but not always all of them (Altinity
    // #955, #1033): drop what is left from a remaining replica of each shard.
    for s in 0..conf.shards {
        let pod = format!("{}-0", host(conf, s, 0));
        for r in (req.target..req.current).rev() {
            let sql = format!("SYSTEM DROP REPLICA '{}'", host(conf, s, r));
            steps.push(exec_sh(ns, &pod, "clickhouse", query(&sql), Some(300)));
        }
    }
    let mut pvcs = Vec::new();
    for s in 0..conf.shards {
        for r in (req.target..req.current).rev() {
            let pod = format!("{}-0", host(conf, s, r));
            pvcs.push(format!("data-{pod}"));
            pvcs.push(format!("log-{pod}"));
        }
    }
    steps.push(delete_pvcs(ns, &pvcs));
    steps.push(layout_check(conf, conf.shards, req.target));
    Ok(steps)
}

fn plan_shards(conf: &ClickhouseConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    if req.target < req.current {
        return Err(refuse(
            format!(
                "refusing to remove ClickHouse shards ({} to {}): the data of a removed shard is lost (ClickHouse does not move it)",
                req.current, req.target
            ),
            "copy the data away first (INSERT INTO ... SELECT), then remove the shard by hand",
        ));
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    steps.push(resize(conf, req.target, conf.replicas));
    for s in req.current..req.target {
        for r in 0..conf.replicas {
            steps.push(wait_ready(
                "Pod",
                &conf.namespace,
                &format!("{}-0", host(conf, s, r)),
                900,
            ));
        }
    }
    steps.push(layout_check(conf, req.target, conf.replicas));
    Ok(steps)
}
