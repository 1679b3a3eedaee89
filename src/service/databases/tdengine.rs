//! TDengine 3.x: one StatefulSet of dnodes behind a headless governing Service, 1 or 3
//! mnodes, and its scale planner (`create mnode` when the third dnode arrives, `drop dnode
//! <id>` then wait before shrinking).

use super::common::{self, Resources, Volume};
use super::section::Section;
use super::steps::{delete_pvcs, exec_sh, refuse, scale_sts, wait_deleted, wait_ready};
use super::{
    Refusal, ScalePlanner, ScaleRequest, check_size, config_for_plan, same_size, unknown_component,
};
use crate::config::source::SourceFile;
use crate::diag::{Diagnostic, Diagnostics};
use crate::service::ServicesConfig;
use crate::service::steps::{ObjectRef, Step};
use serde::Serialize;

pub const STS: &str = "tdengine";
pub const SVC: &str = "taosd";

/// The `tdengine:` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TdengineConfig {
    pub namespace: String,
    pub image: String,
    /// Number of dnodes.
    pub replicas: u32,
    /// Number of mnodes (1 or 3), on the dnodes of ordinals 0..mnodes.
    pub mnodes: u32,
    /// The largest `REPLICA` the cluster's databases may use (1 or 3).
    pub database_replica: u32,
    pub data: Volume,
    pub log: Volume,
    pub resources: Resources,
    pub server_port: u16,
    pub rest_port: u16,
    pub timezone: String,
    pub root_password: String,
    pub sts: &'static str,
    pub svc: &'static str,
}

/// Read and check the `tdengine:` section.
pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> Option<TdengineConfig> {
    let s = Section::top(file, "tdengine", diags)?;
    let namespace = common::namespace(&s, "tdengine", diags).value;
    let class = common::storage_class(&s, diags);
    let image = common::image(&s, "image", "tdengine/tdengine:3.3.6.13", diags).value;
    let replicas = s.int("replicas", 3, 1, 128, diags);
    let mnodes = s.int("mnodes", 3, 1, 3, diags);
    let db_replica = s.int("database-replica", 3, 1, 3, diags);
    let data_size = s.quantity("data-size", "100Gi", diags).value;
    let log_size = s.quantity("log-size", "10Gi", diags).value;
    let resources = common::resources(&s, "2", "4Gi", diags);
    let server_port = s.port("server-port", 6030, diags).value;
    let rest_port = s.port("rest-port", 6041, diags).value;
    let timezone = s.text("timezone", "UTC", diags).value;
    let root_password = s.text("root-password", "taosdata", diags).value;
    s.finish(diags);
    common::quorum_size(&mnodes, "tdengine.mnodes", "mnodes", diags);
    if db_replica.value == 2 {
        diags.push(
            Diagnostic::error(
                db_replica.at.clone(),
                "`tdengine.database-replica` is 2: the community edition allows REPLICA 1 or 3",
            )
            .fix("set `database-replica: 3` (or 1)"),
        );
    }
    common::replication_fits(
        &db_replica,
        "tdengine.database-replica",
        &replicas,
        "tdengine.replicas",
        diags,
    );
    common::replication_fits(
        &mnodes,
        "tdengine.mnodes",
        &replicas,
        "tdengine.replicas",
        diags,
    );
    if server_port == rest_port {
        diags.push(
            Diagnostic::error(
                s_at(file),
                "`tdengine.server-port` and `tdengine.rest-port` are the same port",
            )
            .fix("give them different ports"),
        );
    }
    let class = class?.value;
    Some(TdengineConfig {
        namespace,
        image,
        replicas: replicas.value,
        mnodes: mnodes.value,
        database_replica: db_replica.value,
        data: Volume {
            storage_class: class.clone(),
            size: data_size,
        },
        log: Volume {
            storage_class: class,
            size: log_size,
        },
        resources,
        server_port,
        rest_port,
        timezone,
        root_password,
        sts: STS,
        svc: SVC,
    })
}

fn s_at(file: &SourceFile) -> crate::diag::At {
    file.root
        .get_entry("tdengine")
        .map(|(k, _)| file.at(k.pos))
        .unwrap_or_else(|| file.at_file())
}

/// The scale planner of TDengine (dnodes).
pub struct TdenginePlanner;
pub static PLANNER: TdenginePlanner = TdenginePlanner;

/// The `taos` CLI against dnode 0 (the firstEp), as root. The password comes from the
/// pod's environment and reaches taos on stdin (`-p` alone makes it read it there), never
/// in its arguments (`printf` is the shell's own).
fn taos(conf: &TdengineConfig, domain: &str) -> String {
    format!(
        "taos_sql() {{ printf '%s\\n' \"$TAOS_ROOT_PASSWORD\" | taos -h {} -P {} -u root -p -s \"$1\"; }}",
        common::member_fqdn(STS, 0, SVC, &conf.namespace, domain),
        conf.server_port
    )
}

fn endpoint(conf: &TdengineConfig, ordinal: u32, domain: &str) -> String {
    format!(
        "{}:{}",
        common::member_fqdn(STS, ordinal, SVC, &conf.namespace, domain),
        conf.server_port
    )
}

/// Shell setting `id` to the dnode id of `ep` (`show dnodes`: id | endpoint | ...).
fn dnode_id(ep: &str) -> String {
    format!(
        "id=$(taos_sql \"show dnodes\" | awk -F'|' -v e=\"{ep}\" '{{gsub(/ /,\"\",$1); gsub(/ /,\"\",$2)}} $2==e {{print $1}}')\n\
         [ -n \"$id\" ] || {{ echo \"dnode {ep} is not in 'show dnodes'\" >&2; exit 1; }}\n"
    )
}

