//! Apache IoTDB (>= 1.3): ConfigNodes and DataNodes as two StatefulSets, one environment
//! variable per `iotdb-system.properties` key, and its scale planner (DataNodes by default,
//! ConfigNodes with `--component confignode`).

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

pub const CONFIGNODE_STS: &str = "iotdb-confignode";
pub const CONFIGNODE_SVC: &str = "iotdb-confignode-headless";
pub const DATANODE_STS: &str = "iotdb-datanode";
pub const DATANODE_SVC: &str = "iotdb-datanode-headless";
const DEFAULT_VERSION: &str = "2.0.5";
/// IoTDB's own CLI, in `lib/` of apache/iotdb images.
const DEFAULT_CLI_CLASS: &str = "org.apache.iotdb.cli.Cli";

/// Dot-separated Java identifiers of ASCII letters, digits and `_` (the name is written
/// into a shell command, so nothing else is let through).
fn is_java_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// One node group (ConfigNodes or DataNodes).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeGroup {
    pub replicas: u32,
    pub image: String,
    pub storage: Volume,
    pub resources: Resources,
    /// JVM heap in MiB (`MEMORY_SIZE`): three quarters of the memory limit, so the heap
    /// is sized from the container, not from the host.
    pub heap_mib: u64,
}

/// The `iotdb:` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IotdbConfig {
    pub namespace: String,
    pub cluster_name: String,
    pub confignode: NodeGroup,
    pub datanode: NodeGroup,
    pub schema_replication_factor: u32,
    pub data_replication_factor: u32,
    pub rpc_port: u16,
    pub rest_port: u16,
    /// Start the DataNodes' REST service (`enable_rest_service`). From 2.0.8 it is a
    /// plugin jar that a DataNode without it refuses to start for.
    pub rest_service: bool,
    /// Password of `root` used by k8s-manage's own CLI calls (kept in a Secret).
    pub root_password: String,
    /// Main class of the CLI in the DataNode image that scale's steps run
    /// (`org.apache.iotdb.cli.Cli`, as apache/iotdb images have it).
    pub cli_class: String,
    /// `major.minor` of the image, e.g. "2.0" (removal commands differ).
    pub version: String,
    pub confignode_sts: &'static str,
    pub confignode_svc: &'static str,
    pub datanode_sts: &'static str,
    pub datanode_svc: &'static str,
}

fn group(
    s: &Section,
    key: &'static str,
    image_suffix: &str,
    replicas: u32,
    [size, cpu, memory]: [&str; 3],
    class: &str,
    diags: &mut Diagnostics,
) -> Option<(
    NodeGroup,
    crate::config::reader::Located<u32>,
    crate::config::reader::Located<String>,
)> {
    let g = s.sub(key, diags)?;
    let n = g.int("replicas", replicas, 1, 64, diags);
    let image = common::image(
        &g,
        "image",
        &format!("apache/iotdb:{DEFAULT_VERSION}-{image_suffix}"),
        diags,
    );
    let size = g.quantity("storage-size", size, diags).value;
    let resources = common::resources(&g, cpu, memory, diags);
    g.finish(diags);
    // at most i64::MAX bytes (quantity_bytes), so three quarters in MiB fit a u64
    let heap_mib = u64::try_from(
        super::section::quantity_bytes(&resources.memory).unwrap_or(0) * 3 / 4 / (1 << 20),
    )
    .unwrap_or(u64::MAX);
    Some((
        NodeGroup {
            replicas: n.value,
            image: image.value.clone(),
            storage: Volume {
                storage_class: class.to_string(),
                size,
            },
            resources,
            heap_mib: heap_mib.max(256),
        },
        n,
        image,
    ))
}

