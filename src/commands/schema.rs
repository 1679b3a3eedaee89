//! `schema --out DIR`: JSON Schemas of the config files for editors (see
//! `crate::config::schema` and `crate::service::schema`).

use super::exit;
use super::output::{err, out};
use crate::config::schema::{cluster, kubernetes, node_list};
use crate::service::schema::services;
use serde_json::Value as Json;
use std::path::Path;

/// Every schema with its file stem.
pub fn all() -> Vec<(&'static str, Json)> {
    vec![
        ("cluster-configuration", cluster()),
        ("kubernetes-configuration", kubernetes()),
        ("node-list", node_list()),
        ("services-configuration", services()),
    ]
}

pub fn run(dir: &Path) -> i32 {
    let write = || -> std::io::Result<Vec<String>> {
        std::fs::create_dir_all(dir)?;
        let mut names = Vec::new();
        for (name, schema) in all() {
            let file = format!("{name}.schema.json");
            let text = serde_json::to_string_pretty(&schema).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(&file), text + "\n")?;
            names.push(file);
        }
        Ok(names)
    };
    match write() {
        Ok(names) => {
            for n in names {
                out(&format!("wrote {}\n", dir.join(n).display()));
            }
            exit::OK
        }
        Err(e) => {
            err(&format!(
                "error: cannot write the schemas to {}: {e}\n",
                dir.display()
            ));
            exit::FAILED
        }
    }
}
