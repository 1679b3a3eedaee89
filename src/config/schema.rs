//! JSON Schemas (draft-07) of the config files for editors (yaml-language-server), made
//! from the definitions validation uses: the key tables of `config::keys` for the cluster,
//! Kubernetes and node-list files (`service::schema` makes the one of
//! `services-configuration.yaml` with the helpers here). The schemas check shapes and
//! types; `validate` remains the judge of everything else.

use super::keys::{self, Key, Value};
use serde_json::{Map, Value as Json, json};

const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// A single YAML value (not a mapping or a list); null is "not set".
pub(crate) fn scalar() -> Json {
    json!({"type": ["string", "number", "boolean", "null"]})
}

/// A whole number in the range, or the same digits as text (`sshport: "22"`).
pub(crate) fn int(min: u32, max: u32) -> Json {
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

/// `body` as a whole schema document with its `$schema` and `title`.
pub(crate) fn document(title: &str, mut body: Json) -> Json {
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
