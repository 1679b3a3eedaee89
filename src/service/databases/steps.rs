//! Small constructors for the steps the scale planners emit, so every planner spells the
//! same operation the same way (and the tests can compare whole step lists).

use crate::service::steps::{
    Condition, DeleteItem, ExecSpec, ObjectRef, PodTarget, Step, WaitSpec, WaitTarget,
};
use std::time::Duration;

/// Why a scale request is refused, and what to do instead.
pub use super::Refusal;

pub fn refuse(reason: impl Into<String>, fix: impl Into<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        fix: Some(fix.into()),
    }
}

pub fn scale_sts(namespace: &str, name: &str, replicas: u32) -> Step {
    Step::Scale {
        target: ObjectRef::new("StatefulSet", Some(namespace), name),
        replicas,
    }
}

pub fn wait_ready(kind: &str, namespace: &str, name: &str, timeout_s: u64) -> Step {
    wait(
        ObjectRef::new(kind, Some(namespace), name),
        Condition::Ready,
        timeout_s,
    )
}

pub fn wait_deleted(kind: &str, namespace: &str, name: &str, timeout_s: u64) -> Step {
    wait(
        ObjectRef::new(kind, Some(namespace), name),
        Condition::Deleted,
        timeout_s,
    )
}

fn wait(target: ObjectRef, condition: Condition, timeout_s: u64) -> Step {
    Step::Wait(WaitSpec {
        target: WaitTarget::Object(target),
        condition,
        timeout: Some(Duration::from_secs(timeout_s)),
    })
}

/// `sh -c SCRIPT` in a container; with `retry_s`, repeated until it exits 0 (bounded).
pub fn exec_sh(
    namespace: &str,
    pod: &str,
    container: &str,
    script: String,
    retry_s: Option<u64>,
) -> Step {
    Step::Exec(ExecSpec {
        pod: PodTarget::Name(pod.to_string()),
        namespace: namespace.to_string(),
        container: Some(container.to_string()),
        command: vec!["sh".into(), "-c".into(), script],
        retry: retry_s.map(Duration::from_secs),
    })
}

/// Delete PersistentVolumeClaims by name.
pub fn delete_pvcs(namespace: &str, names: &[String]) -> Step {
    Step::Delete {
        items: names
            .iter()
            .map(|n| {
                DeleteItem::Object(ObjectRef::new("PersistentVolumeClaim", Some(namespace), n))
            })
            .collect(),
    }
}

/// A merge patch of a custom resource.
pub fn patch(
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    merge: serde_json::Value,
) -> Step {
    Step::Patch {
        target: ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        },
        merge,
    }
}