/// `create mnode on dnode <id>` for a dnode that has none yet.
pub fn create_mnode_script(conf: &TdengineConfig, ordinal: u32, domain: &str) -> String {
    let ep = endpoint(conf, ordinal, domain);
    format!(
        "set -eu\n{}\n{}if taos_sql \"show mnodes\" | grep -F -q \"{ep}\"; then exit 0; fi\ntaos_sql \"create mnode on dnode $id\"\n",
        taos(conf, domain),
        dnode_id(&ep)
    )
}

impl ScalePlanner for TdenginePlanner {
    fn scale_target(&self, cfg: &ServicesConfig, c: Option<&str>) -> Result<ObjectRef, Refusal> {
        let conf = config_for_plan("tdengine", cfg, read)?;
        if let Some(other) = c.filter(|c| *c != "dnode") {
            return Err(unknown_component("tdengine", other, &["dnode"]));
        }
        Ok(ObjectRef::new("StatefulSet", Some(&conf.namespace), STS))
    }

    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
        let conf = config_for_plan("tdengine", cfg, read)?;
        check_size("tdengine", req)?;
        if let Some(other) = req.component.as_deref().filter(|c| *c != "dnode") {
            return Err(unknown_component("tdengine", other, &["dnode"]));
        }
        plan(&conf, req)
    }
}

fn plan(conf: &TdengineConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    let ns = conf.namespace.as_str();
    let pod0 = format!("{STS}-0");
    if req.target < 1 {
        return Err(refuse(
            "TDengine needs at least one dnode",
            "scale to 1 or more, or use `service delete tdengine`",
        ));
    }
    if req.target < req.current {
        if req.target < conf.mnodes {
            return Err(refuse(
                format!(
                    "refusing to scale TDengine from {} to {} dnodes: the {} mnodes need a dnode each, \
                     and fewer would break the mnode quorum",
                    req.current, req.target, conf.mnodes
                ),
                format!("scale to at least {} dnodes", conf.mnodes),
            ));
        }
        if req.target < conf.database_replica {
            return Err(refuse(
                format!(
                    "refusing to scale TDengine from {} to {} dnodes: databases may use REPLICA {} \
                     (tdengine.database-replica) and each replica needs its own dnode",
                    req.current, req.target, conf.database_replica
                ),
                format!("scale to at least {} dnodes", conf.database_replica),
            ));
        }
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    if req.target > req.current {
        // New dnodes run `create dnode` against the firstEp themselves (the image's entrypoint).
        steps.push(scale_sts(ns, STS, req.target));
        steps.push(wait_ready("StatefulSet", ns, STS, 900));
        for i in req.current..req.target {
            let ep = endpoint(conf, i, &req.cluster_domain);
            let script = format!(
                "set -eu\n{}\ntaos_sql \"show dnodes\" | awk -F'|' -v e=\"{ep}\" '{{gsub(/ /,\"\",$2); gsub(/ /,\"\",$5)}} $2==e && $5==\"ready\" {{f=1}} END {{exit !f}}'\n",
                taos(conf, &req.cluster_domain)
            );
            steps.push(exec_sh(ns, &pod0, "tdengine", script, Some(600)));
        }
        // The mnodes that could not exist before there were enough dnodes.
        for m in req.current.max(1)..conf.mnodes.min(req.target) {
            steps.push(exec_sh(
                ns,
                &pod0,
                "tdengine",
                create_mnode_script(conf, m, &req.cluster_domain),
                Some(120),
            ));
        }
        return Ok(steps);
    }
    // Guard against databases created with a larger REPLICA than the configuration says.
    let guard = format!(
        "set -eu\n{}\nr=$(taos_sql \"select max(\\`replica\\`) as r from information_schema.ins_databases\" | awk -F'|' '{{gsub(/ /,\"\",$1)}} $1 ~ /^[0-9]+$/ {{print $1}}')\n\
         if [ \"${{r:-0}}\" -gt {t} ]; then echo \"refusing: a database uses REPLICA $r, more than the {t} dnodes that would remain\" >&2; exit 1; fi\n",
        taos(conf, &req.cluster_domain),
        t = req.target
    );
    steps.push(exec_sh(ns, &pod0, "tdengine", guard, None));
    for i in (req.target..req.current).rev() {
        let ep = endpoint(conf, i, &req.cluster_domain);
        // Dropped by numeric id: `drop dnode "fqdn:port"` is rejected (TDengine#22083).
        let drop = format!(
            "set -eu\n{}\n{}taos_sql \"drop dnode $id\"\n",
            taos(conf, &req.cluster_domain),
            dnode_id(&ep)
        );
        steps.push(exec_sh(ns, &pod0, "tdengine", drop, None));
        let gone = format!(
            "set -eu\n{}\n! taos_sql \"show dnodes\" | grep -F -q \"{ep}\"\n",
            taos(conf, &req.cluster_domain)
        );
        steps.push(exec_sh(ns, &pod0, "tdengine", gone, Some(1800)));
        steps.push(scale_sts(ns, STS, i));
        steps.push(wait_deleted("Pod", ns, &format!("{STS}-{i}"), 300));
        steps.push(delete_pvcs(
            ns,
            &[format!("taosdata-{STS}-{i}"), format!("taoslog-{STS}-{i}")],
        ));
    }
    Ok(steps)
}
