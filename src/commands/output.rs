//! Writing to stdout and stderr without panicking when the reader goes away (`| head`).

use std::io::Write;

/// Print to stdout; a closed pipe ends the output quietly.
pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Print to stderr.
pub fn err(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes());
    let _ = e.flush();
}

/// Serialize to pretty JSON and print it with a newline.
pub fn json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => out(&(s + "\n")),
        Err(e) => err(&format!("error: cannot write JSON: {e}\n")),
    }
}
