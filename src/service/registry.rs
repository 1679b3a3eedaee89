//! The service registry: the built-in services (the repo's `services/`, embedded in the
//! binary) plus the config dir's own `DIR/services/` and `DIR/src/<image>/`. Reads the
//! top-level `service.yaml` (`servicelist`, `imagelist`) and each service's
//! `services/<name>/service.yaml` (`prerequisite`, `template-list`, `start`, `stop`,
//! `delete`, `refresh`), every problem a located diagnostic. Format: `docs/SERVICES.md`.

use super::embedded::BUILTIN_FILES;
use super::steps::{LocatedStep, read_steps};
use super::suggest::did_you_mean;
use crate::config::reader::{Located, text};
use crate::config::source::SourceFile;
use crate::config::yaml_tree::{Kind, Node};
use crate::diag::{At, Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name shown for files embedded in the binary.
pub const BUILTIN: &str = "<built-in>/services";

/// Where a service's files are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded `services/<name>/`.
    BuiltIn,
    /// `DIR/services/<name>/`.
    Dir(PathBuf),
}

/// One service.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub name: String,
    pub origin: Origin,
    /// Where it is listed in a `servicelist`.
    pub at: At,
    pub prerequisites: Vec<Located<String>>,
    pub template_list: Vec<Located<String>>,
    pub start: Option<Vec<LocatedStep>>,
    pub stop: Option<Vec<LocatedStep>>,
    pub delete: Option<Vec<LocatedStep>>,
    pub refresh: Option<Vec<LocatedStep>>,
}

impl ServiceDef {
    /// The display name of one of its files.
    pub fn file_name(&self, rel: &str) -> String {
        match &self.origin {
            Origin::BuiltIn => format!("{BUILTIN}/{}/{rel}", self.name),
            Origin::Dir(d) => d.join(rel).display().to_string(),
        }
    }

    /// The text of one of its files.
    pub fn read_file(&self, rel: &str) -> Result<String, String> {
        let bytes = match &self.origin {
            Origin::BuiltIn => builtin_file(&format!("{}/{rel}", self.name))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "no such built-in file".to_string()),
            Origin::Dir(d) => std::fs::read(d.join(rel)).map_err(|e| e.to_string()),
        }?;
        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
    }
}

/// One image k8s-manage builds, from `DIR/src/<name>/`.
#[derive(Debug, Clone)]
pub struct ImageDef {
    pub name: String,
    pub dir: PathBuf,
    pub at: At,
    pub prerequisite: Option<Located<String>>,
    /// Files of the image folder rendered with Tera (default `Dockerfile`).
    pub template_list: Vec<String>,
}

/// Every service and image known for a config dir.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// In `servicelist` order, built-ins first.
    pub services: Vec<ServiceDef>,
    pub images: Vec<ImageDef>,
}

impl Registry {
    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn image(&self, name: &str) -> Option<&ImageDef> {
        self.images.iter().find(|s| s.name == name)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }
}

fn builtin_file(rel: &str) -> Option<&'static [u8]> {
    BUILTIN_FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, b)| *b)
}

/// Loads the registry for config dir `dir`: built-ins, then `DIR/services/service.yaml`.
pub fn load(dir: &Path, diags: &mut Diagnostics) -> Registry {
    let mut reg = Registry::default();
    if let Some(bytes) = builtin_file("service.yaml") {
        let name: Arc<str> = Arc::from(format!("{BUILTIN}/service.yaml"));
        let text = String::from_utf8_lossy(bytes).into_owned();
        if let Some(f) = SourceFile::parse(name, PathBuf::from("service.yaml"), text, diags) {
            read_top(&f, &Origin::BuiltIn, dir, &mut reg, diags);
        }
    }
    let user = dir.join("services").join("service.yaml");
    if user.exists()
        && let Some(f) = SourceFile::read(&user, diags)
    {
        read_top(&f, &Origin::Dir(dir.join("services")), dir, &mut reg, diags);
    }
    reg
}

