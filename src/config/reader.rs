//! Typed reads from a located YAML tree. Every read that finds the wrong kind of value
//! records a diagnostic at the value's position and returns `None`, so one pass collects
//! every problem of a file.

use super::source::SourceFile;
use super::yaml_tree::{Kind, Node};
use crate::diag::{At, Diagnostic, Diagnostics};

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub at: At,
}

impl<T> Located<T> {
    pub fn new(value: T, at: At) -> Self {
        Located { value, at }
    }
}

/// The node under `key` must be a mapping (or absent / empty).
pub fn mapping<'a>(
    file: &SourceFile,
    node: &'a Node,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Node> {
    match &node.kind {
        Kind::Map(_) => Some(node),
        Kind::Null => None,
        other => {
            diags.push(
                Diagnostic::error(
                    file.at(node.pos),
                    format!(
                        "{what} must be a mapping of `key: value` lines, found {}",
                        other.type_name()
                    ),
                )
                .fix(format!("write {what} as indented `key: value` lines")),
            );
            None
        }
    }
}

/// The node must be a list (or absent / empty).
pub fn list<'a>(
    file: &SourceFile,
    node: &'a Node,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'a [Node]> {
    match &node.kind {
        Kind::Seq(items) => Some(items),
        Kind::Null => None,
        other => {
            diags.push(
                Diagnostic::error(
                    file.at(node.pos),
                    format!("{what} must be a list, found {}", other.type_name()),
                )
                .fix(format!(
                    "write each entry of {what} on its own line starting with `- `"
                )),
            );
            None
        }
    }
}

/// A scalar as text. Null gives `None` silently; lists and mappings are errors.
pub fn text(
    file: &SourceFile,
    node: &Node,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<Located<String>> {
    match &node.kind {
        Kind::Null => None,
        Kind::Seq(_) | Kind::Map(_) => {
            diags.push(
                Diagnostic::error(
                    file.at(node.pos),
                    format!(
                        "`{key}` must be a single value, found {}",
                        node.kind.type_name()
                    ),
                )
                .fix(format!("write `{key}: <value>` on one line")),
            );
            None
        }
        _ => node
            .scalar_text(&file.text)
            .map(|s| Located::new(s.trim().to_string(), file.at(node.pos))),
    }
}

/// Where a key is, or the file when absent.
pub fn key_at(file: &SourceFile, map: &Node, key: &str) -> At {
    map.get_entry(key)
        .map(|(k, _)| file.at(k.pos))
        .unwrap_or_else(|| file.at(map.pos))
}
