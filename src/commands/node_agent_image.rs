//! `image node-agent -p DIR [--arch A] [--out BUNDLE.tar] [--push]`: the kubelet +
//! cri-dockerd image from the official release binaries, checked, built through the local
//! Docker engine, tagged as the config's kubelet image, then saved and/or pushed.

use super::exit;
use super::output::{err, json, out};
use crate::cli::{ImageArch, OutputFormat};
use crate::image::node_agent::{self, Failure, Plan, Verified, fetch::Fetcher};
use crate::image::{build, push, save};
use crate::model::build::load;
use crate::service::config::{ServicesConfig, registry_settings};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Serialize)]
struct Bundle {
    path: PathBuf,
    bytes: u64,
}

#[derive(Serialize)]
struct Report {
    action: &'static str,
    image: Option<String>,
    platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    files: Vec<Verified>,
    built: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<Bundle>,
    pushed: bool,
    ok: bool,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

/// What the command was asked.
pub struct Request {
    pub dir: PathBuf,
    pub arch: Option<ImageArch>,
    pub out: Option<PathBuf>,
    pub push: bool,
    pub format: OutputFormat,
}

fn progress(s: &str) {
    err(&format!("{s}\n"));
}

pub fn run(req: Request, color: bool) -> i32 {
    let loaded = match load(&req.dir) {
        Ok(l) => l,
        Err(d) => {
            err(&d.render_text(color));
            return exit::INVALID;
        }
    };
    if !loaded.warnings.list.is_empty() && req.format == OutputFormat::Text {
        err(&loaded.warnings.render_text(color));
    }
    let cluster = loaded.cluster;
    let arch = req
        .arch
        .map(ImageArch::as_str)
        .unwrap_or_else(node_agent::host_arch);
    let started = Instant::now();
    let mut report = Report {
        action: "node-agent",
        image: Some(cluster.kubernetes.images["kubelet"].clone()),
        platform: format!("linux/{arch}"),
        base: None,
        files: Vec::new(),
        built: false,
        bundle: None,
        pushed: false,
        ok: false,
        seconds: 0.0,
        error: None,
        fix: None,
    };
    let result = match node_agent::plan(&cluster, arch) {
        Ok(plan) => {
            report.base = Some(plan.base.clone());
            make(&req, &cluster, &plan, &mut report)
        }
        Err(f) => Err(f),
    };
    report.seconds = started.elapsed().as_secs_f64();
    let code = match &result {
        Ok(()) => exit::OK,
        Err(f) if f.invalid_input => exit::INVALID,
        Err(_) => exit::FAILED,
    };
    if let Err(f) = result {
        report.error = Some(f.message);
        report.fix = Some(f.fix);
    } else {
        report.ok = true;
    }
    print(&report, &req);
    code
}

fn print(report: &Report, req: &Request) {
    match req.format {
        OutputFormat::Json => json(report),
        OutputFormat::Text => {
            let mut s = String::new();
            for f in &report.files {
                s.push_str(&format!(
                    "{} {}: sha256 {} ({} bytes) from {}\n  matches {}{}\n",
                    f.artifact.name(),
                    f.version,
                    f.sha256,
                    f.bytes,
                    f.from,
                    f.vouch,
                    f.published
                        .as_ref()
                        .map(|p| format!(" and {p}"))
                        .unwrap_or_default()
                ));
                if let Some(o) = &f.official_differs {
                    s.push_str(&format!(
                        "  note: not the official release (its SHA-256 is {o}): a build of your own\n"
                    ));
                }
            }
            let image = report.image.as_deref().unwrap_or("?");
            if report.built {
                s.push_str(&format!(
                    "built {image} ({}, on {})\n",
                    report.platform,
                    report.base.as_deref().unwrap_or("?")
                ));
            }
            if let Some(b) = &report.bundle {
                s.push_str(&format!(
                    "wrote {} ({} MB): deploy with `k8s-manage deploy -p {} --images {}`\n",
                    b.path.display(),
                    b.bytes / 1_000_000,
                    req.dir.display(),
                    b.path.display()
                ));
            }
            if report.pushed {
                s.push_str(&format!("pushed {image}\n"));
            }
            if let (Some(e), Some(fix)) = (&report.error, &report.fix) {
                s.push_str(&format!("error: {e}\n  fix: {fix}\n"));
                if !report.built {
                    s.push_str("no image was built\n");
                }
            } else if !report.built {
                s.push_str("no image was built\n");
            } else if report.bundle.is_none() && !report.pushed {
                s.push_str("the image is in this machine's Docker engine only: write a bundle for `deploy --images` with --out, or push it with --push\n");
            }
            if report.error.is_some() {
                err(&s);
            } else {
                out(&s);
            }
        }
    }
}

/// The registry host of an image reference, if it names one.
fn registry_host(reference: &str) -> Option<&str> {
    let (first, _) = reference.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// `(repository, tag)` of a reference.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

fn make(
    req: &Request,
    cluster: &crate::model::Cluster,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), Failure> {
    let failure = |message: String, fix: &str| Failure {
        message,
        fix: fix.to_string(),
        invalid_input: false,
    };
    if req.push
        && registry_host(&plan.reference).is_none_or(|h| h == crate::model::images::NODE_AGENT_HOST)
    {
        return Err(Failure {
            message: format!(
                "--push: the kubelet image {} names no registry to push to",
                plan.reference
            ),
            fix: "set `docker-registry:` (or `kubelet-image:`) in kubernetes-configuration.yaml to your registry, or write a bundle with --out".into(),
            invalid_input: true,
        });
    }
    if let Some(o) = &req.out
        && let Some(parent) = o.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(Failure {
            message: format!(
                "--out {}: the folder {} does not exist",
                o.display(),
                parent.display()
            ),
            fix: "create it, or choose another path".into(),
            invalid_input: true,
        });
    }
    node_agent::check_emulation(&plan.arch)?;
    let Some(rt) = super::run_setup::runtime() else {
        return Err(failure("cannot start the async runtime".into(), "retry"));
    };
    rt.block_on(async {
        let docker = build::connect_engine()
            .await
            .map_err(|e| failure(e, "start the Docker engine, then run the command again"))?;
        let fetcher = Fetcher::new().map_err(|e| failure(e, "check the system's CA certificates"))?;
        let work = tempfile::tempdir()
            .map_err(|e| failure(format!("cannot make a work folder: {e}"), "free space in the temp folder ($TMPDIR)"))?;
        let mut paths = Vec::new();
        for planned in [&plan.kubelet, &plan.cri_dockerd] {
            let (v, path) = node_agent::fetch_verified(
                &fetcher,
                planned,
                work.path(),
                cluster,
                &progress,
            )
            .await?;
            report.files.push(v);
            paths.push(path);
        }
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| failure(format!("cannot read {}: {e}", p.display()), "free space in the temp folder ($TMPDIR)"))
        };
        let kubelet = read(&paths[0])?;
        let archive = read(&paths[1])?;
        let archive_name = plan
            .cri_dockerd
            .source
            .artifact
            .file_name(&plan.cri_dockerd.source.version, &plan.arch);
        let tar = node_agent::recipe::context_tar(&plan.base, &kubelet, &archive_name, &archive);
        drop((kubelet, archive));
        progress(&format!(
            "building {} for linux/{} on {}",
            plan.reference, plan.arch, plan.base
        ));
        let tail = std::sync::Mutex::new(std::collections::VecDeque::new());
        let show = |line: &str| {
            progress(line);
            if let Ok(mut t) = tail.lock() {
                t.push_back(line.to_string());
                if t.len() > 12 {
                    t.pop_front();
                }
            }
        };
        let platform = format!("linux/{}", plan.arch);
        build::build_for(
            &docker,
            "node-agent",
            &plan.reference,
            tar,
            Some(platform.as_str()),
            node_agent::labels(plan, &report.files),
            &show,
        )
        .await
        .map_err(|e| {
            let last: Vec<String> = tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
            failure(
                format!("{e}\n  last lines of the build:\n{}", last.join("\n")),
                &format!("the build installs Debian packages with apt-get from the base image's sources unless the base has them: the base ({}) must be pullable or in this engine, and its Debian mirror reachable; an offline site sets `node-agent-base-image:` to an image that has the packages ({})", plan.base, node_agent::recipe::PACKAGES.join(", ")),
            )
        })?;
        report.built = true;
        if let Some(o) = &req.out {
            progress(&format!("saving {} into {}", plan.reference, o.display()));
            let bytes = save::save(&docker, &[plan.reference.as_str()], o)
                .await
                .map_err(|e| failure(e, "check the free space and permissions of the --out folder"))?;
            report.bundle = Some(Bundle {
                path: o.clone(),
                bytes,
            });
        }
        if req.push {
            // The login of services-configuration.yaml, when it is for the same registry.
            let mut diags = crate::diag::Diagnostics::default();
            let services = ServicesConfig::read(&req.dir, &mut diags);
            let settings = registry_settings(&services, &mut diags);
            let host = registry_host(&plan.reference).unwrap_or_default();
            let creds = (settings.domain == host)
                .then(|| push::credentials(&settings))
                .flatten();
            let (repo, tag) = split_tag(&plan.reference);
            progress(&format!("pushing {}", plan.reference));
            push::push(&docker, repo, tag, creds)
                .await
                .map_err(|e| failure(e, "check that the registry answers and accepts this login (docker-registry-info in services-configuration.yaml, for the same host)"))?;
            report.pushed = true;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_registry_repository_and_tag() {
        assert_eq!(
            registry_host("10.0.0.5:5000/k8s/node-agent:v1.36.1"),
            Some("10.0.0.5:5000")
        );
        assert_eq!(
            registry_host("k8s-manage.local/node-agent:v1.36.1"),
            Some("k8s-manage.local")
        );
        assert_eq!(registry_host("myorg/node-agent:v1"), None);
        assert_eq!(registry_host("node-agent"), None);
        assert_eq!(
            split_tag("10.0.0.5:5000/k8s/node-agent:v1.36.1"),
            ("10.0.0.5:5000/k8s/node-agent", "v1.36.1")
        );
        assert_eq!(
            split_tag("10.0.0.5:5000/node-agent"),
            ("10.0.0.5:5000/node-agent", "latest")
        );
    }
}
