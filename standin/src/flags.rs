//! Command-line flags: parsing (`--name=value`, `--name value`, `--name`) and checking every
//! flag against the upstream list of its component and version.

use std::collections::BTreeMap;

use crate::lists::List;

/// Parsed flags; a flag given without a value holds `None`. Repeated flags keep every value.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, Vec<Option<String>>>,
}

impl Flags {
    /// Parses flags. A value may follow as the next argument when that does not start with `-`.
    /// `-v` is the only accepted shorthand (klog's `--v`), and `-h` means `--help`.
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let body = if let Some(long) = arg.strip_prefix("--") {
                long.to_string()
            } else if let Some(short) = arg.strip_prefix('-') {
                match short.split_once('=').map_or(short, |(n, _)| n) {
                    "v" => short.to_string(),
                    "h" => "help".to_string(),
                    _ => return Err(format!("unknown shorthand flag: {arg}")),
                }
            } else {
                return Err(format!(
                    "unexpected argument {arg:?} (only flags are accepted)"
                ));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => {
                    let next = args.get(i).filter(|n| !n.starts_with('-'));
                    if next.is_some() {
                        i += 1;
                    }
                    (body, next.cloned())
                }
            };
            if name.is_empty() {
                return Err(format!("bad flag syntax: {arg}"));
            }
            flags.values.entry(name).or_default().push(value);
        }
        Ok(flags)
    }

    /// Every flag name given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .and_then(|v| v.as_deref())
    }

    /// The last value of `name`, or `default`.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// A boolean flag: absent → `default`; present without value → true; else parsed as Go does.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.values.get(name).and_then(|v| v.last()) {
            None => Ok(default),
            Some(None) => Ok(true),
            Some(Some(v)) => match v.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(format!("--{name}: invalid boolean value {v:?}")),
            },
        }
    }

    /// Values of a comma-separated list flag, across repeats.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// Rejects flags the list does not know and flags it marks deprecated.
    pub fn check_against(&self, list: &List) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for name in self.names() {
            if !list.knows(name) {
                problems.push(format!(
                    "unknown flag --{name} (not in the {} {} flag list)",
                    list.component, list.version
                ));
            } else if list.is_deprecated(name) {
                problems.push(format!(
                    "deprecated flag --{name} (deprecated in {} {})",
                    list.component, list.version
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Flags, String> {
        Flags::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn three_forms() {
        let f = parse(&["--a=1", "--b", "2", "--c", "--d=", "-v=4", "--e", "--f"]).unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("2"));
        assert!(f.has("c") && f.get("c").is_none());
        assert_eq!(f.bool("c", false), Ok(true));
        assert_eq!(f.get("d"), Some(""));
        assert_eq!(f.get("v"), Some("4"));
        assert_eq!(f.bool("f", false), Ok(true));
        assert_eq!(f.bool("zzz", true), Ok(true));
    }

    #[test]
    fn lists_and_errors() {
        let f = parse(&[
            "--etcd-servers=https://a:1,https://b:2",
            "--etcd-servers",
            "x",
        ])
        .unwrap();
        assert_eq!(f.list("etcd-servers"), ["https://a:1", "https://b:2", "x"]);
        assert!(parse(&["stray"]).is_err());
        assert!(parse(&["-x"]).is_err());
        assert!(parse(&["--b=maybe"]).unwrap().bool("b", false).is_err());
    }
}
