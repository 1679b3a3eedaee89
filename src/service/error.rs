//! A service command's error: whether the input was invalid (nothing was changed) or the
//! run failed, with the exact text to print.

use crate::diag::Diagnostics;

/// Invalid input (the command exits 2) or a failure at run time (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    Failed,
}

/// Why a service command stopped: its kind, located problems (printed first) and the
/// message lines (`error: ...`, each followed by its `  fix: ...` line where there is one).
#[derive(Debug, Clone)]
pub struct ServiceError {
    pub kind: ErrorKind,
    /// Rendered before `message`, with or without color.
    pub diagnostics: Option<Diagnostics>,
    /// Complete lines, each ending in a newline (empty where there is nothing to add).
    pub message: String,
}

impl ServiceError {
    /// Invalid input, said by `message`.
    pub fn invalid(message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind: ErrorKind::Invalid,
            diagnostics: None,
            message: message.into(),
        }
    }

    /// A failure at run time, said by `message`.
    pub fn failed(message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind: ErrorKind::Failed,
            diagnostics: None,
            message: message.into(),
        }
    }

    /// Invalid input found by located checks.
    pub fn located(diagnostics: Diagnostics) -> ServiceError {
        ServiceError {
            kind: ErrorKind::Invalid,
            diagnostics: Some(diagnostics),
            message: String::new(),
        }
    }

    /// The text to print: the diagnostics (if any), then the message.
    pub fn render(&self, color: bool) -> String {
        let mut s = self
            .diagnostics
            .as_ref()
            .map(|d| d.render_text(color))
            .unwrap_or_default();
        s.push_str(&self.message);
        s
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for ServiceError {}
