//! DolphinDB through its operator (DolphinDB-MGR): a `DolphinDB` custom resource
//! (`dolphindb.dolphindb.io/v1`), its license ConfigMap, and its scale planner (rebalance
//! chunks after adding data nodes; move every chunk away before removing one).

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
use base64::Engine;
use serde::Serialize;

pub const API_VERSION: &str = "dolphindb.dolphindb.io/v1";
pub const KIND: &str = "DolphinDB";
/// Where the admin password Secret is mounted in the controller (for the planner's scripts).
pub const ADMIN_SECRET_DIR: &str = "/etc/k8s-manage/dolphindb-admin";

/// Controllers or data nodes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Role {
    pub replicas: u32,
    pub port: u16,
    pub data_size: String,
    pub log_size: String,
    pub resources: Resources,
}

/// The `dolphindb:` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DolphindbConfig {
    pub namespace: String,
    /// Name of the `DolphinDB` resource; pods are `ddb-<name>-{ctr,dn}-<i>-0`.
    pub name: String,
    pub version: String,
    pub storage_class: String,
    /// The license file's bytes, base64 (ConfigMap `dolphindb-license`, key `dolphindb.lic`).
    pub license_base64: String,
    pub controller: Role,
    pub datanode: Role,
    pub replication_factor: u32,
    pub admin_password: String,
    pub domain_suffix_note: &'static str,
}

fn role(
    s: &Section,
    key: &'static str,
    n: u32,
    port: u16,
    [data, log, cpu, mem]: [&str; 4],
    diags: &mut Diagnostics,
) -> Option<(Role, crate::config::reader::Located<u32>)> {
    let r = s.sub(key, diags)?;
    let replicas = r.int("replicas", n, 1, 64, diags);
    let port = r.port("port", port, diags).value;
    let data_size = r.quantity("data-size", data, diags).value;
    let log_size = r.quantity("log-size", log, diags).value;
    let resources = common::resources(&r, cpu, mem, diags);
    r.finish(diags);
    Some((
        Role {
            replicas: replicas.value,
            port,
            data_size,
            log_size,
            resources,
        },
        replicas,
    ))
}

/// Read and check the `dolphindb:` section; the license file is read here.
pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> Option<DolphindbConfig> {
    let s = Section::top(file, "dolphindb", diags)?;
    let namespace = common::namespace(&s, "dolphindb", diags).value;
    let name = s.name("name", "ddb", 40, diags).value;
    let class = common::storage_class(&s, diags);
    let version = s.text("version", "v2.00.16", diags);
    let license = s.required_text(
        "license-file",
        "DolphinDB does not start without a license: put the license file (dolphindb.lic) in the \
         config dir and write `license-file: dolphindb.lic`",
        diags,
    );
    let ctl = role(
        &s,
        "controller",
        3,
        31210,
        ["10Gi", "1Gi", "1", "2Gi"],
        diags,
    );
    let dn = role(
        &s,
        "datanode",
        3,
        32210,
        ["100Gi", "10Gi", "2", "8Gi"],
        diags,
    );
    let rf = s.int("replication-factor", 2, 1, 16, diags);
    let admin_password = s.text("admin-password", "123456", diags).value;
    s.finish(diags);
    let valid_version = version.value.strip_prefix('v').is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if !valid_version {
        diags.push(
            Diagnostic::error(
                version.at.clone(),
                format!(
                    "`dolphindb.version` is `{}`, not a DolphinDB version",
                    version.value
                ),
            )
            .fix("write a version the operator supports, e.g. `version: v2.00.16`"),
        );
    }
    let (ctl, ctl_n) = ctl?;
    let (dn, dn_n) = dn?;
    common::quorum_size(
        &ctl_n,
        "dolphindb.controller.replicas",
        "controllers (Raft)",
        diags,
    );
    common::replication_fits(
        &rf,
        "dolphindb.replication-factor",
        &dn_n,
        "dolphindb.datanode.replicas",
        diags,
    );
    if ctl.port == dn.port {
        diags.push(
            Diagnostic::error(
                ctl_n.at.clone(),
                "the controller and data node ports are the same",
            )
            .fix("give `controller.port` and `datanode.port` different ports"),
        );
    }
    let license = license?;
    let dir = file.path.parent().unwrap_or(std::path::Path::new("."));
    let path = dir.join(&license.value);
    let bytes = match std::fs::read(&path) {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => {
            diags.push(
                Diagnostic::error(
                    license.at.clone(),
                    format!("the license file {} is empty", path.display()),
                )
                .fix("copy the license file DolphinDB sent you there"),
            );
            return None;
        }
        Err(e) => {
            diags.push(
                Diagnostic::error(license.at.clone(), format!("cannot read the license file {}: {e}", path.display()))
                    .fix("put the license file in the config dir (paths are relative to it) or write its absolute path"),
            );
            return None;
        }
    };
    let class = class?.value;
    Some(DolphindbConfig {
        namespace,
        name,
        version: version.value,
        storage_class: class,
        license_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        controller: ctl,
        datanode: dn,
        replication_factor: rf.value,
        admin_password,
        domain_suffix_note: "the operator's domainSuffix is set to svc.<cluster domain>",
    })
}

/// The scale planner of DolphinDB (data nodes).
pub struct DolphindbPlanner;
pub static PLANNER: DolphindbPlanner = DolphindbPlanner;

fn controller_pod(conf: &DolphindbConfig) -> String {
    format!("ddb-{}-ctr-0-0", conf.name)
}

fn datanode_pod(conf: &DolphindbConfig, i: u32) -> String {
    format!("ddb-{}-dn-{i}-0", conf.name)
}

