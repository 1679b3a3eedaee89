//! Kubernetes-shaped JSON: Status objects for errors and the metadata the server owns
//! (uid, creationTimestamp, resourceVersion).

use serde_json::{Value, json};

use crate::clock;

/// A `Status` object for a failed request.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A `Status` object for a successful delete.
pub fn deleted(name: &str, resource: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "kind": resource, "uid": uid},
    })
}

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn metadata_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    let map = obj.as_object_mut().expect("object checked by caller");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("object")
}

/// Checks a request body against the request path; fills apiVersion and namespace.
pub fn check_body(
    obj: &mut Value,
    api_version: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<(), String> {
    if !obj.is_object() {
        return Err("the request body is not an object".into());
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj["apiVersion"] = json!(api_version);
        }
        Some(v) if v != api_version => {
            return Err(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            ));
        }
        Some(_) => {}
    }
    let meta = metadata_mut(obj);
    match (meta.get("namespace").and_then(Value::as_str), namespace) {
        (Some(given), Some(ns)) if !given.is_empty() && given != ns => {
            return Err("the namespace of the provided object does not match the namespace sent on the request".into());
        }
        (Some(given), None) if !given.is_empty() => {
            return Err(format!(
                "namespace {given:?} given for a cluster-scoped resource"
            ));
        }
        _ => {}
    }
    match namespace {
        Some(ns) => {
            meta.insert("namespace".into(), json!(ns));
        }
        None => {
            meta.remove("namespace");
        }
    }
    let body_name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    match name {
        Some(n) if body_name.is_empty() => {
            meta.insert("name".into(), json!(n));
        }
        Some(n) if body_name != n => {
            return Err(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({n})"
            ));
        }
        None if body_name.is_empty() => {
            return Err("metadata.name: Required value: name is required".into());
        }
        _ => {}
    }
    Ok(())
}

/// Server-owned fields for a new object; the resourceVersion is never stored.
pub fn for_create(obj: &mut Value) {
    let meta = metadata_mut(obj);
    meta.remove("resourceVersion");
    meta.insert("uid".into(), json!(clock::uid()));
    meta.insert("creationTimestamp".into(), json!(clock::now()));
}

/// Keeps the server-owned fields of `old` on a replacement.
pub fn for_update(obj: &mut Value, old: &Value) {
    let meta = metadata_mut(obj);
    meta.remove("resourceVersion");
    for field in ["uid", "creationTimestamp"] {
        if let Some(v) = old.get("metadata").and_then(|m| m.get(field)) {
            meta.insert(field.into(), v.clone());
        }
    }
}

/// Sets metadata.resourceVersion (as read from etcd's mod revision).
pub fn with_version(mut obj: Value, revision: i64) -> Value {
    if obj.is_object() {
        metadata_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_checks() {
        let mut o = json!({"kind": "ConfigMap", "metadata": {"name": "x"}});
        check_body(&mut o, "v1", Some("ns"), None).unwrap();
        assert_eq!(o["apiVersion"], "v1");
        assert_eq!(o["metadata"]["namespace"], "ns");
        let mut o = json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}});
        assert!(check_body(&mut o, "v1", Some("ns"), None).is_err());
        let mut o = json!({"metadata": {"name": "x", "namespace": "other"}});
        assert!(check_body(&mut o, "v1", Some("ns"), None).is_err());
        let mut o = json!({"metadata": {"name": "x"}});
        assert!(check_body(&mut o, "v1", None, Some("y")).is_err());
        let mut o = json!({"metadata": {}});
        assert!(check_body(&mut o, "v1", None, None).is_err());
        let mut o = json!([]);
        assert!(check_body(&mut o, "v1", None, None).is_err());
    }

    #[test]
    fn server_fields() {
        let mut o = json!({"metadata": {"name": "x", "resourceVersion": "5"}});
        for_create(&mut o);
        assert!(o["metadata"].get("resourceVersion").is_none());
        let mut n = json!({"metadata": {"name": "x"}});
        for_update(&mut n, &o);
        assert_eq!(n["metadata"]["uid"], o["metadata"]["uid"]);
        assert_eq!(with_version(n, 7)["metadata"]["resourceVersion"], "7");
    }
}
