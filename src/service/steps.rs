//! The declarative steps of a service (`apply`, `wait`, `exec`, `delete`, `scale`): their
//! types, how they are read from a located `service.yaml` list, and how the Tera templates
//! in their strings are filled in before they run. The format is `docs/SERVICES.md` §3–4.

use crate::config::source::SourceFile;
use crate::config::yaml_tree::{Kind, Node};
use crate::diag::{At, Diagnostic, Diagnostics};
use std::time::Duration;

/// One step. Strings may hold Tera templates until [`Step::fill`] has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Server-side apply of these rendered template files, in order.
    Apply {
        templates: Vec<String>,
    },
    Wait(WaitSpec),
    Exec(ExecSpec),
    /// Delete objects (absent ones are fine).
    Delete {
        items: Vec<DeleteItem>,
    },
    /// Set `spec.replicas` of a StatefulSet or Deployment.
    Scale {
        target: ObjectRef,
        replicas: u32,
    },
    /// JSON merge patch of one object (e.g. a field of an operator's custom resource).
    Patch {
        target: ObjectRef,
        merge: serde_json::Value,
    },
}

/// One Kubernetes object, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// An object of a well-known kind; the apiVersion is derived from the kind
    /// (`v1` for core kinds, `apps/v1` for workloads, ...).
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: default_api_version(kind).to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The apiVersion of a kind the step format knows without being told.
pub fn default_api_version(kind: &str) -> &'static str {
    match kind {
        "StatefulSet" | "Deployment" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "PodDisruptionBudget" => "policy/v1",
        "CustomResourceDefinition" => "apiextensions.k8s.io/v1",
        "StorageClass" => "storage.k8s.io/v1",
        "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding" => {
            "rbac.authorization.k8s.io/v1"
        }
        _ => "v1",
    }
}

/// What a wait looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    Object(ObjectRef),
    /// Pods matching an equality label selector (`k=v,k2=v2`); at least `count` of them.
    Pods {
        namespace: String,
        selector: String,
        count: u32,
    },
}

/// The condition a wait waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Kind-specific readiness (see `docs/SERVICES.md`).
    Ready,
    Exists,
    Deleted,
    /// `status.conditions[type == T].status == "True"`.
    Type(String),
}

