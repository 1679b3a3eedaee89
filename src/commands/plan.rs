//! `plan`: show the phases and steps an action would run.

use crate::cli::{OutputFormat, PlanAction};
use std::path::Path;

pub fn run(
    _dir: &Path,
    _action: PlanAction,
    _nodes: Option<&Path>,
    _format: OutputFormat,
    _color: bool,
) -> i32 {
    super::exit::FAILED
}
