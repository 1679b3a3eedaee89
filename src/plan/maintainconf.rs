//! The shape of an action's definition (`maintainconf/<action>.yaml`). The definitions
//! themselves are `super::phases` (Rust); the YAML files are generated from them and
//! embedded for readers and tools, and a unit test keeps both equal.

use crate::model::Role;
use serde::{Deserialize, Serialize};

/// One phase of an action, as the YAML states it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseDef {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub serial: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Node,
    Cluster,
}

/// Which nodes an action works on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    /// Every machine of the config dir.
    #[default]
    All,
    /// The machines of the `-f` node list.
    Listed,
}

/// One action's definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    pub action: String,
    pub summary: String,
    #[serde(default)]
    pub targets: Targets,
    #[serde(default, rename = "exactly-one")]
    pub exactly_one: bool,
    #[serde(default, rename = "roles-allowed")]
    pub roles_allowed: Vec<Role>,
    pub phases: Vec<PhaseDef>,
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown role `{s}`")))
    }
}

/// The embedded definitions, by action name.
pub const SOURCES: &[(&str, &str)] = &[
    ("deploy", include_str!("../../maintainconf/deploy.yaml")),
    ("clean", include_str!("../../maintainconf/clean.yaml")),
    ("add", include_str!("../../maintainconf/add.yaml")),
    ("remove", include_str!("../../maintainconf/remove.yaml")),
    ("repair", include_str!("../../maintainconf/repair.yaml")),
    ("etcdfix", include_str!("../../maintainconf/etcdfix.yaml")),
    ("upgrade", include_str!("../../maintainconf/upgrade.yaml")),
    (
        "cert-rotate",
        include_str!("../../maintainconf/cert-rotate.yaml"),
    ),
    ("restore", include_str!("../../maintainconf/restore.yaml")),
];

/// Read a `maintainconf/<action>.yaml` text.
pub fn parse(action: &str, text: &str) -> Result<ActionDef, String> {
    serde_saphyr::from_str::<ActionDef>(text)
        .map_err(|e| format!("maintainconf/{action}.yaml: {e}"))
}
