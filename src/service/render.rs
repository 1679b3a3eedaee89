//! Tera rendering of service templates, step strings and image Dockerfiles, with the
//! context of `docs/SERVICES.md` §5: the cluster model, the whole
//! `services-configuration.yaml`, the registry prefix and the imagelist references
//! (never the registry username or password).

use super::config::{RegistrySettings, ServicesConfig};
use super::registry::{Registry, ServiceDef};
use super::steps::{LocatedStep, Step};
use crate::model::{Cluster, Machine, Role};
use serde::Serialize;
use serde_json::{Value, json};

/// One rendered file of a service.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    /// The template-list name (`statefulset.yaml`).
    pub name: String,
    pub text: String,
}

/// The context shared by every template of a run.
#[derive(Debug, Clone)]
pub struct RenderContext {
    base: Value,
    /// Per service: the database's typed, defaulted configuration (`db` in templates).
    db: std::collections::BTreeMap<String, Value>,
}

#[derive(Serialize)]
struct MachineView<'a> {
    hostname: &'a str,
    hostip: String,
    nodename: &'a str,
    role: &'a str,
    machine_type: Option<&'a str>,
    extra: &'a std::collections::BTreeMap<String, Value>,
}

fn machine_view(m: &Machine) -> MachineView<'_> {
    MachineView {
        hostname: &m.hostname,
        hostip: m.hostip.to_string(),
        nodename: &m.nodename,
        role: m.role.as_str(),
        machine_type: m.machine_type.as_deref(),
        extra: &m.extra,
    }
}

impl RenderContext {
    pub fn new(
        cluster: &Cluster,
        services: &ServicesConfig,
        registry: &RegistrySettings,
        reg: &Registry,
    ) -> RenderContext {
        let k = &cluster.kubernetes;
        let by_role = |r: Role| -> Vec<MachineView<'_>> {
            cluster
                .machines
                .iter()
                .filter(|m| m.role == r)
                .map(machine_view)
                .collect()
        };
        let images: serde_json::Map<String, Value> = reg
            .images
            .iter()
            .map(|i| (i.name.clone(), Value::from(registry.reference(&i.name))))
            .collect();
        let base = json!({
            "cluster": {
                "name": k.cluster_name,
                "kubernetes_version": k.version.to_string(),
                "kubernetes_minor": k.version.minor_str(),
                "domain": k.cluster_domain,
                "service_cidr": k.service_cidr.to_string(),
                "pod_cidr": k.pod_cidr.to_string(),
                "dns_service_ip": k.dns_service_ip.to_string(),
                "api_url": cluster.api_url(),
                "machines": cluster.machines.iter().map(machine_view).collect::<Vec<_>>(),
                "masters": by_role(Role::Master),
                "workers": by_role(Role::Worker),
            },
            "services": services.values,
            "registry": {
                "prefix": registry.prefix(),
                "domain": registry.domain,
                "namespace": registry.namespace,
                "tag": registry.tag,
                "secret_name": registry.secret_name,
            },
            "images": images,
        });
        let db = reg
            .services
            .iter()
            .filter_map(|s| {
                super::databases::template_values(&s.name, services).map(|v| (s.name.clone(), v))
            })
            .collect();
        RenderContext { base, db }
    }

    /// The context for one service (adds `service.name` and `config`).
    pub fn for_service(&self, name: &str) -> tera::Context {
        let mut v = self.base.clone();
        let config = self
            .base
            .get("services")
            .and_then(|s| s.get(name))
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("service".into(), json!({"name": name}));
            o.insert("config".into(), config);
            if let Some(db) = self.db.get(name) {
                o.insert("db".into(), db.clone());
            }
        }
        tera::Context::from_serialize(&v).unwrap_or_default()
    }

    /// The context for image templates (no service).
    pub fn for_images(&self) -> tera::Context {
        tera::Context::from_serialize(&self.base).unwrap_or_default()
    }

    /// The JSON the templates see (for tests and `--output json`).
    pub fn value(&self) -> &Value {
        &self.base
    }
}

/// Render one template text; the error names the file and carries Tera's report.
pub fn render_text(file: &str, text: &str, ctx: &tera::Context) -> Result<String, String> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::<&'static str>::new());
    tera.register_filter("json_encode", tera_contrib::json::json_encode);
    tera.add_raw_template(file, text)
        .map_err(|e| format!("{file}: template does not parse: {}", chain(&e)))?;
    tera.render(file, ctx)
        .map_err(|e| format!("{file}: {}", chain(&e)))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Render every file of a service's template-list, in order. Each output must be a
/// stream of Kubernetes objects (apiVersion, kind, metadata.name).
pub fn render_service(svc: &ServiceDef, ctx: &RenderContext) -> Result<Vec<RenderedFile>, String> {
    let tctx = ctx.for_service(&svc.name);
    let mut out = Vec::new();
    for t in &svc.template_list {
        let file = svc.file_name(&t.value);
        let src = svc
            .read_file(&t.value)
            .map_err(|e| format!("{file}: cannot read: {e}"))?;
        let text = render_text(&file, &src, &tctx)?;
        check_objects(&file, &text)?;
        out.push(RenderedFile {
            name: t.value.clone(),
            text,
        });
    }
    Ok(out)
}

/// Every document of a rendered manifest is an object with apiVersion, kind and a name.
pub fn check_objects(file: &str, text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| format!("{file}: the rendered text is not YAML: {e}"))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    for (i, d) in docs.iter().enumerate() {
        for key in ["/apiVersion", "/kind", "/metadata/name"] {
            if d.pointer(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!(
                    "{file}: rendered document {} has no {}",
                    i + 1,
                    key.trim_start_matches('/').replace('/', ".")
                ));
            }
        }
    }
    Ok(docs)
}

/// Fill in the Tera templates of a step's strings.
pub fn fill_step(step: &LocatedStep, svc: &str, ctx: &RenderContext) -> Result<Step, String> {
    let tctx = ctx.for_service(svc);
    let at = step.at.to_string();
    step.step.fill(&mut |s: &str| {
        if s.contains("{{") || s.contains("{%") {
            render_text(&at, s, &tctx)
        } else {
            Ok(s.to_string())
        }
    })
}

impl RenderedFile {
    /// Whether any document is a Secret (such a file is written 0600).
    pub fn holds_secret(&self) -> bool {
        serde_saphyr::from_multiple::<Value>(&self.text).map_or(true, |docs| {
            docs.iter()
                .any(|d| d.pointer("/kind").and_then(Value::as_str) == Some("Secret"))
        })
    }
}

/// The container images a rendered manifest uses (for `service list`).
pub fn images_of(files: &[RenderedFile]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "image"
                        && let Some(s) = x.as_str()
                    {
                        if !out.iter().any(|o| o == s) {
                            out.push(s.to_string());
                        }
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in files {
        if let Ok(docs) = serde_saphyr::from_multiple::<Value>(&f.text) {
            docs.iter().for_each(|d| walk(d, &mut out));
        }
    }
    out
}
