//! JSON Schemas (draft-07) of the config files for editors (yaml-language-server), made
//! from the definitions validation uses: the key tables of `config::keys` for the cluster,
//! Kubernetes and node-list files, and the reads the databases' validators make (recorded
//! by `service::databases::section::schema`) for `services-configuration.yaml`. The
//! schemas check shapes and types; `validate` remains the judge of everything else.

use super::keys::{self, Key, Value};
use crate::service::databases::{self, section::Read};
use serde_json::{Map, Value as Json, json};

const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// A single YAML value (not a mapping or a list); null is "not set".
fn scalar() -> Json {
    json!({"type": ["string", "number", "boolean", "null"]})
}

/// A whole number in the range, or the same digits as text (`sshport: "22"`).
fn int(min: u32, max: u32) -> Json {
    json!({"anyOf": [
        {"type": "integer", "minimum": min, "maximum": max},
        {"type": "string", "pattern": "^\\s*[0-9]+\\s*$"},
        {"type": "null"}
    ]})
}

fn ip() -> Json {
    json!({"type": ["string", "null"], "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
}

fn value_schema(v: Value, entry: &Json) -> Json {
    match v {
        Value::Text => scalar(),
        Value::Ip => ip(),
        Value::IpOrList => json!({"anyOf": [ip(), {"type": "array", "items": ip()}]}),
        Value::Port => int(1, 65535),
        Value::Cidr => json!({
            "type": ["string", "null"],
            "pattern": "^\\s*[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}\\s*$"
        }),
        Value::KubeVersion => {
            json!({"type": ["string", "null"], "pattern": "^\\s*v?[0-9]+\\.[0-9]+(\\.[0-9]+)?"})
        }
        Value::Int(min, max) => int(min, max),
        Value::Choice(words) => json!({"enum": words}),
        Value::Bool => json!({"anyOf": [{"type": "boolean"}, {"enum": ["true", "false"]}]}),
        Value::Flag => json!({}),
        Value::Images => {
            let props: Map<String, Json> = keys::KNOWN_IMAGES
                .iter()
                .map(|(name, what)| {
                    (
                        name.to_string(),
                        json!({"type": "string", "description": what}),
                    )
                })
                .collect();
            json!({"type": ["object", "null"], "properties": props, "additionalProperties": false})
        }
        Value::ExtraArgs => json!({
            "type": ["object", "null"],
            "additionalProperties": {"type": ["object", "null"], "additionalProperties": scalar()}
        }),
        Value::Mapping => json!({"type": ["object", "null"]}),
        Value::MachineList => json!({"type": "array", "items": entry}),
        Value::MachineMap => json!({"type": "object", "additionalProperties": entry}),
        Value::MachineDefaults => object(keys::DEFAULT_MACHINE_KEYS, false, &[], entry),
    }
}

fn describe(k: &Key) -> String {
    let mut d = k.help.to_string();
    if !k.default.is_empty() {
        d.push_str(&format!(" (default: {})", k.default));
    }
    if k.legacy {
        d.push_str(" [legacy key of the original]");
    }
    d
}

/// A mapping of the keys of `table`.
fn object(table: &[Key], open: bool, required: &[&str], entry: &Json) -> Json {
    let mut props = Map::new();
    for k in table {
        let mut s = value_schema(k.value, entry);
        if let Json::Object(m) = &mut s {
            m.insert("description".into(), Json::String(describe(k)));
        }
        props.insert(k.name.to_string(), s);
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": open
    })
}

/// A machine entry; other keys (service labels) are allowed, as validation keeps them.
fn machine(required: &[&str]) -> Json {
    object(keys::MACHINE_KEYS, true, required, &json!({}))
}

fn document(title: &str, mut body: Json) -> Json {
    if let Json::Object(m) = &mut body {
        m.insert("$schema".into(), Json::String(DRAFT.into()));
        m.insert("title".into(), Json::String(title.into()));
    }
    body
}

/// `cluster-configuration.yaml`.
pub fn cluster() -> Json {
    let entry = machine(&["hostname", "hostip", "k8s-role"]);
    document(
        "k8s-manage cluster-configuration.yaml",
        object(keys::CLUSTER_KEYS, true, &["machine-list"], &entry),
    )
}

/// `kubernetes-configuration.yaml`.
pub fn kubernetes() -> Json {
    let section = object(keys::KUBERNETES_KEYS, false, &[], &json!({}));
    document(
        "k8s-manage kubernetes-configuration.yaml",
        json!({
            "type": "object",
            "properties": {"kubernetes": section},
            "required": ["kubernetes"]
        }),
    )
}

/// A node list (`-f`): entries name machines by hostname, nodename or hostip, so no key of
/// an entry is required here.
pub fn node_list() -> Json {
    let mut s = object(keys::NODE_LIST_KEYS, true, &[], &machine(&[]));
    if let Json::Object(m) = &mut s {
        m.insert(
            "anyOf".into(),
            json!([{"required": ["machine-list"]}, {"required": ["machinelist"]}]),
        );
    }
    document("k8s-manage node list", s)
}

fn read_schema(r: Read) -> Json {
    match r {
        Read::Section => json!({"type": ["object", "null"], "properties": {}}),
        Read::Text => scalar(),
        Read::Int(min, max) => int(min, max),
        Read::Quantity => {
            json!({"type": ["string", "integer", "null"], "pattern": "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"})
        }
        Read::Cpu => {
            json!({"type": ["string", "number", "null"], "pattern": "^([0-9]+m|[0-9]*\\.?[0-9]+)$"})
        }
        Read::Name(max) => json!({
            "type": ["string", "null"],
            "maxLength": max,
            "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$"
        }),
    }
}

/// Put the schema of `path` (`a.b.c`) into `root`, creating the sections on the way.
fn insert(root: &mut Json, path: &[&str], schema: Json) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let props = root
        .as_object_mut()
        .and_then(|m| {
            m.entry("properties").or_insert_with(|| json!({}));
            m.get_mut("properties")
        })
        .and_then(Json::as_object_mut)
        .expect("a section schema has properties");
    if rest.is_empty() {
        match props.get_mut(*first) {
            // a section read before: keep its properties
            Some(existing) if existing.get("properties").is_some() => {}
            _ => {
                props.insert(first.to_string(), schema);
            }
        }
        return;
    }
    let child = props
        .entry(first.to_string())
        .or_insert_with(|| read_schema(Read::Section));
    insert(child, rest, schema);
}