/// Runs DolphinDB script `body` on the controller through the DolphinDB terminal. The
/// admin password is read from the mounted Secret into the script file (0600, removed
/// afterwards) as its first line, `login(...)`: never written into the step, never in the
/// terminal's arguments.
fn ddb_script(conf: &DolphindbConfig, body: &str) -> String {
    format!(
        "set -eu\numask 077\ntrap 'rm -f /tmp/k8s-manage.dos' EXIT\n\
         {{ printf 'login(\"admin\", \"'; sed 's/[\\\\\"]/\\\\&/g' {ADMIN_SECRET_DIR}/password | tr -d '\\n'; printf '\")\\n'; }} > /tmp/k8s-manage.dos\n\
         cat >> /tmp/k8s-manage.dos <<'DOS'\n{body}\nDOS\n\
         dolphindb -console 0 -remoteHost localhost -remotePort {port} -run /tmp/k8s-manage.dos\n",
        port = conf.controller.port
    )
}

impl ScalePlanner for DolphindbPlanner {
    fn scale_target(&self, cfg: &ServicesConfig, c: Option<&str>) -> Result<ObjectRef, Refusal> {
        let conf = config_for_plan("dolphindb", cfg, read)?;
        if let Some(other) = c.filter(|c| *c != "datanode") {
            return Err(unknown_component("dolphindb", other, &["datanode"]));
        }
        Ok(ObjectRef {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            namespace: Some(conf.namespace),
            name: conf.name,
        })
    }

    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
        let conf = config_for_plan("dolphindb", cfg, read)?;
        check_size("dolphindb", req)?;
        if let Some(other) = req.component.as_deref().filter(|c| *c != "datanode") {
            return Err(unknown_component("dolphindb", other, &["datanode"]));
        }
        plan(&conf, req)
    }
}

fn plan(conf: &DolphindbConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    let ns = conf.namespace.as_str();
    let ctl = controller_pod(conf);
    if req.target < 1 {
        return Err(refuse(
            "DolphinDB needs at least one data node",
            "scale to 1 or more, or use `service delete dolphindb`",
        ));
    }
    if req.target < req.current && req.target < conf.replication_factor {
        return Err(refuse(
            format!(
                "refusing to scale DolphinDB from {} to {} data nodes: dfsReplicationFactor is {} \
                 and replicas of a chunk must be on different data nodes",
                req.current, req.target, conf.replication_factor
            ),
            format!("scale to at least {} data nodes", conf.replication_factor),
        ));
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    let resize = |n: u32| {
        patch(
            API_VERSION,
            KIND,
            ns,
            &conf.name,
            serde_json::json!({"spec": {"datanode": {"replicas": n}}}),
        )
    };
    if req.target > req.current {
        steps.push(resize(req.target));
        for i in req.current..req.target {
            steps.push(wait_ready("Pod", ns, &datanode_pod(conf, i), 900));
        }
        steps.push(exec_sh(
            ns,
            &ctl,
            "dolphindb",
            ddb_script(
                conf,
                "rpc(getControllerAlias(), rebalanceChunksAmongDataNodes, true)",
            ),
            None,
        ));
        steps.push(exec_sh(
            ns,
            &ctl,
            "dolphindb",
            ddb_script(conf, RECOVERY_DONE),
            Some(3600),
        ));
        return Ok(steps);
    }
    for i in (req.target..req.current).rev() {
        let host = datanode_pod(conf, i);
        let leaving: Vec<String> = (req.target..=i)
            .map(|j| format!("\"{}\"", datanode_pod(conf, j)))
            .collect();
        let body = format!(
            "perf = rpc(getControllerAlias(), getClusterPerf, true)\n\
             src = exec first(name) from perf where mode = 0, host like \"{host}%\"\n\
             dests = exec name from perf where mode = 0, name != src, !(host in [{leaving}])\n\
             chunks = select chunkId, node from pnodeRun(getAllChunks)\n\
             for (c in exec chunkId from chunks where node = src) {{\n\
             \x20   holders = exec node from chunks where chunkId = c\n\
             \x20   free = dests[!(dests in holders)]\n\
             \x20   if (size(free) == 0) throw \"no data node can take chunk \" + c\n\
             \x20   rpc(getControllerAlias(), moveReplicas, src, free[0], c)\n\
             }}",
            leaving = leaving.join(", ")
        );
        steps.push(exec_sh(
            ns,
            &ctl,
            "dolphindb",
            ddb_script(conf, &body),
            None,
        ));
        steps.push(exec_sh(
            ns,
            &ctl,
            "dolphindb",
            ddb_script(conf, RECOVERY_DONE),
            Some(3600),
        ));
        let empty = format!(
            "perf = rpc(getControllerAlias(), getClusterPerf, true)\n\
             src = exec first(name) from perf where mode = 0, host like \"{host}%\"\n\
             n = exec count(*) from pnodeRun(getAllChunks) where node = src\n\
             if (n[0] != 0) throw \"data node \" + src + \" still holds \" + string(n[0]) + \" chunks\""
        );
        steps.push(exec_sh(
            ns,
            &ctl,
            "dolphindb",
            ddb_script(conf, &empty),
            None,
        ));
        steps.push(resize(i));
        steps.push(wait_deleted("Pod", ns, &host, 600));
        steps.push(delete_pvcs(
            ns,
            &[format!("data-{host}"), format!("log-{host}")],
        ));
    }
    Ok(steps)
}

/// Fails until every recovery task is Finished (run with a retry bound).
const RECOVERY_DONE: &str = "t = rpc(getControllerAlias(), getRecoveryTaskStatus)\n\
if (size(t) > 0 && (exec count(*) from t where Status != \"Finished\")[0] > 0) throw \"recovery tasks are still running\"";
