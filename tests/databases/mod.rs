//! Test helpers for the built-in database services: a services-configuration.yaml from
//! text, and a small Tera renderer of `services/<db>/` templates with the contract's context
//! (`db`, `cluster`, `service`). Test-only: the product renderer is `service::render`.

#![allow(dead_code)]

use k8s_manage::config::source::SourceFile;
use k8s_manage::diag::Diagnostics;
use k8s_manage::service::ServicesConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub fn services_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("services")
}

/// A ServicesConfig from YAML text, as if read from `dir/services-configuration.yaml`.
pub fn config_in(dir: &Path, text: &str) -> ServicesConfig {
    let path = dir.join("services-configuration.yaml");
    let mut d = Diagnostics::default();
    let file = SourceFile::parse(
        "services-configuration.yaml".into(),
        path,
        text.to_string(),
        &mut d,
    )
    .unwrap_or_else(|| panic!("test YAML does not parse: {}", d.render_text(false)));
    let values = file.root.to_json(&file.text);
    ServicesConfig {
        file: Some(file),
        values,
    }
}

pub fn config(text: &str) -> ServicesConfig {
    config_in(Path::new("/nonexistent"), text)
}

/// Validation diagnostics of one service.
pub fn diagnostics(service: &str, cfg: &ServicesConfig) -> Diagnostics {
    let mut d = Diagnostics::default();
    k8s_manage::service::databases::validate(service, cfg, &mut d);
    d
}

/// The `template-list` of `services/<service>/service.yaml`.
pub fn template_list(service: &str) -> Vec<String> {
    let text = std::fs::read_to_string(services_dir().join(service).join("service.yaml"))
        .expect("service.yaml");
    let v: Value = serde_saphyr::from_str(&text).expect("service.yaml is YAML");
    v["template-list"]
        .as_array()
        .expect("template-list")
        .iter()
        .map(|s| s.as_str().expect("file name").to_string())
        .collect()
}

pub fn context(service: &str, cfg: &ServicesConfig, kubernetes_minor: &str) -> Value {
    let db = k8s_manage::service::databases::template_values(service, cfg).unwrap_or_else(|| {
        panic!(
            "{service}: invalid configuration: {}",
            diagnostics(service, cfg).render_text(false)
        )
    });
    json!({
        "db": db,
        "config": cfg.values.get(service).cloned().unwrap_or(Value::Null),
        "service": {"name": service},
        "cluster": {
            "name": "kubernetes",
            "domain": "cluster.local",
            "kubernetes_version": format!("v{kubernetes_minor}.1"),
            "kubernetes_minor": kubernetes_minor,
        },
    })
}

/// Render a Tera template text with a context.
pub fn render_text(name: &str, source: &str, ctx: &Value) -> String {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::<&'static str>::new());
    tera.register_filter("json_encode", tera_contrib::json::json_encode);
    tera.add_raw_template(name, source)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let context = tera::Context::from_serialize(ctx).expect("context");
    tera.render(name, &context)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// (file name, rendered text) of every template of the service.
pub fn render(
    service: &str,
    cfg: &ServicesConfig,
    kubernetes_minor: &str,
) -> Vec<(String, String)> {
    let ctx = context(service, cfg, kubernetes_minor);
    template_list(service)
        .into_iter()
        .map(|f| {
            let src = std::fs::read_to_string(services_dir().join(service).join(&f))
                .unwrap_or_else(|e| panic!("{service}/{f}: {e}"));
            let out = render_text(&f, &src, &ctx);
            (f, out)
        })
        .collect()
}

/// Every YAML document of rendered files.
pub fn documents(files: &[(String, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (name, text) in files {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .unwrap_or_else(|e| panic!("{name} is not YAML: {e}\n{text}"));
        out.extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    out
}

pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// The example configuration shipped for every database.
pub fn example_text() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("cluster-configuration/services/services-configuration.yaml"),
    )
    .expect("example services-configuration.yaml")
}

pub fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster-configuration/services")
}