impl Condition {
    pub fn parse(s: &str) -> Condition {
        match s {
            "ready" => Condition::Ready,
            "exists" => Condition::Exists,
            "deleted" => Condition::Deleted,
            other => Condition::Type(other.to_string()),
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Ready => f.write_str("ready"),
            Condition::Exists => f.write_str("exists"),
            Condition::Deleted => f.write_str("deleted"),
            Condition::Type(t) => write!(f, "condition {t}=True"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSpec {
    pub target: WaitTarget,
    pub condition: Condition,
    /// `None`: the command's `--wait-seconds`.
    pub timeout: Option<Duration>,
}

/// Which pod an exec runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodTarget {
    Name(String),
    /// The first Ready pod (by name) matching this equality selector.
    Selector(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub pod: PodTarget,
    pub namespace: String,
    pub container: Option<String>,
    pub command: Vec<String>,
    /// Repeat (every 5 s) until the command exits 0, at most this long.
    pub retry: Option<Duration>,
}

/// One thing a `delete` step removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// Every object the rendered template file holds (in reverse order).
    Template(String),
    Object(ObjectRef),
}

/// A step with where it was written (for errors while filling in or running it).
#[derive(Debug, Clone)]
pub struct LocatedStep {
    pub step: Step,
    pub at: At,
}

impl Step {
    /// A one-line description for progress output.
    pub fn describe(&self) -> String {
        match self {
            Step::Apply { templates } => format!("apply {}", templates.join(", ")),
            Step::Wait(w) => match &w.target {
                WaitTarget::Object(o) => format!("wait for {o}: {}", w.condition),
                WaitTarget::Pods {
                    namespace,
                    selector,
                    count,
                } => format!(
                    "wait for {count}+ pods {namespace}/{selector}: {}",
                    w.condition
                ),
            },
            Step::Exec(e) => {
                let pod = match &e.pod {
                    PodTarget::Name(n) => n.clone(),
                    PodTarget::Selector(s) => format!("<{s}>"),
                };
                format!("exec in {}/{pod}: {}", e.namespace, e.command.join(" "))
            }
            Step::Delete { items } => {
                let names: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        DeleteItem::Template(t) => t.clone(),
                        DeleteItem::Object(o) => o.to_string(),
                    })
                    .collect();
                format!("delete {}", names.join(", "))
            }
            Step::Scale { target, replicas } => format!("scale {target} to {replicas}"),
            Step::Patch { target, merge } => format!("patch {target} with {merge}"),
        }
    }

    /// The step with every string passed through `f` (the Tera renderer).
    pub fn fill<E>(&self, f: &mut impl FnMut(&str) -> Result<String, E>) -> Result<Step, E> {
        let obj = |o: &ObjectRef, f: &mut dyn FnMut(&str) -> Result<String, E>| {
            Ok::<_, E>(ObjectRef {
                api_version: f(&o.api_version)?,
                kind: f(&o.kind)?,
                namespace: o.namespace.as_deref().map(&mut *f).transpose()?,
                name: f(&o.name)?,
            })
        };
        Ok(match self {
            Step::Apply { templates } => Step::Apply {
                templates: templates.iter().map(|t| f(t)).collect::<Result<_, _>>()?,
            },
            Step::Wait(w) => Step::Wait(WaitSpec {
                target: match &w.target {
                    WaitTarget::Object(o) => WaitTarget::Object(obj(o, f)?),
                    WaitTarget::Pods {
                        namespace,
                        selector,
                        count,
                    } => WaitTarget::Pods {
                        namespace: f(namespace)?,
                        selector: f(selector)?,
                        count: *count,
                    },
                },
                condition: match &w.condition {
                    Condition::Type(t) => Condition::parse(&f(t)?),
                    c => c.clone(),
                },
                timeout: w.timeout,
            }),
            Step::Exec(e) => Step::Exec(ExecSpec {
                pod: match &e.pod {
                    PodTarget::Name(n) => PodTarget::Name(f(n)?),
                    PodTarget::Selector(s) => PodTarget::Selector(f(s)?),
                },
                namespace: f(&e.namespace)?,
                container: e.container.as_deref().map(&mut *f).transpose()?,
                command: e.command.iter().map(|c| f(c)).collect::<Result<_, _>>()?,
                retry: e.retry,
            }),
            Step::Delete { items } => Step::Delete {
                items: items
                    .iter()
                    .map(|i| {
                        Ok(match i {
                            DeleteItem::Template(t) => DeleteItem::Template(f(t)?),
                            DeleteItem::Object(o) => DeleteItem::Object(obj(o, f)?),
                        })
                    })
                    .collect::<Result<_, E>>()?,
            },
            Step::Scale { target, replicas } => Step::Scale {
                target: obj(target, f)?,
                replicas: *replicas,
            },
            Step::Patch { target, merge } => Step::Patch {
                target: obj(target, f)?,
                merge: fill_value(merge, f)?,
            },
        })
    }
}

/// Every string of a JSON value passed through `f`.
fn fill_value<E>(
    v: &serde_json::Value,
    f: &mut impl FnMut(&str) -> Result<String, E>,
) -> Result<serde_json::Value, E> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(f(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| fill_value(x, f))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), fill_value(x, f)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other.clone(),
    })
}

