//! TEMPORARY stand-in (svc owns this file): the declarative service steps of the contract,
//! plus the `Patch` variant db asked for (contract note 2026-11-21).

use std::time::Duration;

/// One declarative step of a service's start/stop/delete/refresh list or of a scale plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Apply {
        templates: Vec<String>,
    },
    Wait(WaitSpec),
    Exec(ExecSpec),
    Delete {
        items: Vec<DeleteItem>,
    },
    Scale {
        target: ObjectRef,
        replicas: u32,
    },
    Patch {
        target: ObjectRef,
        merge: serde_json::Value,
    },
}

/// A Kubernetes object by kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// apiVersion from the kind (core and apps kinds).
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        let api_version = match kind {
            "StatefulSet" | "Deployment" | "DaemonSet" | "ReplicaSet" => "apps/v1",
            "Job" => "batch/v1",
            _ => "v1",
        };
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTarget {
    Object(ObjectRef),
    Pods {
        namespace: String,
        selector: String,
        count: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Ready,
    Exists,
    Deleted,
    Type(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSpec {
    pub target: WaitTarget,
    pub condition: Condition,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodTarget {
    Name(String),
    Selector(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub pod: PodTarget,
    pub namespace: String,
    pub container: Option<String>,
    pub command: Vec<String>,
    pub retry: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    Template(String),
    Object(ObjectRef),
}
