//! `init DIR`: write a commented config dir (see `crate::init`).

use super::exit;
use super::output::{err, out};
use crate::init::{self, InitError, Options};
use std::path::Path;

pub fn run(dir: &Path, opts: &Options, color: bool) -> i32 {
    match init::run(dir, opts, color, &mut |w| err(w)) {
        Ok(written) => {
            for p in &written {
                out(&format!("wrote {}\n", p.display()));
            }
            out(&format!(
                "next: read the files, then `k8s-manage validate -p {0}` and `k8s-manage deploy -p {0}`\n",
                dir.display()
            ));
            exit::OK
        }
        Err(InitError::Input(m)) => {
            err(&format!("error: {}\n", m.trim_end()));
            exit::INVALID
        }
        Err(InitError::Io(m)) => {
            err(&format!("error: cannot write the config dir: {m}\n"));
            exit::FAILED
        }
    }
}
