//! The per-action phase lists from `maintainconf/<action>.yaml`, embedded in the binary.

use crate::model::Role;
use serde::{Deserialize, Serialize};

/// One phase of an action, as the YAML states it.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
];

/// Parse the definition of an action. The files ship with the binary and are checked by
/// tests, so an error here is a build defect; it is still reported, never a panic.
pub fn load(action: &str) -> Result<ActionDef, String> {
    let (_, text) = SOURCES
        .iter()
        .find(|(a, _)| *a == action)
        .ok_or_else(|| format!("no maintainconf for action `{action}`"))?;
    serde_saphyr::from_str::<ActionDef>(text)
        .map_err(|e| format!("maintainconf/{action}.yaml: {e}"))
}