fn read_top(
    f: &SourceFile,
    origin: &Origin,
    dir: &Path,
    reg: &mut Registry,
    diags: &mut Diagnostics,
) {
    if !matches!(f.root.kind, Kind::Map(_) | Kind::Null) {
        diags.push(
            Diagnostic::error(f.at(f.root.pos), "service.yaml must be a mapping")
                .fix("write `servicelist:` and `imagelist:` sections"),
        );
        return;
    }
    for (k, _) in f.root.entries() {
        let key = k.key_text().unwrap_or_default();
        if key != "servicelist" && key != "imagelist" {
            let hint = did_you_mean(&key, &["servicelist", "imagelist"]);
            diags.push(
                Diagnostic::error(f.at(k.pos), format!("unknown section `{key}`{hint}"))
                    .fix("service.yaml has two sections: servicelist and imagelist"),
            );
        }
    }
    if let Some(list) = f.root.get("servicelist") {
        // A list of names, or the original's map `name: {...}`.
        let names: Vec<&Node> = match &list.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Map(entries) => entries.iter().map(|(k, _)| k).collect(),
            Kind::Null => Vec::new(),
            other => {
                diags.push(
                    Diagnostic::error(
                        f.at(list.pos),
                        format!(
                            "servicelist must be a list of service names, found {}",
                            other.type_name()
                        ),
                    )
                    .fix("write one `- <service>` per line"),
                );
                Vec::new()
            }
        };
        for n in names {
            let Some(name) = text(f, n, "servicelist", diags) else {
                continue;
            };
            if !valid_name(&name.value) {
                diags.push(
                    Diagnostic::error(name.at.clone(), format!("`{}` is not a valid service name", name.value))
                        .fix("use lower-case letters, digits and dashes (the folder name under services/)"),
                );
                continue;
            }
            if let Some(svc) = read_service(&name, origin, diags) {
                reg.services.retain(|s| s.name != svc.name);
                reg.services.push(svc);
            }
        }
    }
    if let Some(list) = f.root.get("imagelist") {
        let Some(map) = crate::config::reader::mapping(f, list, "imagelist", diags) else {
            return;
        };
        if *origin == Origin::BuiltIn && !map.entries().is_empty() {
            diags.push(
                Diagnostic::error(f.at(list.pos), "built-in images are not supported")
                    .fix("list images in the config dir's services/service.yaml, with src/<image>/Dockerfile beside it"),
            );
            return;
        }
        for (k, v) in map.entries() {
            let Some(name) = text(f, k, "imagelist", diags) else {
                continue;
            };
            if !valid_name(&name.value) {
                diags.push(
                    Diagnostic::error(
                        name.at.clone(),
                        format!("`{}` is not a valid image name", name.value),
                    )
                    .fix("use lower-case letters, digits and dashes (the folder name under src/)"),
                );
                continue;
            }
            if let Some(img) = read_image(f, &name, v, dir, diags) {
                reg.images.retain(|i| i.name != img.name);
                reg.images.push(img);
            }
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !s.starts_with('-')
}

/// `None`/`none`/null/empty mean "no value", as in the original.
fn is_none(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("none")
}

/// A list of names, a single name, or none.
fn names(
    f: &SourceFile,
    node: Option<&Node>,
    key: &str,
    diags: &mut Diagnostics,
) -> Vec<Located<String>> {
    let Some(node) = node else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Null => Vec::new(),
        Kind::Map(_) => {
            diags.push(
                Diagnostic::error(
                    f.at(node.pos),
                    format!("`{key}` must be a list of names, found a mapping"),
                )
                .fix(format!("write `{key}: [a, b]`")),
            );
            Vec::new()
        }
        _ => vec![node],
    };
    items
        .into_iter()
        .filter_map(|n| text(f, n, key, diags))
        .filter(|v| !is_none(&v.value))
        .collect()
}

