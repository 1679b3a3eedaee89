//! Dependency order: services by their `prerequisite` lists, images by their one base
//! image. Depth-first, prerequisites first, each once; an unknown name or a cycle is a
//! located error naming the whole cycle.

use super::registry::Registry;
use super::suggest::did_you_mean;
use crate::config::reader::Located;
use crate::diag::{Diagnostic, Diagnostics};
use std::collections::BTreeMap;

/// A node of a dependency graph: its name and the names it needs first.
struct Graph<'a> {
    deps: BTreeMap<&'a str, Vec<&'a Located<String>>>,
    order: Vec<&'a str>,
    what: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Visiting,
    Done,
}

impl<'a> Graph<'a> {
    fn visit(
        &self,
        name: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        out: &mut Vec<String>,
        diags: &mut Diagnostics,
    ) -> bool {
        match marks.get(name) {
            Some(Mark::Done) => return true,
            Some(Mark::Visiting) => return false,
            None => {}
        }
        marks.insert(name, Mark::Visiting);
        path.push(name);
        let mut ok = true;
        for p in self.deps.get(name).into_iter().flatten() {
            let dep = p.value.as_str();
            if !self.deps.contains_key(dep) {
                let hint = did_you_mean(dep, &self.order);
                diags.push(
                    Diagnostic::error(
                        p.at.clone(),
                        format!(
                            "{} `{name}` needs `{dep}`, which is not a known {}{hint}",
                            self.what, self.what
                        ),
                    )
                    .fix(format!("known: {}", self.order.join(", "))),
                );
                ok = false;
                continue;
            }
            if marks.get(dep) == Some(&Mark::Visiting) {
                let start = path.iter().position(|n| *n == dep).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(dep);
                diags.push(
                    Diagnostic::error(
                        p.at.clone(),
                        format!("{} prerequisites form a cycle: {}", self.what, cycle.join(" → ")),
                    )
                    .fix(format!("remove `{dep}` from the prerequisites of `{name}` (or break the cycle elsewhere)")),
                );
                ok = false;
                continue;
            }
            ok &= self.visit(dep, marks, path, out, diags);
        }
        path.pop();
        marks.insert(name, Mark::Done);
        out.push(name.to_string());
        ok
    }

    /// `wanted` and everything they need, prerequisites first.
    fn order_for(&self, wanted: &[&'a str], diags: &mut Diagnostics) -> Option<Vec<String>> {
        let mut marks = BTreeMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for w in wanted {
            ok &= self.visit(w, &mut marks, &mut Vec::new(), &mut out, diags);
        }
        ok.then_some(out)
    }
}

fn service_graph(reg: &Registry) -> Graph<'_> {
    Graph {
        deps: reg
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.prerequisites.iter().collect()))
            .collect(),
        order: reg.services.iter().map(|s| s.name.as_str()).collect(),
        what: "service",
    }
}

fn image_graph(reg: &Registry) -> Graph<'_> {
    Graph {
        deps: reg
            .images
            .iter()
            .map(|i| (i.name.as_str(), i.prerequisite.iter().collect()))
            .collect(),
        order: reg.images.iter().map(|i| i.name.as_str()).collect(),
        what: "image",
    }
}

/// Checks the whole registry: every prerequisite known, no cycle.
pub fn check(reg: &Registry, diags: &mut Diagnostics) {
    let g = service_graph(reg);
    g.order_for(&g.order.clone(), diags);
    let g = image_graph(reg);
    g.order_for(&g.order.clone(), diags);
}

/// `Some(names)` for a `-s`/`-n` value: `all` or a known name; else an error listing the
/// known names.
fn select<'a>(known: &[&'a str], which: &str, what: &str) -> Result<Vec<&'a str>, String> {
    if which == "all" {
        return Ok(known.to_vec());
    }
    match known.iter().find(|k| **k == which) {
        Some(k) => Ok(vec![*k]),
        None => Err(format!(
            "unknown {what} `{which}`{}; known: {}",
            did_you_mean(which, known),
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        )),
    }
}

/// Services to start for `-s which` (`all` or a name), prerequisites first.
pub fn start_order(
    reg: &Registry,
    which: &str,
    diags: &mut Diagnostics,
) -> Result<Vec<String>, String> {
    let g = service_graph(reg);
    let wanted = select(&g.order, which, "service")?;
    g.order_for(&wanted, diags)
        .ok_or_else(|| "the service prerequisites are invalid".to_string())
}

