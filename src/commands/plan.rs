//! `plan`: show the phases and steps an action would run. Touches nothing.

use super::exit;
use super::output::{err, json, out};
use crate::cli::{OutputFormat, PlanAction};
use crate::model::build::{self, NodeListUse};
use crate::plan;
use std::path::Path;

pub fn action_name(a: PlanAction) -> &'static str {
    match a {
        PlanAction::Deploy => "deploy",
        PlanAction::Clean => "clean",
        PlanAction::Add => "add",
        PlanAction::Remove => "remove",
        PlanAction::Repair => "repair",
        PlanAction::Etcdfix => "etcdfix",
        PlanAction::Upgrade => "upgrade",
        PlanAction::CertRotate => "cert-rotate",
        PlanAction::Restore => "restore",
    }
}

pub fn run(
    dir: &Path,
    action: PlanAction,
    nodes: Option<&Path>,
    format: OutputFormat,
    color: bool,
) -> i32 {
    let loaded = match build::load(dir) {
        Ok(l) => l,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    if !loaded.warnings.list.is_empty() && format == OutputFormat::Text {
        err(&loaded.warnings.render_text(color));
    }
    let name = action_name(action);
    let listed = match nodes {
        None => None,
        Some(f) => {
            let usage = match action {
                PlanAction::Add => NodeListUse::Add,
                PlanAction::Etcdfix => NodeListUse::EtcdMember,
                _ => NodeListUse::Existing,
            };
            match build::load_node_list(f, dir, usage, &loaded.cluster) {
                Ok((machines, _)) => Some(machines),
                Err(d) => {
                    err(&d.render_text(color));
                    return exit::INVALID;
                }
            }
        }
    };
    match plan::build(name, &loaded.cluster, listed.as_deref()) {
        Ok(p) => {
            match format {
                OutputFormat::Json => json(&p),
                OutputFormat::Text => out(&plan::text::render(&p)),
            }
            exit::OK
        }
        Err(e) => {
            err(&format!("error: {e}\n"));
            exit::INVALID
        }
    }
}