fn read_service(
    name: &Located<String>,
    origin: &Origin,
    diags: &mut Diagnostics,
) -> Option<ServiceDef> {
    let (file_name, folder_origin, bytes) = match origin {
        Origin::BuiltIn => {
            let rel = format!("{}/service.yaml", name.value);
            (
                format!("{BUILTIN}/{rel}"),
                Origin::BuiltIn,
                builtin_file(&rel).map(<[u8]>::to_vec),
            )
        }
        Origin::Dir(d) => {
            let folder = d.join(&name.value);
            let p = folder.join("service.yaml");
            (
                p.display().to_string(),
                Origin::Dir(folder),
                std::fs::read(&p).ok(),
            )
        }
    };
    let Some(bytes) = bytes else {
        diags.push(
            Diagnostic::error(
                name.at.clone(),
                format!(
                    "service `{}` is listed but {file_name} does not exist",
                    name.value
                ),
            )
            .fix(format!(
                "create {file_name}, or remove `{}` from the servicelist",
                name.value
            )),
        );
        return None;
    };
    let text_ = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            diags.push(
                Diagnostic::error(
                    At::file(&Arc::from(file_name.as_str())),
                    "the file is not UTF-8 text",
                )
                .fix("save it as UTF-8"),
            );
            return None;
        }
    };
    let f = SourceFile::parse(
        Arc::from(file_name.as_str()),
        PathBuf::from(&file_name),
        text_,
        diags,
    )?;
    let mut svc = ServiceDef {
        name: name.value.clone(),
        origin: folder_origin,
        at: name.at.clone(),
        prerequisites: Vec::new(),
        template_list: Vec::new(),
        start: None,
        stop: None,
        delete: None,
        refresh: None,
    };
    if !matches!(f.root.kind, Kind::Map(_) | Kind::Null) {
        diags.push(
            Diagnostic::error(
                f.at(f.root.pos),
                "a service's service.yaml must be a mapping",
            )
            .fix("write `prerequisite:`, `template-list:`, `start:` ... (see docs/SERVICES.md)"),
        );
        return None;
    }
    const KEYS: [&str; 6] = [
        "prerequisite",
        "template-list",
        "start",
        "stop",
        "delete",
        "refresh",
    ];
    for (k, v) in f.root.entries() {
        let key = k.key_text().unwrap_or_default();
        match key.as_str() {
            "prerequisite" => svc.prerequisites = names(&f, Some(v), "prerequisite", diags),
            "template-list" => svc.template_list = names(&f, Some(v), "template-list", diags),
            "start" => svc.start = Some(read_steps(&f, v, "start", diags)),
            "stop" => svc.stop = Some(read_steps(&f, v, "stop", diags)),
            "delete" => svc.delete = Some(read_steps(&f, v, "delete", diags)),
            "refresh" => svc.refresh = Some(read_steps(&f, v, "refresh", diags)),
            "start-script" | "stop-script" | "delete-script" | "refresh-script"
            | "upgraded-script" => {
                diags.push(
                    Diagnostic::error(
                        f.at(k.pos),
                        format!("`{key}` (a shell script) is not supported: steps are declarative"),
                    )
                    .fix(format!(
                        "replace it with `{}:` and a list of apply / wait / exec / delete steps",
                        key.trim_end_matches("-script")
                    )),
                );
            }
            _ => {
                let hint = did_you_mean(&key, &KEYS);
                diags.push(
                    Diagnostic::error(f.at(k.pos), format!("unknown key `{key}`{hint}"))
                        .fix(format!("a service's service.yaml has: {}", KEYS.join(", "))),
                );
            }
        }
    }
    // Every template of the list exists.
    for t in &svc.template_list {
        if t.value.contains("..") || t.value.starts_with('/') {
            diags.push(
                Diagnostic::error(
                    t.at.clone(),
                    format!(
                        "template `{}` must be a path inside the service folder",
                        t.value
                    ),
                )
                .fix("write a relative path without `..`"),
            );
        } else if let Err(e) = svc.read_file(&t.value) {
            diags.push(
                Diagnostic::error(
                    t.at.clone(),
                    format!("template {} cannot be read: {e}", svc.file_name(&t.value)),
                )
                .fix("create the file or remove it from template-list"),
            );
        }
    }
    // Steps name only templates of the list.
    let listed: Vec<&str> = svc.template_list.iter().map(|t| t.value.as_str()).collect();
    for steps in [&svc.start, &svc.stop, &svc.delete, &svc.refresh]
        .into_iter()
        .flatten()
    {
        for s in steps {
            for t in step_templates(&s.step) {
                if !t.contains("{{") && !listed.contains(&t.as_str()) {
                    let hint = did_you_mean(t, &listed);
                    diags.push(
                        Diagnostic::error(
                            s.at.clone(),
                            format!("step names `{t}`, which is not in template-list{hint}"),
                        )
                        .fix("add the file to template-list or fix the name"),
                    );
                }
            }
        }
    }
    Some(svc)
}

