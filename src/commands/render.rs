//! `render`: write every artifact to a folder.

use std::path::Path;

pub fn run(_dir: &Path, _out: &Path, _color: bool) -> i32 {
    super::exit::FAILED
}
