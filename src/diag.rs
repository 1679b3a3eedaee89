//! Diagnostics: every problem found in the input, with file, line, column, what is wrong
//! and how to fix it. Validation collects all of them and reports them at once.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A position in a source file (1-based line and column; byte range into the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    pub byte_offset: usize,
    pub byte_len: usize,
}

/// How bad a diagnostic is: errors stop every command, warnings are shown and allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A place in an input file. `pos` is absent when the problem is the whole file
/// (missing, unreadable) or a key that is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct At {
    pub file: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(skip)]
    pub span: Option<(usize, usize)>,
}

impl At {
    pub fn file(file: &Arc<str>) -> At {
        At {
            file: file.clone(),
            line: None,
            column: None,
            span: None,
        }
    }

    pub fn pos(file: &Arc<str>, pos: Pos) -> At {
        if pos.line == 0 {
            return At::file(file);
        }
        At {
            file: file.clone(),
            line: Some(pos.line),
            column: Some(pos.column),
            span: Some((pos.byte_offset, pos.byte_len)),
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}", self.file, l, c),
            (Some(l), None) => write!(f, "{}:{}", self.file, l),
            _ => write!(f, "{}", self.file),
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub at: At,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// A second place that explains the first (e.g. where a duplicate was first defined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<At>,
}

impl Diagnostic {
    pub fn error(at: At, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            at,
            message: message.into(),
            fix: None,
            related: None,
        }
    }

    pub fn warning(at: At, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            at,
            message: message.into(),
            fix: None,
            related: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn related(mut self, at: At) -> Self {
        self.related = Some(at);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {}: {}", self.at, sev, self.message)?;
        if let Some(r) = &self.related {
            write!(f, "\n  see also: {r}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// A list of diagnostics plus the texts of the files they point into (for snippets).
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
    pub sources: BTreeMap<Arc<str>, Arc<str>>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn add_source(&mut self, file: &Arc<str>, text: &Arc<str>) {
        self.sources.insert(file.clone(), text.clone());
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.list);
        self.sources.extend(other.sources);
    }

    /// Sorted by file, then line, errors before warnings at the same place.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.list.iter().collect();
        v.sort_by(|a, b| {
            (&a.at.file, a.at.line, a.at.column, a.severity).cmp(&(
                &b.at.file,
                b.at.line,
                b.at.column,
                b.severity,
            ))
        });
        v
    }

    /// Human-readable report: each diagnostic with its `file:line:column`, the offending
    /// source line (drawn by miette, secret values masked) and the fix; then a count.
    pub fn render_text(&self, color: bool) -> String {
        use miette::{
            GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource,
        };
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        for d in self.sorted() {
            let sev = match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            };
            let message = crate::secret_text::mask_secrets(&d.message);
            let mut md = MietteDiagnostic::new(format!("{}: {message}", d.at)).with_severity(sev);
            if let Some(fix) = &d.fix {
                md = md.with_help(fix.clone());
            }
            let source = self.sources.get(&d.at.file);
            if let (Some((off, len)), Some(_)) = (d.at.span, source) {
                md = md.with_label(LabeledSpan::at(off..off + len.max(1), "here"));
            }
            if let Some(r) = &d.related
                && r.file == d.at.file
                && let Some((off, len)) = r.span
            {
                md = md.with_label(LabeledSpan::at(off..off + len.max(1), "first defined here"));
            } else if let Some(r) = &d.related {
                md = md.with_url(format!("see also {r}"));
            }
            let report = match (source, d.at.span) {
                // the lines around the problem are shown: never a secret's value
                (Some(text), Some(_)) => miette::Report::new(md).with_source_code(
                    NamedSource::new(&d.at.file, crate::secret_text::mask_secrets(text)),
                ),
                _ => miette::Report::new(md),
            };
            let mut s = String::new();
            if handler.render_report(&mut s, report.as_ref()).is_err() {
                s = format!("{d}\n");
            }
            out.push_str(&s);
        }
        let e = self.errors().count();
        let w = self.warnings().count();
        out.push_str(&format!("{e} error(s), {w} warning(s)\n"));
        out
    }
}
