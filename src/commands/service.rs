//! `service list|render|deploy|stop|delete|refresh|scale`: load the registry and
//! services-configuration.yaml (exit 2 on any located problem), call the service layer
//! (`service::actions`, `service::scale`, `service::prepare`), print its progress on
//! stderr and its report or error, and return the exit status.

use super::exit;
use super::output::{err, json, out};
use super::run_setup::load;
use crate::cli::{OutputFormat, ServiceArgs, ServiceCommand};
use crate::diag::Diagnostics;
use crate::service::actions::{self, Action, ActionOptions, ActionReport};
use crate::service::databases;
use crate::service::error::{ErrorKind, ServiceError};
use crate::service::prepare::{self, Loaded};
use crate::service::registry::Origin;
use crate::service::render::{images_of, render_service};
use crate::service::scale::{self, ScaleOptions};
use serde::Serialize;
use std::path::Path;

/// Load the cluster model, services-configuration.yaml and the registry; print every
/// problem and return exit 2 when there is any error.
pub fn load_services(dir: &Path, color: bool, format: OutputFormat) -> Result<Loaded, i32> {
    let cluster = load(dir, color, format)?;
    let mut diags = Diagnostics::default();
    let loaded = Loaded::read(dir, cluster, &mut diags);
    let Some(loaded) = loaded else {
        err(&diags.render_text(color));
        return Err(exit::INVALID);
    };
    if !diags.list.is_empty() && format == OutputFormat::Text {
        err(&diags.render_text(color));
    }
    Ok(loaded)
}

/// Print a service error; its exit status.
fn fail(e: &ServiceError, color: bool) -> i32 {
    err(&e.render(color));
    match e.kind {
        ErrorKind::Invalid => exit::INVALID,
        ErrorKind::Failed => exit::FAILED,
    }
}

pub fn run(cmd: ServiceCommand, color: bool) -> i32 {
    match cmd {
        ServiceCommand::List { path, output } => list(&path, output, color),
        ServiceCommand::Render { path, service, out } => render(&path, &service, &out, color),
        ServiceCommand::Deploy(a) => act(Action::Start, &a, color),
        ServiceCommand::Stop(a) => act(Action::Stop, &a, color),
        ServiceCommand::Delete(a) => act(Action::Delete, &a, color),
        ServiceCommand::Refresh(a) => act(Action::Refresh, &a, color),
        ServiceCommand::Scale {
            args,
            replicas,
            component,
        } => scale(&args, replicas, component, color),
    }
}

#[derive(Serialize)]
struct ListEntry {
    name: String,
    origin: String,
    prerequisites: Vec<String>,
    templates: Vec<String>,
    images: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    render_error: Option<String>,
    scalable: bool,
}

