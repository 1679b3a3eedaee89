//! The resource operations behind the routes: get, list, create, replace, patch (server-side
//! apply and JSON merge patch) and delete, each against etcd.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::apiserver::merge::merge_patch;
use crate::apiserver::objects::{self, meta_str};
use crate::apiserver::path::ResourcePath;
use crate::apiserver::store::{Store, StoreError, Stored};
use crate::http::{self, Resp};

/// What the handlers share.
pub struct Ctx {
    pub store: Store,
    pub prefix: String,
}

/// How many times a read-modify-write is retried after losing a race.
const ATTEMPTS: usize = 3;

/// A failed request, answered with a Kubernetes `Status` object.
pub struct Failure {
    code: StatusCode,
    reason: &'static str,
    message: String,
}

impl Failure {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            reason,
            message: message.into(),
        }
    }
}

impl From<Failure> for Resp {
    fn from(f: Failure) -> Resp {
        http::json(
            f.code,
            &objects::status(f.code.as_u16(), f.reason, &f.message),
        )
    }
}

/// A `Status` response.
pub fn fail(code: StatusCode, reason: &'static str, message: &str) -> Resp {
    Failure::new(code, reason, message).into()
}

fn bad_request(message: &str) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

pub fn store_error(e: StoreError) -> Failure {
    match e {
        StoreError::Unavailable(m) => {
            Failure::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", m)
        }
        StoreError::Conflict => Failure::new(
            StatusCode::CONFLICT,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
    }
}

/// `configmaps` or `deployments.apps`, as Kubernetes names resources in messages.
fn qualified(rp: &ResourcePath) -> String {
    if rp.group.is_empty() {
        rp.resource.clone()
    } else {
        format!("{}.{}", rp.resource, rp.group)
    }
}

fn not_found(rp: &ResourcePath) -> Failure {
    let name = rp.name.as_deref().unwrap_or("");
    Failure::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{name}\" not found", qualified(rp)),
    )
}

/// Parses a body as JSON, or as YAML when `yaml` is set.
pub fn parse_body(body: &Bytes, yaml: bool) -> Result<Value, Failure> {
    if yaml {
        let text = std::str::from_utf8(body).map_err(|_| bad_request("body is not UTF-8"))?;
        serde_saphyr::from_str(text).map_err(|e| bad_request(&format!("invalid YAML: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| bad_request(&format!("invalid JSON: {e}")))
    }
}

fn respond(code: StatusCode, value: Value, revision: i64) -> Resp {
    http::json(code, &objects::with_version(value, revision))
}

async fn namespace_exists(ctx: &Ctx, rp: &ResourcePath) -> Result<(), Failure> {
    let Some(ns) = &rp.namespace else {
        return Ok(());
    };
    match ctx
        .store
        .get(&ResourcePath::namespace_key(&ctx.prefix, ns))
        .await
    {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("namespaces \"{ns}\" not found"),
        )),
        Err(e) => Err(store_error(e)),
    }
}

pub async fn get(ctx: &Ctx, rp: &ResourcePath) -> Resp {
    match ctx.store.get(&rp.key(&ctx.prefix)).await {
        Ok(Some(s)) => respond(StatusCode::OK, s.value, s.mod_revision),
        Ok(None) => not_found(rp).into(),
        Err(e) => store_error(e).into(),
    }
}

/// An equality-based label selector (`k=v`, `k==v`, `k!=v`, comma-separated); set-based
/// selectors are refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<(String, String, bool)>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v, eq) = if let Some((k, v)) = part.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, v, true)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, v, true)
            } else {
                return Err(format!(
                    "labelSelector {part:?}: only equality selectors (k=v, k!=v) are supported by the k8s-standin apiserver"
                ));
            };
            if k.contains(' ') || k.is_empty() || v.contains(' ') {
                return Err(format!("labelSelector {part:?} is not valid"));
            }
            out.push((k.to_string(), v.to_string(), eq));
        }
        Ok(LabelSelector(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.0.iter().all(|(k, v, eq)| {
            let have = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
            (have == Some(v.as_str())) == *eq
        })
    }
}

pub async fn list(ctx: &Ctx, rp: &ResourcePath, selector: &LabelSelector) -> Resp {
    let (items, revision) = match ctx.store.list(&rp.list_prefix(&ctx.prefix)).await {
        Ok(x) => x,
        Err(e) => return store_error(e).into(),
    };
    let kind = items
        .first()
        .and_then(|s| s.value.get("kind"))
        .and_then(Value::as_str)
        .map_or("List".to_string(), |k| format!("{k}List"));
    let items: Vec<Value> = items
        .into_iter()
        .filter(|s| selector.matches(&s.value))
        .map(|s| objects::with_version(s.value, s.mod_revision))
        .collect();
    http::json(
        StatusCode::OK,
        &json!({
            "kind": kind,
            "apiVersion": rp.api_version(),
            "metadata": {"resourceVersion": revision.to_string()},
            "items": items,
        }),
    )
}

pub async fn create(ctx: &Ctx, rp: &ResourcePath, mut obj: Value) -> Resp {
    if let Err(m) = objects::check_body(&mut obj, &rp.api_version(), rp.namespace.as_deref(), None)
    {
        return bad_request(&m).into();
    }
    let name = meta_str(&obj, "name").unwrap_or_default().to_string();
    let rp = ResourcePath {
        name: Some(name.clone()),
        ..rp.clone()
    };
    if let Err(r) = namespace_exists(ctx, &rp).await {
        return r.into();
    }
    objects::for_create(&mut obj);
    match ctx.store.create(&rp.key(&ctx.prefix), &obj).await {
        Ok(rev) => respond(StatusCode::CREATED, obj, rev),
        Err(StoreError::Conflict) => fail(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", qualified(&rp)),
        ),
        Err(e) => store_error(e).into(),
    }
}

