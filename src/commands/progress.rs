//! Live progress of a run: on a terminal one spinner per node with its current step;
//! otherwise one line per phase.

use super::output::err;
use std::time::Duration;

/// Live progress: on a terminal one spinner per node with its current step; otherwise one
/// line per phase.
pub(crate) struct NodeBars {
    multi: Option<indicatif::MultiProgress>,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, indicatif::ProgressBar>>,
}

impl NodeBars {
    pub(crate) fn new(live: bool) -> NodeBars {
        NodeBars {
            multi: live.then(indicatif::MultiProgress::new),
            bars: Default::default(),
        }
    }

    pub(crate) fn phase(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(format!("==> {s}"));
            }
            None => err(&format!("==> {s}\n")),
        }
    }

    pub(crate) fn node(&self, host: &str, what: &str) {
        let Some(m) = &self.multi else { return };
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix:<16} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.set_prefix(host.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        if what == "done" {
            bar.finish_with_message("done");
        } else {
            bar.set_message(what.to_string());
        }
    }

    pub(crate) fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                if !b.is_finished() {
                    b.abandon();
                }
            }
        }
    }
}
