//! An ordered flag list that renders as `--name=value` arguments.

/// Flags in the order they were added.
#[derive(Debug, Default, Clone)]
pub struct Flags(Vec<(String, String)>);

impl Flags {
    pub fn new() -> Self {
        Flags(Vec::new())
    }

    pub fn set(mut self, name: &str, value: impl ToString) -> Self {
        self.0.push((name.to_string(), value.to_string()));
        self
    }

    pub fn set_if(self, cond: bool, name: &str, value: impl ToString) -> Self {
        if cond { self.set(name, value) } else { self }
    }

    pub fn into_args(self) -> Vec<String> {
        self.0
            .into_iter()
            .map(|(k, v)| format!("--{k}={v}"))
            .collect()
    }
}