/// Services to stop or delete for `-s which`: the service and every service that needs it
/// (directly or not), dependents first — the reverse of the start order.
pub fn stop_order(
    reg: &Registry,
    which: &str,
    diags: &mut Diagnostics,
) -> Result<Vec<String>, String> {
    let g = service_graph(reg);
    select(&g.order, which, "service")?;
    let all = g
        .order_for(&g.order.clone(), diags)
        .ok_or_else(|| "the service prerequisites are invalid".to_string())?;
    let mut chosen: Vec<String> = if which == "all" {
        all
    } else {
        // Keep `which` and everything whose prerequisites (transitively) include it.
        let mut keep = vec![which.to_string()];
        for name in &all {
            let needs = reg
                .service(name)
                .map(|s| s.prerequisites.iter().any(|p| keep.contains(&p.value)))
                .unwrap_or(false);
            if needs && !keep.contains(name) {
                keep.push(name.clone());
            }
        }
        all.into_iter().filter(|n| keep.contains(n)).collect()
    };
    chosen.reverse();
    Ok(chosen)
}

/// Images to build for `-n which`, base images first.
pub fn image_order(
    reg: &Registry,
    which: &str,
    diags: &mut Diagnostics,
) -> Result<Vec<String>, String> {
    let g = image_graph(reg);
    let wanted = select(&g.order, which, "image")?;
    g.order_for(&wanted, diags)
        .ok_or_else(|| "the image prerequisites are invalid".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::At;
    use crate::service::registry::{Origin, ServiceDef};
    use std::sync::Arc;

    fn svc(name: &str, pre: &[&str], line: u32) -> ServiceDef {
        let file: Arc<str> = Arc::from("service.yaml");
        let at = At {
            file,
            line: Some(line),
            column: Some(3),
            span: None,
        };
        ServiceDef {
            name: name.into(),
            origin: Origin::BuiltIn,
            at: at.clone(),
            prerequisites: pre
                .iter()
                .map(|p| Located::new(p.to_string(), at.clone()))
                .collect(),
            template_list: vec![],
            start: None,
            stop: None,
            delete: None,
            refresh: None,
        }
    }

    fn reg(s: Vec<ServiceDef>) -> Registry {
        Registry {
            services: s,
            images: vec![],
        }
    }

    #[test]
    fn prerequisites_first_each_once() {
        let r = reg(vec![
            svc("app", &["db", "zk"], 1),
            svc("db", &["zk"], 2),
            svc("zk", &[], 3),
            svc("other", &[], 4),
        ]);
        let mut d = Diagnostics::default();
        assert_eq!(start_order(&r, "app", &mut d).unwrap(), ["zk", "db", "app"]);
        assert_eq!(
            start_order(&r, "all", &mut d).unwrap(),
            ["zk", "db", "app", "other"]
        );
        assert_eq!(stop_order(&r, "zk", &mut d).unwrap(), ["app", "db", "zk"]);
        assert_eq!(stop_order(&r, "db", &mut d).unwrap(), ["app", "db"]);
        assert_eq!(
            stop_order(&r, "all", &mut d).unwrap(),
            ["other", "app", "db", "zk"]
        );
        assert!(!d.has_errors());
    }

    #[test]
    fn cycle_and_unknown_are_located_errors() {
        let r = reg(vec![
            svc("a", &["b"], 1),
            svc("b", &["c"], 2),
            svc("c", &["a"], 7),
        ]);
        let mut d = Diagnostics::default();
        assert!(start_order(&r, "a", &mut d).is_err());
        let e = d.errors().next().unwrap().to_string();
        assert!(
            e.contains("a → b → c → a") && e.starts_with("service.yaml:7:3"),
            "{e}"
        );

        let r = reg(vec![svc("a", &["zoo"], 5), svc("zk", &[], 6)]);
        let mut d = Diagnostics::default();
        assert!(start_order(&r, "all", &mut d).is_err());
        let e = d.errors().next().unwrap().to_string();
        assert!(
            e.contains("needs `zoo`") && e.contains("service.yaml:5"),
            "{e}"
        );
        let e = start_order(&r, "zk2", &mut d).unwrap_err();
        assert!(e.contains("did you mean `zk`"), "{e}");
    }
}