/// How a write derives the new object from the stored one.
pub enum Change {
    /// PUT: the body replaces the object (`status_only`: only its `.status`).
    Replace { body: Value, status_only: bool },
    /// JSON merge patch (`status_only`: only the patched `.status` is kept).
    Merge { patch: Value, status_only: bool },
    /// Server-side apply: the applied configuration replaces or creates the object.
    Apply { body: Value },
}

fn derive(change: &Change, old: &Stored, rp: &ResourcePath) -> Result<Value, Failure> {
    let api_version = rp.api_version();
    let (ns, name) = (rp.namespace.as_deref(), rp.name.as_deref());
    let keep_status_only = |mut new: Value| {
        let mut kept = old.value.clone();
        kept["status"] = new
            .get_mut("status")
            .map(Value::take)
            .unwrap_or(Value::Null);
        kept
    };
    let mut new = match change {
        Change::Replace { body, status_only } => {
            let mut body = body.clone();
            objects::check_body(&mut body, &api_version, ns, name).map_err(|m| bad_request(&m))?;
            if let Some(rv) = meta_str(&body, "resourceVersion")
                && !rv.is_empty()
                && rv != old.mod_revision.to_string()
            {
                return Err(store_error(StoreError::Conflict));
            }
            if *status_only {
                keep_status_only(body)
            } else {
                body
            }
        }
        Change::Merge { patch, status_only } => {
            let mut patched = old.value.clone();
            merge_patch(&mut patched, patch);
            objects::check_body(&mut patched, &api_version, ns, name)
                .map_err(|m| bad_request(&m))?;
            if *status_only {
                keep_status_only(patched)
            } else {
                patched
            }
        }
        Change::Apply { body } => {
            let mut body = body.clone();
            objects::check_body(&mut body, &api_version, ns, name).map_err(|m| bad_request(&m))?;
            body
        }
    };
    objects::for_update(&mut new, &old.value);
    Ok(new)
}

/// PUT, PATCH: read, derive, write guarded by the read revision; retried when racing.
/// Apply creates the object when it is absent.
pub async fn modify(ctx: &Ctx, rp: &ResourcePath, change: Change) -> Resp {
    let key = rp.key(&ctx.prefix);
    for _ in 0..ATTEMPTS {
        let old = match ctx.store.get(&key).await {
            Ok(Some(old)) => old,
            Ok(None) => {
                return match &change {
                    Change::Apply { body } => apply_create(ctx, rp, body.clone()).await,
                    _ => not_found(rp).into(),
                };
            }
            Err(e) => return store_error(e).into(),
        };
        let new = match derive(&change, &old, rp) {
            Ok(v) => v,
            Err(r) => return r.into(),
        };
        match ctx.store.update(&key, &new, old.mod_revision).await {
            Ok(rev) => return respond(StatusCode::OK, new, rev),
            Err(StoreError::Conflict) => continue,
            Err(e) => return store_error(e).into(),
        }
    }
    store_error(StoreError::Conflict).into()
}

async fn apply_create(ctx: &Ctx, rp: &ResourcePath, mut body: Value) -> Resp {
    if rp.subresource.is_some() {
        return not_found(rp).into();
    }
    let checked = objects::check_body(
        &mut body,
        &rp.api_version(),
        rp.namespace.as_deref(),
        rp.name.as_deref(),
    );
    if let Err(m) = checked {
        return bad_request(&m).into();
    }
    create(ctx, rp, body).await
}

/// Checks what server-side apply requires of its body: apiVersion and kind set.
pub fn check_apply_body(body: &Value) -> Result<(), Failure> {
    for field in ["apiVersion", "kind"] {
        if body
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(bad_request(&format!(
                "{field} must be set in an applied configuration"
            )));
        }
    }
    Ok(())
}

pub async fn delete(ctx: &Ctx, rp: &ResourcePath) -> Resp {
    match ctx.store.delete(&rp.key(&ctx.prefix)).await {
        Ok(Some(old)) => http::json(
            StatusCode::OK,
            &objects::deleted(
                rp.name.as_deref().unwrap_or(""),
                &rp.resource,
                meta_str(&old.value, "uid").unwrap_or(""),
            ),
        ),
        Ok(None) => not_found(rp).into(),
        Err(e) => store_error(e).into(),
    }
}

/// Creates the namespaces a real cluster starts with, when absent.
pub async fn system_namespaces(ctx: &Ctx) -> Result<(), String> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        objects::for_create(&mut obj);
        match ctx
            .store
            .create(&ResourcePath::namespace_key(&ctx.prefix, ns), &obj)
            .await
        {
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(StoreError::Unavailable(m)) => return Err(m),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::LabelSelector;
    use serde_json::json;

    #[test]
    fn equality_selectors() {
        let pod = json!({"metadata": {"labels": {"app": "db", "tier": "data"}}});
        assert!(
            LabelSelector::parse("app=db,tier==data")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            !LabelSelector::parse("app=db,tier!=data")
                .unwrap()
                .matches(&pod)
        );
        assert!(LabelSelector::parse("other!=x").unwrap().matches(&pod));
        assert!(!LabelSelector::parse("app=web").unwrap().matches(&pod));
        assert!(LabelSelector::parse("").unwrap().matches(&pod));
        assert!(LabelSelector::parse("app in (db)").is_err());
    }
}
