//! Running a service's steps against the cluster through the Kubernetes API: server-side
//! apply, bounded waits on object state, exec in pods, deletes and replica changes. Each
//! step reports progress and its outcome; the first failing step stops the service.

use super::exec;
use super::render::RenderedFile;
use super::steps::{
    Condition, DeleteItem, ExecSpec, ObjectRef, PodTarget, Step, WaitSpec, WaitTarget,
};
use crate::kubeapi::{ApplyMode, CustomKinds, KubeClient, KubeError, object_of, parse_manifest};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "k8s-manage";

/// How steps run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Bound of a wait that sets no `timeout` (`--wait-seconds`).
    pub wait: Duration,
    /// Time between two looks at the object.
    pub poll: Duration,
    /// `--server-dry-run`: apply steps go through the API server's admission and schemas
    /// without storing anything; every other step is skipped.
    pub server_dry_run: bool,
}

/// The outcome of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub service: String,
    pub step: String,
    pub ok: bool,
    pub detail: String,
    pub seconds: f64,
}

/// Runs steps for one service with the files it rendered.
pub struct StepRunner<'a> {
    pub client: &'a KubeClient,
    pub opts: &'a RunOptions,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

fn docs_of(files: &[RenderedFile], name: &str) -> Result<Vec<Value>, String> {
    let f = files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| format!("`{name}` is not a rendered template of this service"))?;
    parse_manifest(&f.name, &f.text).map_err(|e| e.to_string())
}

/// The REST path of an object reference.
pub fn ref_path(o: &ObjectRef, custom: &CustomKinds) -> Result<String, String> {
    let mut meta = json!({"name": o.name});
    if let Some(ns) = &o.namespace {
        meta["namespace"] = Value::from(ns.clone());
    }
    let doc = json!({"apiVersion": o.api_version, "kind": o.kind, "metadata": meta});
    object_of("step", &doc, custom)
        .map(|t| t.path)
        .map_err(|e| e.to_string())
}

/// The custom kinds of the service's own CRDs (in `docs`, its rendered documents); when a
/// document's kind is neither built in nor among them, also those of the cluster's CRDs
/// (an operator installed them, as for ClickHouse and DolphinDB).
pub async fn custom_kinds(client: &KubeClient, docs: &[Value]) -> CustomKinds {
    let own = CustomKinds::from_docs(docs);
    let unknown = docs
        .iter()
        .any(|d| object_of("", d, &own).is_err() && d.get("kind").is_some());
    if !unknown {
        return own;
    }
    match client.custom_resource_definitions().await {
        Ok(crds) => CustomKinds::from_docs(docs.iter().chain(crds.iter())),
        // The apply of such a document then names its kind as unknown.
        Err(_) => own,
    }
}

