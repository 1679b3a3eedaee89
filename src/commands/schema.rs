//! `schema --out DIR`: JSON Schemas of the config files for editors (see
//! `crate::config::schema`).

use super::exit;
use super::output::{err, out};
use std::path::Path;

pub fn run(dir: &Path) -> i32 {
    let write = || -> std::io::Result<Vec<String>> {
        std::fs::create_dir_all(dir)?;
        let mut names = Vec::new();
        for (name, schema) in crate::config::schema::all() {
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