/// `services-configuration.yaml`: `cluster.docker-registry-info` and one section per
/// built-in database, as their validators read them; other sections (the config dir's own
/// services) are free.
pub fn services() -> Json {
    let mut root = json!({"type": "object", "properties": {}});
    let registry: Map<String, Json> = crate::service::config::REGISTRY_KEYS
        .iter()
        .map(|(k, help)| {
            (
                k.to_string(),
                json!({"type": ["string", "number", "null"], "description": help}),
            )
        })
        .collect();
    insert(
        &mut root,
        &["cluster"],
        json!({"type": ["object", "null"], "properties": {
            "docker-registry-info": {"type": ["object", "null"], "properties": registry}
        }}),
    );
    for db in databases::DATABASES {
        let reads = databases::section::schema::recording(|| {
            let mut d = crate::diag::Diagnostics::default();
            let name: std::sync::Arc<str> = std::sync::Arc::from("schema.yaml");
            if let Some(f) = crate::config::source::SourceFile::parse(
                name,
                "schema.yaml".into(),
                format!("{db}: {{}}\n"),
                &mut d,
            ) {
                let cfg = crate::service::ServicesConfig {
                    file: Some(f),
                    values: json!({ db: {} }),
                };
                databases::validate(db, &cfg, &mut d);
            }
        });
        for (path, read) in reads {
            let parts: Vec<&str> = path.split('.').collect();
            insert(&mut root, &parts, read_schema(read));
        }
    }
    document("k8s-manage services-configuration.yaml", root)
}

/// Every schema with its file stem.
pub fn all() -> Vec<(&'static str, Json)> {
    vec![
        ("cluster-configuration", cluster()),
        ("kubernetes-configuration", kubernetes()),
        ("node-list", node_list()),
        ("services-configuration", services()),
    ]
}