impl StepRunner<'_> {
    /// Run `steps` in order; stops at the first failure. Returns every step's report.
    pub async fn run(
        &self,
        service: &str,
        files: &[RenderedFile],
        steps: &[Step],
    ) -> (Vec<StepReport>, bool) {
        let mut custom_docs = Vec::new();
        for f in files {
            if let Ok(d) = parse_manifest(&f.name, &f.text) {
                custom_docs.extend(d);
            }
        }
        let custom = self.custom_kinds(&custom_docs).await;
        let mut reports = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let what = step.describe();
            (self.progress)(&format!(
                "[{service}] ({}/{}) {what} ...",
                i + 1,
                steps.len()
            ));
            let started = Instant::now();
            let result = self.one(step, files, &custom).await;
            let seconds = started.elapsed().as_secs_f64();
            let ok = result.is_ok();
            let detail = match result {
                Ok(d) => d,
                Err(e) => e,
            };
            (self.progress)(&format!(
                "[{service}] ({}/{}) {} ({seconds:.1} s): {detail}",
                i + 1,
                steps.len(),
                if ok { "ok" } else { "FAILED" },
            ));
            reports.push(StepReport {
                service: service.to_string(),
                step: what,
                ok,
                detail,
                seconds,
            });
            if !ok {
                return (reports, false);
            }
        }
        (reports, true)
    }

    async fn custom_kinds(&self, docs: &[Value]) -> CustomKinds {
        custom_kinds(self.client, docs).await
    }

    async fn one(
        &self,
        step: &Step,
        files: &[RenderedFile],
        custom: &CustomKinds,
    ) -> Result<String, String> {
        if self.opts.server_dry_run {
            return match step {
                Step::Apply { templates } => self.dry_run_apply(templates, files, custom).await,
                _ => Ok("skipped: a server dry run changes nothing and waits for nothing".into()),
            };
        }
        match step {
            Step::Apply { templates } => {
                let mut n = 0;
                let mut created = 0;
                for t in templates {
                    let docs = docs_of(files, t)?;
                    let applied = self
                        .client
                        .apply_docs(t, &docs, FIELD_MANAGER, custom)
                        .await
                        .map_err(|e| e.to_string())?;
                    n += applied.len();
                    created += applied.iter().filter(|a| a.created).count();
                }
                Ok(format!("{n} object(s) applied, {created} created"))
            }
            Step::Delete { items } => {
                let mut paths = Vec::new();
                for item in items {
                    match item {
                        DeleteItem::Template(t) => {
                            let docs = docs_of(files, t)?;
                            for d in docs.iter().rev() {
                                paths
                                    .push(object_of(t, d, custom).map_err(|e| e.to_string())?.path);
                            }
                        }
                        DeleteItem::Object(o) => paths.push(ref_path(o, custom)?),
                    }
                }
                let mut deleted = 0;
                for p in &paths {
                    if self
                        .client
                        .delete_object(p)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        deleted += 1;
                    }
                }
                Ok(format!(
                    "{deleted} deleted, {} already absent",
                    paths.len() - deleted
                ))
            }
            Step::Scale { target, replicas } => {
                self.patch_existing(target, custom, &json!({"spec": {"replicas": replicas}}))
                    .await?;
                Ok(format!("spec.replicas = {replicas}"))
            }
            Step::Patch { target, merge } => {
                self.patch_existing(target, custom, merge).await?;
                Ok("merge patch applied".into())
            }
            Step::Wait(w) => self.wait(w, custom).await,
            Step::Exec(e) => self.exec(e).await,
        }
    }

    /// Apply steps of `--server-dry-run`: each object through the server's admission and
    /// schemas, nothing stored; a field the server would drop from a custom resource fails.
    async fn dry_run_apply(
        &self,
        templates: &[String],
        files: &[RenderedFile],
        custom: &CustomKinds,
    ) -> Result<String, String> {
        let mut n = 0;
        // The namespaces the service creates (in this step or another).
        let mut namespaces = Vec::new();
        for f in files {
            for d in parse_manifest(&f.name, &f.text).unwrap_or_default() {
                if d.get("kind").and_then(Value::as_str) == Some("Namespace")
                    && let Some(name) = d.pointer("/metadata/name").and_then(Value::as_str)
                {
                    namespaces.push(name.to_string());
                }
            }
        }
        for t in templates {
            let docs = docs_of(files, t)?;
            let applied = self
                .client
                .apply_docs_mode(t, &docs, FIELD_MANAGER, custom, ApplyMode::ServerDryRun)
                .await
                .map_err(|e| dry_run_error(e, &namespaces))?;
            for a in &applied {
                if !a.lost_fields.is_empty() {
                    return Err(format!(
                        "{t}: the server would drop field(s) of {} {}: {}. Fix: the \
                         CustomResourceDefinition's schema does not have them; correct the \
                         template or the CRD",
                        a.kind,
                        a.name,
                        a.lost_fields.join(", ")
                    ));
                }
            }
            n += applied.len();
        }
        Ok(format!(
            "{n} object(s) accepted by the server (dry run: nothing stored)"
        ))
    }

    /// Merge-patch an object that must exist already (a missing one is an error, not
    /// created).
    async fn patch_existing(
        &self,
        target: &ObjectRef,
        custom: &CustomKinds,
        patch: &Value,
    ) -> Result<(), String> {
        let path = ref_path(target, custom)?;
        match self.client.merge_patch(&path, patch).await {
            Ok(_) => Ok(()),
            Err(KubeError::Status { status: 404, .. }) => Err(format!("{target} does not exist")),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn wait(&self, w: &WaitSpec, custom: &CustomKinds) -> Result<String, String> {
        let bound = w.timeout.unwrap_or(self.opts.wait);
        let deadline = Instant::now() + bound;
        let started = Instant::now();
        let (what, path) = match &w.target {
            WaitTarget::Object(o) => (o.to_string(), Some(ref_path(o, custom)?)),
            WaitTarget::Pods {
                namespace,
                selector,
                count,
            } => (format!("{count}+ pod(s) {namespace}/{selector}"), None),
        };
        loop {
            let (done, seen) = match (&w.target, &path) {
                (WaitTarget::Object(o), Some(p)) => {
                    let obj = self.client.get_object(p).await.map_err(|e| e.to_string())?;
                    evaluate(&o.kind, &w.condition, obj.as_ref())
                }
                (
                    WaitTarget::Pods {
                        namespace,
                        selector,
                        count,
                    },
                    _,
                ) => {
                    let pods = self
                        .client
                        .list_pods(namespace, selector)
                        .await
                        .map_err(|e| e.to_string())?;
                    evaluate_pods(&pods, *count, &w.condition)
                }
                _ => unreachable!("a path exists for every object target"),
            };
            if done {
                return Ok(format!(
                    "{what} {} after {:.1} s ({seen})",
                    w.condition,
                    started.elapsed().as_secs_f64()
                ));
            }
            if Instant::now() + self.opts.poll > deadline {
                return Err(format!(
                    "timed out after {} s waiting for {what} to be {}; last seen: {seen}. Fix: check the objects' events and pods (kubectl -n <ns> describe), or raise the wait (`timeout:` of the step, --wait-seconds)",
                    bound.as_secs(),
                    w.condition
                ));
            }
            tokio::time::sleep(self.opts.poll).await;
        }
    }

    async fn exec(&self, e: &ExecSpec) -> Result<String, String> {
        let deadline = e.retry.map(|r| Instant::now() + r);
        loop {
            let attempt = async {
                let pod = match &e.pod {
                    PodTarget::Name(n) => n.clone(),
                    PodTarget::Selector(s) => {
                        let pods = self
                            .client
                            .list_pods(&e.namespace, s)
                            .await
                            .map_err(|x| x.to_string())?;
                        pods.iter()
                            .find(|p| pod_ready(p))
                            .and_then(|p| p.pointer("/metadata/name").and_then(Value::as_str))
                            .map(str::to_string)
                            .ok_or_else(|| format!("no Ready pod matches {}/{s}", e.namespace))?
                    }
                };
                let out = exec::run(
                    self.client,
                    &e.namespace,
                    &pod,
                    e.container.as_deref(),
                    &e.command,
                )
                .await?;
                if out.exit_code == 0 {
                    Ok(format!(
                        "exit 0 in {}/{pod}{}",
                        e.namespace,
                        tail(&out.stdout, " stdout: ")
                    ))
                } else {
                    Err(format!(
                        "command exited {} in {}/{pod}{}{}",
                        out.exit_code,
                        e.namespace,
                        tail(&out.stderr, "; stderr: "),
                        tail(&out.stdout, "; stdout: ")
                    ))
                }
            };
            match attempt.await {
                Ok(s) => return Ok(s),
                Err(err) => match deadline {
                    Some(d) if Instant::now() + Duration::from_secs(5) < d => {
                        (self.progress)(&format!("  retrying in 5 s: {err}"));
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    _ => return Err(err),
                },
            }
        }
    }
}

/// A dry-run apply's error; a namespace that this run would create first cannot hold
/// dry-run objects (the server checks that it exists), which is said with the fix.
fn dry_run_error(e: KubeError, created_here: &[String]) -> String {
    if let KubeError::Status {
        status: 404,
        message,
        ..
    } = &e
        && let Some(ns) = created_here
            .iter()
            .find(|ns| message.contains(&format!("namespaces \"{ns}\" not found")))
    {
        return format!(
            "{e}. A server dry run stores nothing, so namespace {ns}, which this run creates, \
             does not exist for the objects in it. Fix: create it first (`kubectl create \
             namespace {ns}`), then run the dry run again"
        );
    }
    e.to_string()
}

fn tail(s: &str, label: &str) -> String {
    let t = s.trim();
    if t.is_empty() {
        return String::new();
    }
    let start = t.char_indices().rev().nth(400).map(|(i, _)| i).unwrap_or(0);
    format!("{label}{}", &t[start..])
}

fn num(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn condition_true(obj: &Value, t: &str) -> Option<bool> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
        .map(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

fn pod_ready(p: &Value) -> bool {
    condition_true(p, "Ready").unwrap_or(false)
}

/// Whether an object meets a condition, and a short description of what was seen.
pub fn evaluate(kind: &str, cond: &Condition, obj: Option<&Value>) -> (bool, String) {
    let Some(obj) = obj else {
        return (*cond == Condition::Deleted, "absent".into());
    };
    match cond {
        Condition::Exists => (true, "exists".into()),
        Condition::Deleted => (false, "still exists".into()),
        Condition::Type(t) => match condition_true(obj, t) {
            Some(v) => (
                v,
                format!("condition {t}={}", if v { "True" } else { "not True" }),
            ),
            None => (false, format!("no condition {t} yet")),
        },
        Condition::Ready => match kind {
            "StatefulSet" | "Deployment" | "ReplicaSet" => {
                let want = obj
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let ready = num(obj, "/status/readyReplicas");
                let gen_ok = match (
                    obj.pointer("/metadata/generation"),
                    obj.pointer("/status/observedGeneration"),
                ) {
                    (Some(g), Some(o)) => o.as_i64() >= g.as_i64(),
                    _ => true,
                };
                (
                    ready >= want && gen_ok,
                    format!("readyReplicas {ready} of {want}"),
                )
            }
            "DaemonSet" => {
                let want = num(obj, "/status/desiredNumberScheduled");
                let ready = num(obj, "/status/numberReady");
                (
                    want > 0 && ready >= want,
                    format!("numberReady {ready} of {want}"),
                )
            }
            "PersistentVolumeClaim" => {
                let phase = obj
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("none");
                (phase == "Bound", format!("phase {phase}"))
            }
            "Job" => {
                let v = condition_true(obj, "Complete").unwrap_or(false);
                (v, format!("Complete={v}"))
            }
            _ => {
                let v = condition_true(obj, "Ready").unwrap_or(false);
                (v, format!("Ready={v}"))
            }
        },
    }
}

/// Whether a set of pods meets a condition.
pub fn evaluate_pods(pods: &[Value], count: u32, cond: &Condition) -> (bool, String) {
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let seen = format!("{} pod(s), {ready} Ready", pods.len());
    let n = count as usize;
    let done = match cond {
        Condition::Ready => ready >= n,
        Condition::Exists => pods.len() >= n,
        Condition::Deleted => pods.is_empty(),
        Condition::Type(t) => {
            pods.iter()
                .filter(|p| condition_true(p, t).unwrap_or(false))
                .count()
                >= n
        }
    };
    (done, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_per_kind() {
        let sts = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
        assert_eq!(
            evaluate("StatefulSet", &Condition::Ready, Some(&sts)),
            (false, "readyReplicas 2 of 3".into())
        );
        let sts = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 3}});
        assert!(evaluate("StatefulSet", &Condition::Ready, Some(&sts)).0);
        let stale = json!({"metadata": {"generation": 2}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1, "observedGeneration": 1}});
        assert!(!evaluate("Deployment", &Condition::Ready, Some(&stale)).0);
        let pvc = json!({"status": {"phase": "Pending"}});
        assert!(!evaluate("PersistentVolumeClaim", &Condition::Ready, Some(&pvc)).0);
        let crd = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert!(
            evaluate(
                "CustomResourceDefinition",
                &Condition::Type("Established".into()),
                Some(&crd)
            )
            .0
        );
        assert!(evaluate("Pod", &Condition::Deleted, None).0);
        assert!(!evaluate("Pod", &Condition::Exists, None).0);
        let ds = json!({"status": {"desiredNumberScheduled": 0, "numberReady": 0}});
        assert!(!evaluate("DaemonSet", &Condition::Ready, Some(&ds)).0);
    }

    #[test]
    fn a_dry_run_in_a_namespace_the_run_creates_says_what_to_do() {
        let missing = |ns: &str| KubeError::Status {
            method: "PATCH".into(),
            path: "/api/v1/namespaces/x/configmaps/c".into(),
            status: 404,
            message: format!("namespaces \"{ns}\" not found"),
        };
        let text = dry_run_error(missing("iotdb"), &["iotdb".to_string()]);
        assert!(
            text.contains("kubectl create namespace iotdb") && text.contains("HTTP 404"),
            "{text}"
        );
        // A namespace the run does not create: the server's error as it is.
        let text = dry_run_error(missing("other"), &["iotdb".to_string()]);
        assert!(!text.contains("Fix:"), "{text}");
    }

    #[test]
    fn pods_by_count() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(!evaluate_pods(&[ready.clone(), not.clone()], 2, &Condition::Ready).0);
        assert!(evaluate_pods(&[ready.clone(), ready], 2, &Condition::Ready).0);
        assert!(evaluate_pods(&[], 1, &Condition::Deleted).0);
    }
}
