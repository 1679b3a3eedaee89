//! Full logs per node per run under `DIR/.k8s-manage/logs/<run>/<host>.log`: every command,
//! its status and output tail, every container action. Secrets never reach them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One node's log file.
pub struct NodeLog {
    file: Mutex<Option<std::fs::File>>,
    pub path: PathBuf,
}

impl NodeLog {
    pub fn open(run_dir: &Path, host: &str) -> NodeLog {
        let path = run_dir.join(format!("{host}.log"));
        let file = std::fs::create_dir_all(run_dir)
            .ok()
            .and_then(|_| std::fs::File::create(&path).ok());
        NodeLog {
            file: Mutex::new(file),
            path,
        }
    }

    pub fn line(&self, s: &str) {
        if let Ok(mut g) = self.file.lock()
            && let Some(f) = g.as_mut()
        {
            let t = time::OffsetDateTime::now_utc();
            let _ = writeln!(
                f,
                "{:02}:{:02}:{:02}.{:03} {s}",
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            );
        }
    }
}

/// `DIR/.k8s-manage/logs/<UTC timestamp>-<action>`.
pub fn run_dir(state_dir: &Path, action: &str) -> PathBuf {
    let stamp = crate::etcd::snapshot::stamp(time::OffsetDateTime::now_utc());
    state_dir.join("logs").join(format!("{stamp}-{action}"))
}