fn list(dir: &Path, format: OutputFormat, color: bool) -> i32 {
    let l = match load_services(dir, color, format) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let entries: Vec<ListEntry> = l
        .registry
        .services
        .iter()
        .map(|s| {
            let rendered = render_service(s, &l.context);
            ListEntry {
                name: s.name.clone(),
                origin: match &s.origin {
                    Origin::BuiltIn => "built-in".into(),
                    Origin::Dir(d) => d.display().to_string(),
                },
                prerequisites: s.prerequisites.iter().map(|p| p.value.clone()).collect(),
                templates: s.template_list.iter().map(|t| t.value.clone()).collect(),
                images: rendered.as_deref().map(images_of).unwrap_or_default(),
                render_error: rendered.err(),
                scalable: databases::planner(&s.name).is_some(),
            }
        })
        .collect();
    match format {
        OutputFormat::Json => json(&serde_json::json!({
            "services": entries,
            "images": l.registry.images.iter().map(|i| serde_json::json!({
                "name": i.name,
                "prerequisite": i.prerequisite.as_ref().map(|p| p.value.clone()),
                "reference": l.context.value()["images"][&i.name],
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            let mut s = format!("{} service(s)\n", entries.len());
            for e in &entries {
                s.push_str(&format!(
                    "  {}  ({}{})\n    prerequisites: {}\n    images: {}\n",
                    e.name,
                    e.origin,
                    if e.scalable { ", scalable" } else { "" },
                    if e.prerequisites.is_empty() {
                        "-".into()
                    } else {
                        e.prerequisites.join(", ")
                    },
                    if e.images.is_empty() {
                        "-".into()
                    } else {
                        e.images.join(", ")
                    },
                ));
                if let Some(r) = &e.render_error {
                    s.push_str(&format!("    render error: {r}\n"));
                }
            }
            s.push_str(&format!("{} image(s) to build\n", l.registry.images.len()));
            for i in &l.registry.images {
                s.push_str(&format!(
                    "  {}  -> {}{}\n",
                    i.name,
                    l.context.value()["images"][&i.name].as_str().unwrap_or(""),
                    i.prerequisite
                        .as_ref()
                        .map(|p| format!("  (FROM {})", p.value))
                        .unwrap_or_default()
                ));
            }
            out(&s);
        }
    }
    exit::OK
}

fn render(dir: &Path, which: &str, out_dir: &Path, color: bool) -> i32 {
    let l = match load_services(dir, color, OutputFormat::Text) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let rendered = match prepare::render_in_start_order(&l, which) {
        Ok(r) => r,
        Err(e) => return fail(&e, color),
    };
    let mut count = 0;
    for (svc, files) in &rendered {
        for f in files {
            let p = out_dir.join(svc).join(&f.name);
            // Secrets (passwords, licenses) are for root's eyes only
            let mode = if f.holds_secret() { 0o600 } else { 0o644 };
            let write = crate::local_file::write_file(&p, f.text.as_bytes(), mode);
            if let Err(e) = write {
                err(&format!(
                    "error: cannot write {}: {e}\n  fix: choose an --out folder you can write to\n",
                    p.display()
                ));
                return exit::FAILED;
            }
            count += 1;
        }
    }
    out(&format!(
        "rendered {} service(s), {count} file(s) into {}\n",
        rendered.len(),
        out_dir.display()
    ));
    exit::OK
}

fn progress(s: &str) {
    err(&format!("{s}\n"));
}

fn finish(r: &ActionReport, format: OutputFormat) -> i32 {
    match format {
        OutputFormat::Json => json(r),
        OutputFormat::Text => {
            let mut s = String::new();
            for svc in &r.services {
                s.push_str(&format!(
                    "{} {}: {}\n",
                    r.action,
                    svc.name,
                    if r.dry_run {
                        "planned"
                    } else if svc.ok && r.server_dry_run {
                        "accepted by the server (dry run: nothing stored)"
                    } else if svc.ok {
                        "ok"
                    } else {
                        "FAILED"
                    }
                ));
                if r.dry_run {
                    for st in &svc.steps {
                        s.push_str(&format!("  - {st}\n"));
                    }
                }
                for rep in svc.reports.iter().filter(|x| !x.ok) {
                    s.push_str(&format!("  step `{}` failed: {}\n", rep.step, rep.detail));
                }
            }
            if let Some(e) = &r.error {
                s.push_str(&format!("error: {e}\n"));
            }
            out(&s);
        }
    }
    if r.ok { exit::OK } else { exit::FAILED }
}

fn act(action: Action, a: &ServiceArgs, color: bool) -> i32 {
    if let Err(e) = actions::check_server_dry_run(action.name(), a.server_dry_run) {
        return fail(&e, color);
    }
    let l = match load_services(&a.path, color, a.output) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let opts = ActionOptions {
        service: a.service.clone(),
        dry_run: a.dry_run,
        server_dry_run: a.server_dry_run,
        wait_seconds: a.wait_seconds,
    };
    match actions::perform(action, &l, &opts, &progress) {
        Ok(r) => finish(&r, a.output),
        Err(e) => fail(&e, color),
    }
}

fn scale(a: &ServiceArgs, replicas: u32, component: Option<String>, color: bool) -> i32 {
    if let Err(e) = actions::check_server_dry_run("scale", a.server_dry_run) {
        return fail(&e, color);
    }
    let l = match load_services(&a.path, color, a.output) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let opts = ScaleOptions {
        service: a.service.clone(),
        component,
        replicas,
        dry_run: a.dry_run,
        wait_seconds: a.wait_seconds,
    };
    match scale::scale(&l, &opts, &progress) {
        Ok(r) => finish(&r, a.output),
        Err(e) => fail(&e, color),
    }
}