/// Reads a list of steps (`start:`, `stop:`, ...). Every problem is a located diagnostic.
pub fn read_steps(
    file: &SourceFile,
    node: &Node,
    what: &str,
    diags: &mut Diagnostics,
) -> Vec<LocatedStep> {
    let Kind::Seq(items) = &node.kind else {
        if !node.is_null() {
            diags.push(
                Diagnostic::error(
                    file.at(node.pos),
                    format!("`{what}` must be a list of steps, found {}", node.kind.type_name()),
                )
                .fix("write one `- apply: [...]`, `- wait: {...}`, `- exec: {...}`, `- delete: [...]` or `- scale: {...}` per line"),
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let r = StepReader { file, diags };
        if let Some(step) = r.step(item) {
            out.push(LocatedStep {
                step,
                at: file.at(item.pos),
            });
        }
    }
    out
}

const STEP_FIX: &str = "each step is a mapping with exactly one of: apply, wait, exec, delete, scale, patch (see docs/SERVICES.md)";

struct StepReader<'a> {
    file: &'a SourceFile,
    diags: &'a mut Diagnostics,
}

impl StepReader<'_> {
    fn err(&mut self, node: &Node, msg: impl Into<String>, fix: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(self.file.at(node.pos), msg).fix(fix));
    }

    fn step(mut self, item: &Node) -> Option<Step> {
        let entries = match &item.kind {
            Kind::Map(e) if e.len() == 1 => e,
            _ => {
                self.err(
                    item,
                    format!(
                        "a step must be a mapping with one key, found {}",
                        item.kind.type_name()
                    ),
                    STEP_FIX,
                );
                return None;
            }
        };
        let (k, v) = &entries[0];
        match k.key_text().as_deref() {
            Some("apply") => {
                let templates = self.strings(v, "apply")?;
                Some(Step::Apply { templates })
            }
            Some("wait") => self.wait(v).map(Step::Wait),
            Some("exec") => self.exec(v).map(Step::Exec),
            Some("delete") => self.delete(v),
            Some("scale") => self.scale(v),
            Some("patch") => self.patch(v),
            other => {
                let name = other.unwrap_or("?").to_string();
                let hint = super::suggest::did_you_mean(
                    &name,
                    &["apply", "wait", "exec", "delete", "scale", "patch"],
                );
                self.err(k, format!("unknown step `{name}`{hint}"), STEP_FIX);
                None
            }
        }
    }

    fn scalar(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.scalar_text(&self.file.text) {
            Some(s) => Some(s),
            None => {
                self.err(
                    node,
                    format!(
                        "`{key}` must be a single value, found {}",
                        node.kind.type_name()
                    ),
                    format!("write `{key}: <value>`"),
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        match &node.kind {
            Kind::Seq(items) if !items.is_empty() => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.scalar(i, key)?);
                }
                Some(out)
            }
            Kind::Str(s) => Some(vec![s.clone()]),
            _ => {
                self.err(
                    node,
                    format!(
                        "`{key}` must be a non-empty list, found {}",
                        node.kind.type_name()
                    ),
                    format!("write `{key}: [a, b]`"),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, key: &str) -> Option<u64> {
        match &node.kind {
            Kind::Int(i) if *i >= 0 && *i <= u32::MAX as i128 => Some(*i as u64),
            _ => {
                self.err(
                    node,
                    format!(
                        "`{key}` must be a whole number, found {}",
                        node.kind.type_name()
                    ),
                    format!("write `{key}: 300`"),
                );
                None
            }
        }
    }

    /// The fields of a step mapping; unknown keys are errors with a hint.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        step: &str,
        allowed: &[&str],
    ) -> Option<Vec<(String, &'n Node)>> {
        let Kind::Map(entries) = &node.kind else {
            self.err(
                node,
                format!(
                    "`{step}` must be a mapping, found {}",
                    node.kind.type_name()
                ),
                format!("write `{step}: {{{}}}`", allowed.join(", ")),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            let key = k.key_text().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                let hint = super::suggest::did_you_mean(&key, allowed);
                self.err(
                    k,
                    format!("`{step}` has no key `{key}`{hint}"),
                    format!("allowed keys: {}", allowed.join(", ")),
                );
                ok = false;
                continue;
            }
            out.push((key, v));
        }
        ok.then_some(out)
    }

    fn object(&mut self, node: &Node, step: &str, fields: &[(String, &Node)]) -> Option<ObjectRef> {
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let kind = match get("kind") {
            Some(v) => self.scalar(v, "kind")?,
            None => {
                self.err(
                    node,
                    format!("`{step}` needs `kind`"),
                    "add e.g. `kind: StatefulSet`",
                );
                return None;
            }
        };
        let name = match get("name") {
            Some(v) => self.scalar(v, "name")?,
            None => {
                self.err(
                    node,
                    format!("`{step}` needs `name`"),
                    "add `name: <object name>`",
                );
                return None;
            }
        };
        let api_version = match get("apiVersion") {
            Some(v) => self.scalar(v, "apiVersion")?,
            None => default_api_version(&kind).to_string(),
        };
        let namespace = match get("namespace") {
            Some(v) => Some(self.scalar(v, "namespace")?),
            None => None,
        };
        Some(ObjectRef {
            api_version,
            kind,
            namespace,
            name,
        })
    }

    fn wait(&mut self, node: &Node) -> Option<WaitSpec> {
        let fields = self.fields(
            node,
            "wait",
            &[
                "kind",
                "apiVersion",
                "name",
                "selector",
                "namespace",
                "condition",
                "timeout",
                "count",
            ],
        )?;
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let condition = match get("condition") {
            Some(v) => Condition::parse(&self.scalar(v, "condition")?),
            None => Condition::Ready,
        };
        let timeout = match get("timeout") {
            Some(v) => Some(Duration::from_secs(self.number(v, "timeout")?)),
            None => None,
        };
        let target = match (get("name"), get("selector")) {
            (Some(_), None) => WaitTarget::Object(self.object(node, "wait", &fields)?),
            (None, Some(sel)) => {
                let kind = match get("kind") {
                    Some(k) => self.scalar(k, "kind")?,
                    None => "Pod".into(),
                };
                if kind != "Pod" {
                    self.err(
                        node,
                        "`wait` with `selector` works on pods only",
                        "drop `kind` (or write `kind: Pod`), or name the object with `name`",
                    );
                    return None;
                }
                let count = match get("count") {
                    Some(v) => self.number(v, "count")? as u32,
                    None => 1,
                };
                WaitTarget::Pods {
                    namespace: match get("namespace") {
                        Some(v) => self.scalar(v, "namespace")?,
                        None => "default".into(),
                    },
                    selector: self.scalar(sel, "selector")?,
                    count,
                }
            }
            _ => {
                self.err(
                    node,
                    "`wait` needs exactly one of `name` and `selector`",
                    "write `name: <object>` (with kind) or `selector: app=x` (pods)",
                );
                return None;
            }
        };
        Some(WaitSpec {
            target,
            condition,
            timeout,
        })
    }

    fn exec(&mut self, node: &Node) -> Option<ExecSpec> {
        let fields = self.fields(
            node,
            "exec",
            &[
                "pod",
                "selector",
                "namespace",
                "container",
                "command",
                "retry-seconds",
            ],
        )?;
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let pod = match (get("pod"), get("selector")) {
            (Some(p), None) => PodTarget::Name(self.scalar(p, "pod")?),
            (None, Some(s)) => PodTarget::Selector(self.scalar(s, "selector")?),
            _ => {
                self.err(
                    node,
                    "`exec` needs exactly one of `pod` and `selector`",
                    "write `pod: <name>` or `selector: app=x`",
                );
                return None;
            }
        };
        let command = match get("command") {
            Some(c) => self.strings(c, "command")?,
            None => {
                self.err(
                    node,
                    "`exec` needs `command`",
                    "write `command: [sh, -c, \"...\"]`",
                );
                return None;
            }
        };
        Some(ExecSpec {
            pod,
            namespace: match get("namespace") {
                Some(v) => self.scalar(v, "namespace")?,
                None => "default".into(),
            },
            container: match get("container") {
                Some(v) => Some(self.scalar(v, "container")?),
                None => None,
            },
            command,
            retry: match get("retry-seconds") {
                Some(v) => Some(Duration::from_secs(self.number(v, "retry-seconds")?)),
                None => None,
            },
        })
    }

    fn delete(&mut self, node: &Node) -> Option<Step> {
        let Kind::Seq(items) = &node.kind else {
            self.err(
                node,
                format!("`delete` must be a list, found {}", node.kind.type_name()),
                "write `delete: [statefulset.yaml, {kind: PersistentVolumeClaim, name: data-x-0, namespace: ns}]`",
            );
            return None;
        };
        let mut out = Vec::new();
        for i in items {
            if i.is_scalar() {
                out.push(DeleteItem::Template(self.scalar(i, "delete")?));
            } else {
                let fields =
                    self.fields(i, "delete", &["kind", "apiVersion", "name", "namespace"])?;
                out.push(DeleteItem::Object(self.object(i, "delete", &fields)?));
            }
        }
        Some(Step::Delete { items: out })
    }

    fn patch(&mut self, node: &Node) -> Option<Step> {
        let fields = self.fields(
            node,
            "patch",
            &["kind", "apiVersion", "name", "namespace", "merge"],
        )?;
        let target = self.object(node, "patch", &fields)?;
        let Some((_, m)) = fields.iter().find(|(n, _)| n == "merge") else {
            self.err(node, "`patch` needs `merge`", "add `merge: {spec: {...}}`");
            return None;
        };
        if !matches!(m.kind, Kind::Map(_)) {
            self.err(
                m,
                format!("`merge` must be a mapping, found {}", m.kind.type_name()),
                "write the fields to change as a mapping: `merge: {spec: {replicas: 3}}`",
            );
            return None;
        }
        let merge = m.to_json(&self.file.text);
        Some(Step::Patch { target, merge })
    }

    fn scale(&mut self, node: &Node) -> Option<Step> {
        let fields = self.fields(
            node,
            "scale",
            &["kind", "apiVersion", "name", "namespace", "replicas"],
        )?;
        let target = self.object(node, "scale", &fields)?;
        let Some((_, r)) = fields.iter().find(|(n, _)| n == "replicas") else {
            self.err(node, "`scale` needs `replicas`", "add `replicas: 3`");
            return None;
        };
        let replicas = self.number(r, "replicas")? as u32;
        Some(Step::Scale { target, replicas })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn read(text: &str) -> (Vec<LocatedStep>, Diagnostics) {
        let mut d = Diagnostics::default();
        let f = SourceFile::parse(
            Arc::from("s.yaml"),
            PathBuf::from("s.yaml"),
            text.into(),
            &mut d,
        )
        .unwrap();
        let steps = read_steps(&f, f.root.get("start").unwrap(), "start", &mut d);
        (steps, d)
    }

    #[test]
    fn reads_every_step_kind() {
        let (s, d) = read(
            "start:\n- apply: [a.yaml, b.yaml]\n- wait: {kind: StatefulSet, name: x, namespace: ns, timeout: 30}\n- wait: {selector: app=x, namespace: ns, count: 2, condition: ready}\n- exec: {pod: x-0, namespace: ns, container: c, command: [sh, -c, 'echo hi'], retry-seconds: 20}\n- delete: [a.yaml, {kind: PersistentVolumeClaim, name: data-x-0, namespace: ns}]\n- scale: {kind: StatefulSet, name: x, namespace: ns, replicas: 3}\n",
        );
        assert!(!d.has_errors(), "{}", d.render_text(false));
        assert_eq!(s.len(), 6);
        assert_eq!(
            s[1].step,
            Step::Wait(WaitSpec {
                target: WaitTarget::Object(ObjectRef::new("StatefulSet", Some("ns"), "x")),
                condition: Condition::Ready,
                timeout: Some(Duration::from_secs(30)),
            })
        );
        assert_eq!(
            s[3].step,
            Step::Exec(ExecSpec {
                pod: PodTarget::Name("x-0".into()),
                namespace: "ns".into(),
                container: Some("c".into()),
                command: vec!["sh".into(), "-c".into(), "echo hi".into()],
                retry: Some(Duration::from_secs(20)),
            })
        );
        assert_eq!(
            s[4].step,
            Step::Delete {
                items: vec![
                    DeleteItem::Template("a.yaml".into()),
                    DeleteItem::Object(ObjectRef::new(
                        "PersistentVolumeClaim",
                        Some("ns"),
                        "data-x-0"
                    )),
                ]
            }
        );
        assert_eq!(s[5].at.line, Some(7));
    }

    #[test]
    fn bad_steps_are_located_errors() {
        let (_, d) = read(
            "start:\n- aply: [a.yaml]\n- wait: {kind: Pod}\n- exec: {pod: p, comand: [x]}\n- scale: {kind: StatefulSet, name: x, replicas: -1}\n",
        );
        let text: Vec<String> = d.errors().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("s.yaml:2:3") && text[0].contains("did you mean `apply`"));
        assert!(text[1].starts_with("s.yaml:3:") && text[1].contains("exactly one of `name`"));
        assert!(text[2].starts_with("s.yaml:4:") && text[2].contains("`comand`"));
        assert!(text[3].starts_with("s.yaml:5:") && text[3].contains("whole number"));
    }

    #[test]
    fn patch_of_a_custom_resource() {
        let (s, d) = read(
            "start:\n- patch: {apiVersion: dolphindb.dolphindb.io/v1, kind: DolphinDB, name: ddb, namespace: '{{ns}}', merge: {spec: {datanode: {replicas: 4}, tag: '{{ns}}'}}}\n",
        );
        assert!(!d.has_errors(), "{}", d.render_text(false));
        let filled = s[0]
            .step
            .fill(&mut |t: &str| Ok::<_, ()>(t.replace("{{ns}}", "db")))
            .unwrap();
        let Step::Patch { target, merge } = filled else {
            panic!("{filled:?}")
        };
        assert_eq!(target.api_version, "dolphindb.dolphindb.io/v1");
        assert_eq!(target.namespace.as_deref(), Some("db"));
        assert_eq!(
            merge,
            serde_json::json!({"spec": {"datanode": {"replicas": 4}, "tag": "db"}})
        );
    }

    #[test]
    fn fill_renders_every_string() {
        let (s, _) = read(
            "start:\n- scale: {kind: StatefulSet, name: '{{n}}', namespace: '{{n}}-ns', replicas: 2}\n",
        );
        let filled = s[0]
            .step
            .fill(&mut |t: &str| Ok::<_, ()>(t.replace("{{n}}", "db")))
            .unwrap();
        assert_eq!(
            filled,
            Step::Scale {
                target: ObjectRef::new("StatefulSet", Some("db-ns"), "db"),
                replicas: 2
            }
        );
    }
}