/// The template files a step names.
pub fn step_templates(step: &super::steps::Step) -> Vec<&String> {
    use super::steps::{DeleteItem, Step};
    match step {
        Step::Apply { templates } => templates.iter().collect(),
        Step::Delete { items } => items
            .iter()
            .filter_map(|i| match i {
                DeleteItem::Template(t) => Some(t),
                DeleteItem::Object(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn read_image(
    f: &SourceFile,
    name: &Located<String>,
    node: &Node,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<ImageDef> {
    let folder = dir.join("src").join(&name.value);
    let mut img = ImageDef {
        name: name.value.clone(),
        dir: folder.clone(),
        at: name.at.clone(),
        prerequisite: None,
        template_list: vec!["Dockerfile".into()],
    };
    if !matches!(node.kind, Kind::Map(_) | Kind::Null) {
        diags.push(
            Diagnostic::error(
                f.at(node.pos),
                format!("image `{}` must be a mapping", name.value),
            )
            .fix("write `prerequisite:` and `template-list:` under it, or nothing"),
        );
        return None;
    }
    for (k, v) in node.entries() {
        let key = k.key_text().unwrap_or_default();
        match key.as_str() {
            "prerequisite" => {
                let mut p = names(f, Some(v), "prerequisite", diags);
                if p.len() > 1 {
                    diags.push(
                        Diagnostic::error(
                            f.at(v.pos),
                            "an image has at most one prerequisite (its FROM base)",
                        )
                        .fix("name one image of the imagelist"),
                    );
                }
                img.prerequisite = p.drain(..).next();
            }
            "template-list" | "templatelist" => {
                img.template_list = names(f, Some(v), &key, diags)
                    .into_iter()
                    .map(|l| l.value)
                    .collect();
            }
            "copy" | "copy-list" => diags.push(
                Diagnostic::error(f.at(k.pos), format!("`{key}` is not supported")).fix(format!(
                    "put the files into src/{}/ (the whole folder is the build context)",
                    name.value
                )),
            ),
            _ => {
                let hint = did_you_mean(&key, &["prerequisite", "template-list"]);
                diags.push(
                    Diagnostic::error(f.at(k.pos), format!("unknown key `{key}`{hint}"))
                        .fix("an image has `prerequisite` and `template-list`"),
                );
            }
        }
    }
    if !folder.join("Dockerfile").is_file() {
        diags.push(
            Diagnostic::error(
                name.at.clone(),
                format!(
                    "image `{}` has no {}",
                    name.value,
                    folder.join("Dockerfile").display()
                ),
            )
            .fix(format!(
                "create src/{}/Dockerfile in the config dir",
                name.value
            )),
        );
    }
    Some(img)
}
