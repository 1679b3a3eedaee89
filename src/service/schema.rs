//! The JSON Schema (draft-07) of `services-configuration.yaml` for editors: made from the
//! reads the databases' validators make (recorded by `databases::section::schema`) and the
//! registry keys, with the value helpers of `config::schema`.

use super::databases::{self, section::Read};
use crate::config::schema::{document, int, scalar};
use serde_json::{Map, Value as Json, json};

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
    let registry: Map<String, Json> = super::config::REGISTRY_KEYS
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
                let cfg = super::ServicesConfig {
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
