//! `image build|push -p DIR [-n NAME|all]`: the imagelist images in dependency order (base
//! images first), built and pushed through the local Docker engine's API; `image
//! node-agent` is [`super::node_agent_image`].

use super::exit;
use super::output::{err, json, out};
use super::service::load_services;
use crate::cli::{ImageCommand, OutputFormat};
use crate::diag::Diagnostics;
use crate::image::{build, context, push};
use crate::service::config::registry_settings;
use crate::service::resolve;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Serialize)]
struct ImageResult {
    name: String,
    reference: String,
    ok: bool,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ImageReport {
    action: &'static str,
    images: Vec<ImageResult>,
    ok: bool,
}

pub fn run(cmd: ImageCommand, color: bool) -> i32 {
    match cmd {
        ImageCommand::Build { path, name, output } => images(&path, &name, true, output, color),
        ImageCommand::Push { path, name, output } => images(&path, &name, false, output, color),
        ImageCommand::NodeAgent {
            path,
            arch,
            out,
            push,
            output,
        } => super::node_agent_image::run(
            super::node_agent_image::Request {
                dir: path,
                arch,
                out,
                push,
                format: output,
            },
            color,
        ),
    }
}

fn progress(s: &str) {
    err(&format!("{s}\n"));
}

fn images(dir: &Path, which: &str, build_them: bool, format: OutputFormat, color: bool) -> i32 {
    let l = match load_services(dir, color, format) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let mut diags = Diagnostics::default();
    let settings = registry_settings(&l.config, &mut diags);
    let order = match resolve::image_order(&l.registry, which, &mut diags) {
        Ok(o) => o,
        Err(e) => {
            if diags.has_errors() {
                err(&diags.render_text(color));
            }
            err(&format!(
                "error: {e}\n  fix: list the image under imagelist in DIR/services/service.yaml\n"
            ));
            return exit::INVALID;
        }
    };
    // Render every context before building anything: a template error changes nothing.
    let tctx = l.context.for_images();
    let mut contexts = Vec::new();
    for name in &order {
        let Some(img) = l.registry.image(name) else {
            continue;
        };
        if build_them {
            match context::context_tar(img, &tctx) {
                Ok(t) => contexts.push(Some(t)),
                Err(e) => {
                    err(&format!(
                        "error: {e}\n  fix: correct the image's template\n"
                    ));
                    return exit::INVALID;
                }
            }
        } else {
            contexts.push(None);
        }
    }
    let Some(rt) = super::run_setup::runtime() else {
        return exit::FAILED;
    };
    let docker = match rt.block_on(build::connect_engine()) {
        Ok(d) => d,
        Err(e) => {
            err(&format!("error: {e}\n"));
            return exit::FAILED;
        }
    };
    let creds = push::credentials(&settings);
    let mut report = ImageReport {
        action: if build_them { "build" } else { "push" },
        images: Vec::new(),
        ok: true,
    };
    for (name, tar) in order.iter().zip(contexts) {
        let reference = settings.reference(name);
        progress(&format!("{} {name} as {reference}", report.action));
        let started = Instant::now();
        let result = match tar {
            Some(tar) => rt
                .block_on(build::build(&docker, name, &reference, tar, &progress))
                .map(|_| ()),
            None => rt.block_on(push::push(
                &docker,
                &settings.repository(name),
                &settings.tag,
                creds.clone(),
            )),
        };
        let ok = result.is_ok();
        report.images.push(ImageResult {
            name: name.clone(),
            reference,
            ok,
            seconds: started.elapsed().as_secs_f64(),
            error: result.err(),
        });
        if !ok {
            report.ok = false;
            break;
        }
    }
    match format {
        OutputFormat::Json => json(&report),
        OutputFormat::Text => {
            let mut s = String::new();
            for i in &report.images {
                match &i.error {
                    None => s.push_str(&format!(
                        "{} {}: ok ({:.1} s)\n",
                        report.action, i.reference, i.seconds
                    )),
                    Some(e) => {
                        s.push_str(&format!("{} {}: FAILED: {e}\n", report.action, i.reference))
                    }
                }
            }
            if !report.ok {
                s.push_str("images after the failing one were not touched\n");
            }
            out(&s);
        }
    }
    if report.ok { exit::OK } else { exit::FAILED }
}
