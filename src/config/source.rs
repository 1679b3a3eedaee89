//! One input file: its display name, its text and its parsed, located YAML tree.

use super::yaml_tree::{Kind, Node};
use crate::diag::{At, Diagnostic, Diagnostics, Pos};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A YAML input file, read and parsed.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The name shown in diagnostics (the path as the user gave it).
    pub name: Arc<str>,
    pub text: Arc<str>,
    pub root: Node,
}

impl SourceFile {
    pub fn at(&self, pos: Pos) -> At {
        At::pos(&self.name, pos)
    }

    pub fn at_file(&self) -> At {
        At::file(&self.name)
    }

    /// Read and parse `path`. Missing or unreadable files and YAML syntax errors become
    /// diagnostics; the function never panics, whatever the bytes.
    pub fn read(path: &Path, diags: &mut Diagnostics) -> Option<SourceFile> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                diags.push(
                    Diagnostic::error(At::file(&name), format!("cannot read the file: {e}"))
                        .fix("check the path given with -p / -f and that the file is readable"),
                );
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                diags.push(
                    Diagnostic::error(At::file(&name), format!("the file is not UTF-8 text: {e}"))
                        .fix("save the file as UTF-8"),
                );
                return None;
            }
        };
        Self::parse(name, path.to_path_buf(), text, diags)
    }

    /// Parse already-read text (used by tests and fuzzing too).
    pub fn parse(
        name: Arc<str>,
        path: PathBuf,
        text: String,
        diags: &mut Diagnostics,
    ) -> Option<SourceFile> {
        let text: Arc<str> = Arc::from(text);
        diags.add_source(&name, &text);
        if let Some((line, column)) = super::nesting::too_deep(&text, super::nesting::MAX_NESTING) {
            let at = At {
                file: name.clone(),
                line: Some(line),
                column: Some(column),
                span: None,
            };
            diags.push(
                Diagnostic::error(
                    at,
                    format!(
                        "this is not valid YAML for k8s-manage: nested more than {} levels deep",
                        super::nesting::MAX_NESTING
                    ),
                )
                .fix("config files need only a few levels: close the brackets or reduce the indentation here"),
            );
            return None;
        }
        let mut opts = serde_saphyr::Options::default();
        opts.strict_booleans = true;
        // The parser is not expected to panic; if it ever does, the user still gets a
        // diagnostic instead of a crash.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serde_saphyr::from_str_with_options::<Option<Node>>(&text, opts)
        }));
        let parsed: Result<Option<Node>, Option<serde_saphyr::Error>> = match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        };
        match parsed {
            Ok(Some(root)) => Some(SourceFile {
                path,
                name,
                text,
                root,
            }),
            Ok(None) => Some(SourceFile {
                path,
                name,
                text,
                root: Node {
                    pos: Pos::default(),
                    kind: Kind::Null,
                },
            }),
            Err(e) => {
                let (at, msg) = match e {
                    Some(err) => {
                        let at = match err.location() {
                            Some(loc) => At {
                                file: name.clone(),
                                line: Some(loc.line() as u32),
                                column: Some(loc.column() as u32),
                                span: loc.span().byte_offset().map(|o| (o as usize, 1)),
                            },
                            None => At::file(&name),
                        };
                        let first = err.to_string();
                        let first = first.lines().next().unwrap_or("invalid YAML").to_string();
                        (at, format!("this is not valid YAML: {first}"))
                    }
                    None => (
                        At::file(&name),
                        "the YAML parser failed on this file".to_string(),
                    ),
                };
                diags.push(Diagnostic::error(at, msg).fix(
                    "fix the YAML syntax at this place (indentation with spaces, `key: value`, quotes closed)",
                ));
                None
            }
        }
    }
}
