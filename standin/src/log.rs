//! One line per event on stderr, prefixed `[k8s-standin <component>]`.

use std::sync::OnceLock;

static COMPONENT: OnceLock<&'static str> = OnceLock::new();

/// Sets the component name used in the prefix; the first call wins.
pub fn set_component(name: &'static str) {
    let _ = COMPONENT.set(name);
}

/// Writes one log line; newlines inside the message are flattened so an event stays one line.
pub fn line(args: std::fmt::Arguments<'_>) {
    let component = COMPONENT.get().copied().unwrap_or("?");
    let text = args.to_string().replace('\n', " ");
    eprintln!("[k8s-standin {component}] {text}");
}

/// `log!("format", args...)` writes one prefixed line to stderr.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
pub(crate) use log;
