//! A container's log: its last lines, and the excerpt quoted in errors (the last lines plus
//! the error lines that scrolled away before them).

use bollard::Docker;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::error::{ApiContext, DockerOpError};

/// Earlier error lines quoted at most.
const ERROR_LINES_QUOTED: usize = 5;

/// The last `lines` lines the container printed (stdout and stderr, interleaved).
pub async fn container_logs_tail(
    docker: &Docker,
    name: &str,
    lines: usize,
) -> Result<String, DockerOpError> {
    let mut stream = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ctx(|| format!("reading the log of container {name}"))?;
        text.push_str(&chunk.to_string());
    }
    Ok(text)
}

/// The last `tail` lines of a log, preceded by the (distinct, last few) lines before them
/// that look like errors: a crash-looping program often prints the reason and then a long
/// usage text.
pub fn log_excerpt(full: &str, tail: usize) -> String {
    let lines: Vec<&str> = full.lines().collect();
    let split = lines.len().saturating_sub(tail);
    let (earlier, last) = lines.split_at(split);
    let looks_like_error = |l: &str| {
        let l = l.to_ascii_lowercase();
        [
            "error",
            "fatal",
            "panic",
            "invalid",
            "failed",
            "unknown flag",
            "not defined",
        ]
        .iter()
        .any(|k| l.contains(k))
    };
    let mut errors: Vec<&str> = Vec::new();
    for line in earlier.iter().rev() {
        if errors.len() == ERROR_LINES_QUOTED {
            break;
        }
        if looks_like_error(line) && !errors.contains(line) && !last.contains(line) {
            errors.push(line);
        }
    }
    errors.reverse();
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("[earlier error lines]\n");
        for l in errors {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("[last lines]\n");
    }
    out.push_str(&last.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_excerpt_keeps_error_lines_that_scrolled_away() {
        let mut log = String::from("starting\nError: unknown flag: --x\n");
        for i in 0..30 {
            log.push_str(&format!("usage line {i}\n"));
        }
        log.push_str("Error: unknown flag: --x\n");
        for i in 0..30 {
            log.push_str(&format!("usage line {i}\n"));
        }
        let text = log_excerpt(&log, 3);
        assert_eq!(
            text,
            "[earlier error lines]\nError: unknown flag: --x\n[last lines]\n\
             usage line 27\nusage line 28\nusage line 29"
        );
        assert_eq!(log_excerpt("a\nb\n", 5), "a\nb");
        assert_eq!(log_excerpt("", 5), "");
    }
}
