//! `-v` / `-vv` / `-vvv` and `K8S_MANAGE_LOG`: what happens, on stderr, through `tracing`.
//! Without either nothing is logged, so reports and JSON stay exactly as they are. The
//! per-node log files under `DIR/.k8s-manage/logs/` are written as before, whatever the
//! level. What is logged never holds a password or a private key: the SSH layer logs
//! command lines with both masked (`ssh::exec`), and never stdin.

use tracing_subscriber::EnvFilter;

/// The environment variable that sets the filter (`tracing_subscriber::EnvFilter` syntax).
pub const ENV: &str = "K8S_MANAGE_LOG";

/// The filter for a count of `-v`: 1 each remote command (host, step, exit status,
/// duration), 2 also command lines, connections and Docker calls, 3 everything.
pub fn directive(verbose: u8) -> Option<&'static str> {
    match verbose {
        0 => None,
        1 => Some("k8s_manage=info"),
        2 => Some("k8s_manage=debug"),
        _ => Some("trace"),
    }
}

/// Install the stderr subscriber when `-v` or `K8S_MANAGE_LOG` asks for one. A bad
/// `K8S_MANAGE_LOG` is reported and the `-v` level used instead.
pub fn init(verbose: u8, color: bool) {
    let from_env = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
    let filter = match (&from_env, directive(verbose)) {
        (Some(v), fallback) => match EnvFilter::try_new(v) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "warning: {ENV}={v:?} is not a log filter ({e}); write e.g. {ENV}=debug or {ENV}=k8s_manage::ssh=trace"
                );
                match fallback {
                    Some(d) => EnvFilter::new(d),
                    None => return,
                }
            }
        },
        (None, Some(d)) => EnvFilter::new(d),
        (None, None) => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbose >= 3)
        .try_init();
}