/// `major.minor` from a tag such as `2.0.5-datanode`; `None` for digests or other tags.
fn image_version(image: &str) -> Option<(u32, u32)> {
    let tag = image.rsplit('/').next()?.split_once(':')?.1;
    let mut it = tag.split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Read and check the `iotdb:` section.
pub fn read(file: &SourceFile, diags: &mut Diagnostics) -> Option<IotdbConfig> {
    let s = Section::top(file, "iotdb", diags)?;
    let namespace = common::namespace(&s, "iotdb", diags).value;
    let class = common::storage_class(&s, diags);
    let class_name = class.as_ref().map(|c| c.value.clone()).unwrap_or_default();
    let cluster_name = s.text("cluster-name", "defaultCluster", diags).value;
    let cn = group(
        &s,
        "confignode",
        "confignode",
        3,
        ["10Gi", "1", "2Gi"],
        &class_name,
        diags,
    );
    let dn = group(
        &s,
        "datanode",
        "datanode",
        3,
        ["200Gi", "4", "8Gi"],
        &class_name,
        diags,
    );
    let schema_rf = s.int("schema-replication-factor", 3, 1, 64, diags);
    let data_rf = s.int("data-replication-factor", 2, 1, 64, diags);
    let rpc_port = s.port("rpc-port", 6667, diags).value;
    let rest_port = s.port("rest-port", 18080, diags).value;
    let rest = s.text("rest-service", "true", diags);
    let rest_service = match rest.value.as_str() {
        "true" => true,
        "false" => false,
        other => {
            diags.push(
                Diagnostic::error(
                    rest.at.clone(),
                    format!("`iotdb.rest-service: {other}` must be true or false"),
                )
                .fix("write `rest-service: false` for an image without IoTDB's REST plugin, or delete the key"),
            );
            true
        }
    };
    let root_password = s.text("root-password", "root", diags).value;
    let cli_class = s.text("cli-class", DEFAULT_CLI_CLASS, diags);
    if !is_java_class_name(&cli_class.value) {
        diags.push(
            Diagnostic::error(
                cli_class.at.clone(),
                format!(
                    "`iotdb.cli-class: {}` is not a Java class name",
                    cli_class.value
                ),
            )
            .fix(format!(
                "name the CLI's main class, e.g. `{DEFAULT_CLI_CLASS}`, or delete the key"
            )),
        );
    }
    s.finish(diags);
    let (cn, cn_n, cn_img) = cn?;
    let (dn, dn_n, dn_img) = dn?;
    common::quorum_size(
        &cn_n,
        "iotdb.confignode.replicas",
        "ConfigNodes (Raft)",
        diags,
    );
    common::replication_fits(
        &schema_rf,
        "iotdb.schema-replication-factor",
        &dn_n,
        "iotdb.datanode.replicas",
        diags,
    );
    common::replication_fits(
        &data_rf,
        "iotdb.data-replication-factor",
        &dn_n,
        "iotdb.datanode.replicas",
        diags,
    );
    let mut version = None;
    for img in [&cn_img, &dn_img] {
        if let Some((major, minor)) = image_version(&img.value) {
            if (major, minor) < (1, 3) {
                diags.push(
                    Diagnostic::error(img.at.clone(), format!("`{}` is IoTDB {major}.{minor}; these templates need 1.3 or later (seed and properties keys changed in 1.3)", img.value))
                        .fix(format!("use apache/iotdb:{DEFAULT_VERSION}-confignode and -datanode")),
                );
            }
            version.get_or_insert((major, minor));
        }
    }
    if let (Some(a), Some(b)) = (image_version(&cn_img.value), image_version(&dn_img.value))
        && a != b
    {
        diags.push(
            Diagnostic::error(
                dn_img.at.clone(),
                "ConfigNodes and DataNodes run different IoTDB versions",
            )
            .related(cn_img.at.clone())
            .fix("use the same version for both images"),
        );
    }
    if rpc_port == rest_port {
        diags.push(
            Diagnostic::error(
                s_at(file),
                "`iotdb.rpc-port` and `iotdb.rest-port` are the same port",
            )
            .fix("give them different ports"),
        );
    }
    let class = class?;
    let _ = class;
    let (major, minor) = version.unwrap_or((2, 0));
    Some(IotdbConfig {
        namespace,
        cluster_name,
        confignode: cn,
        datanode: dn,
        schema_replication_factor: schema_rf.value,
        data_replication_factor: data_rf.value,
        rpc_port,
        rest_port,
        rest_service,
        root_password,
        cli_class: cli_class.value,
        version: format!("{major}.{minor}"),
        confignode_sts: CONFIGNODE_STS,
        confignode_svc: CONFIGNODE_SVC,
        datanode_sts: DATANODE_STS,
        datanode_svc: DATANODE_SVC,
    })
}

fn s_at(file: &SourceFile) -> crate::diag::At {
    file.root
        .get_entry("iotdb")
        .map(|(k, _)| file.at(k.pos))
        .unwrap_or_else(|| file.at_file())
}

/// The scale planner of IoTDB.
pub struct IotdbPlanner;
pub static PLANNER: IotdbPlanner = IotdbPlanner;

#[derive(Clone, Copy, PartialEq)]
enum Component {
    DataNode,
    ConfigNode,
}

fn component(c: Option<&str>) -> Result<Component, Refusal> {
    match c {
        None | Some("datanode") => Ok(Component::DataNode),
        Some("confignode") => Ok(Component::ConfigNode),
        Some(other) => Err(unknown_component(
            "iotdb",
            other,
            &["datanode", "confignode"],
        )),
    }
}

impl ScalePlanner for IotdbPlanner {
    fn scale_target(&self, cfg: &ServicesConfig, c: Option<&str>) -> Result<ObjectRef, Refusal> {
        let conf = config_for_plan("iotdb", cfg, read)?;
        let sts = match component(c)? {
            Component::DataNode => DATANODE_STS,
            Component::ConfigNode => CONFIGNODE_STS,
        };
        Ok(ObjectRef::new("StatefulSet", Some(&conf.namespace), sts))
    }

    fn scale_plan(&self, cfg: &ServicesConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
        let conf = config_for_plan("iotdb", cfg, read)?;
        check_size("iotdb", req)?;
        match component(req.component.as_deref())? {
            Component::DataNode => plan_datanodes(&conf, req),
            Component::ConfigNode => plan_confignodes(&conf, req),
        }
    }
}

/// The IoTDB CLI (`iotdb.cli-class`) on DataNode 0, as `root`. `start-cli.sh` would put the password in java's
/// arguments, so the CLI's class is started directly with a Java argument file (0600,
/// removed afterwards) that holds the main class and its arguments; the password comes
/// from the pod's environment through the shell's own `printf` and `sed`'s stdin.
fn cli(conf: &IotdbConfig, domain: &str) -> String {
    format!(
        "cli() {{ ( umask 077; f=$(mktemp); trap 'rm -f \"$f\"' EXIT; \
         q() {{ printf '%s' \"$1\" | sed 's/[\\\\\"]/\\\\&/g; s/.*/\"&\"/'; echo; }}; \
         {{ printf '%s\\n' {class} -h {host} -p {port} -u root -pw; q \"$IOTDB_ROOT_PASSWORD\"; printf '%s\\n' -e; q \"$1\"; }} > \"$f\"; \
         \"${{JAVA_HOME:+$JAVA_HOME/bin/}}java\" -XX:-UsePerfData -cp '/iotdb/lib/*' @\"$f\" ); }}",
        class = conf.cli_class,
        host = common::member_fqdn(DATANODE_STS, 0, DATANODE_SVC, &conf.namespace, domain),
        port = conf.rpc_port
    )
}

/// Shell that sets `id` to the NodeID of the node whose address column (`col`, 1-based
/// among the `|`-separated cells) is `addr` in the output of `show`, or fails.
fn lookup_id(conf: &IotdbConfig, domain: &str, show: &str, col: u32, addr: &str) -> String {
    format!(
        "set -eu\n{}\nid=$(cli \"{show}\" | awk -F'|' -v a=\"{addr}\" '{{gsub(/ /,\"\",$2); gsub(/ /,\"\",${c})}} ${c}==a {{print $2}}')\n\
         [ -n \"$id\" ] || {{ echo \"{addr} is not in '{show}'\" >&2; exit 1; }}\n",
        cli(conf, domain),
        c = col + 1
    )
}

fn remove_command(conf: &IotdbConfig, kind: &str) -> String {
    if conf.version.starts_with("1.") {
        format!("/iotdb/sbin/remove-{kind}.sh \"$id\"")
    } else {
        format!("cli \"remove {kind} $id\"")
    }
}

fn plan_datanodes(conf: &IotdbConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    let ns = conf.namespace.as_str();
    let max_rf = conf
        .schema_replication_factor
        .max(conf.data_replication_factor);
    if req.target < 1 {
        return Err(refuse(
            "IoTDB needs at least one DataNode",
            "scale to 1 or more, or use `service delete iotdb`",
        ));
    }
    if req.target < req.current && req.target < max_rf {
        return Err(refuse(
            format!(
                "refusing to scale IoTDB DataNodes from {} to {}: regions keep {max_rf} replicas \
                 (schema-replication-factor {}, data-replication-factor {}) and each needs its own DataNode",
                req.current,
                req.target,
                conf.schema_replication_factor,
                conf.data_replication_factor
            ),
            format!("scale to at least {max_rf} DataNodes"),
        ));
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    if req.target > req.current {
        steps.push(scale_sts(ns, DATANODE_STS, req.target));
        steps.push(wait_ready("StatefulSet", ns, DATANODE_STS, 600));
        for i in req.current..req.target {
            let addr = common::member_fqdn(DATANODE_STS, i, DATANODE_SVC, ns, &req.cluster_domain);
            let script = format!(
                "set -eu\n{}\ncli \"show datanodes\" | awk -F'|' -v a=\"{addr}\" '{{gsub(/ /,\"\",$3); gsub(/ /,\"\",$4)}} $4==a && $3==\"Running\" {{f=1}} END {{exit !f}}'\n",
                cli(conf, &req.cluster_domain)
            );
            steps.push(exec_sh(
                ns,
                &format!("{DATANODE_STS}-0"),
                "datanode",
                script,
                Some(300),
            ));
        }
        return Ok(steps);
    }
    for i in (req.target..req.current).rev() {
        let addr = common::member_fqdn(DATANODE_STS, i, DATANODE_SVC, ns, &req.cluster_domain);
        let pod0 = format!("{DATANODE_STS}-0");
        // show datanodes: NodeID | Status | RpcAddress | RpcPort | ...
        let mut remove = lookup_id(conf, &req.cluster_domain, "show datanodes", 3, &addr);
        remove.push_str(&remove_command(conf, "datanode"));
        remove.push('\n');
        steps.push(exec_sh(ns, &pod0, "datanode", remove, None));
        let gone = format!(
            "set -eu\n{}\n! cli \"show datanodes\" | grep -F -q \"{addr}\"\n",
            cli(conf, &req.cluster_domain)
        );
        steps.push(exec_sh(ns, &pod0, "datanode", gone, Some(1800)));
        steps.push(scale_sts(ns, DATANODE_STS, i));
        steps.push(wait_deleted("Pod", ns, &format!("{DATANODE_STS}-{i}"), 300));
        steps.push(delete_pvcs(ns, &[format!("data-{DATANODE_STS}-{i}")]));
    }
    Ok(steps)
}

fn plan_confignodes(conf: &IotdbConfig, req: &ScaleRequest) -> Result<Vec<Step>, Refusal> {
    let ns = conf.namespace.as_str();
    if req.target != 1 && req.target != 3 {
        return Err(refuse(
            format!(
                "refusing {} ConfigNodes: the ConfigNode Raft group must have 1 or 3 members",
                req.target
            ),
            "scale ConfigNodes to 3 (or 1)",
        ));
    }
    let mut steps = Vec::new();
    if same_size(req) {
        return Ok(steps);
    }
    if req.target > req.current {
        // One member at a time: each new ConfigNode joins through the seed (ordinal 0).
        for i in req.current..req.target {
            steps.push(scale_sts(ns, CONFIGNODE_STS, i + 1));
            steps.push(wait_ready("StatefulSet", ns, CONFIGNODE_STS, 600));
            let addr =
                common::member_fqdn(CONFIGNODE_STS, i, CONFIGNODE_SVC, ns, &req.cluster_domain);
            let script = format!(
                "set -eu\n{}\ncli \"show confignodes\" | awk -F'|' -v a=\"{addr}\" '{{gsub(/ /,\"\",$3); gsub(/ /,\"\",$4)}} $4==a && $3==\"Running\" {{f=1}} END {{exit !f}}'\n",
                cli(conf, &req.cluster_domain)
            );
            steps.push(exec_sh(
                ns,
                &format!("{DATANODE_STS}-0"),
                "datanode",
                script,
                Some(300),
            ));
        }
        return Ok(steps);
    }
    // The seed (ordinal 0) is never removed: the highest ordinals go, one at a time.
    for i in (req.target..req.current).rev() {
        let addr = common::member_fqdn(CONFIGNODE_STS, i, CONFIGNODE_SVC, ns, &req.cluster_domain);
        let pod0 = format!("{DATANODE_STS}-0");
        // show confignodes: NodeID | Status | InternalAddress | InternalPort | Role
        let mut remove = lookup_id(conf, &req.cluster_domain, "show confignodes", 3, &addr);
        remove.push_str(&remove_command(conf, "confignode"));
        remove.push('\n');
        steps.push(exec_sh(ns, &pod0, "datanode", remove, None));
        let gone = format!(
            "set -eu\n{}\n! cli \"show confignodes\" | grep -F -q \"{addr}\"\n",
            cli(conf, &req.cluster_domain)
        );
        steps.push(exec_sh(ns, &pod0, "datanode", gone, Some(600)));
        steps.push(scale_sts(ns, CONFIGNODE_STS, i));
        steps.push(wait_deleted(
            "Pod",
            ns,
            &format!("{CONFIGNODE_STS}-{i}"),
            300,
        ));
        steps.push(delete_pvcs(ns, &[format!("data-{CONFIGNODE_STS}-{i}")]));
    }
    Ok(steps)
}
