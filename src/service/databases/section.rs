//! Typed, located reads of one database's section of `services-configuration.yaml`: every
//! value keeps its file:line:column, wrong types and out-of-range values become diagnostics
//! with a fix, unknown keys are warnings with a "did you mean" hint, and absent keys take
//! their documented default (located at the section's key).

use crate::config::reader::Located;
use crate::config::source::SourceFile;
use crate::config::yaml_tree::{Kind, Node};
use crate::diag::{At, Diagnostic, Diagnostics};
use std::cell::RefCell;

/// What a read of a section asked for, as `schema::record` notes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A nested mapping.
    Section,
    /// A single value.
    Text,
    /// A whole number in the range.
    Int(u32, u32),
    /// A size such as 10Gi.
    Quantity,
    /// CPU cores or millicores.
    Cpu,
    /// A Kubernetes name of at most this many characters.
    Name(usize),
}

/// Recording the reads the databases' validators make, so the services' JSON Schema is made
/// from the validators themselves (`service::schema`).
pub mod schema {
    use super::Read;
    use std::cell::RefCell;

    thread_local! {
        static READS: RefCell<Option<Vec<(String, Read)>>> = const { RefCell::new(None) };
    }

    /// Note a read of `path.key` when recording; a later, more precise read of the same
    /// key replaces an earlier one.
    pub(super) fn record(path: &str, key: &str, read: Read) {
        READS.with(|r| {
            if let Some(list) = r.borrow_mut().as_mut() {
                let full = format!("{path}.{key}");
                match list.iter_mut().find(|(p, _)| *p == full) {
                    Some(slot) => slot.1 = read,
                    None => list.push((full, read)),
                }
            }
        });
    }

    /// Run `f` and return every read it made, as (`section.sub.key`, what).
    pub fn recording(f: impl FnOnce()) -> Vec<(String, Read)> {
        READS.with(|r| *r.borrow_mut() = Some(Vec::new()));
        f();
        READS.with(|r| r.borrow_mut().take().unwrap_or_default())
    }
}

/// One mapping of the file (a database's section or a sub-section such as `datanode:`).
pub struct Section<'a> {
    pub file: &'a SourceFile,
    /// The mapping node; `None` when the sub-section is absent (every key defaults).
    node: Option<&'a Node>,
    /// Dotted path shown in messages, e.g. `iotdb.datanode`.
    pub path: String,
    /// Where the section starts (its key), for absent keys.
    pub at: At,
    known: RefCell<Vec<&'static str>>,
}

impl<'a> Section<'a> {
    /// The top-level section `name` of the file. Absent or not a mapping: an error, `None`.
    pub fn top(file: &'a SourceFile, name: &str, diags: &mut Diagnostics) -> Option<Section<'a>> {
        let Some((key, value)) = file.root.get_entry(name) else {
            diags.push(
                Diagnostic::error(
                    file.at_file(),
                    format!("services-configuration.yaml has no `{name}:` section"),
                )
                .fix(format!(
                    "add a `{name}:` section (see cluster-configuration/services/ for an example)"
                )),
            );
            return None;
        };
        Self::mapping(file, key, value, name.to_string(), diags)
    }

    fn mapping(
        file: &'a SourceFile,
        key: &'a Node,
        value: &'a Node,
        path: String,
        diags: &mut Diagnostics,
    ) -> Option<Section<'a>> {
        let at = file.at(key.pos);
        match &value.kind {
            Kind::Map(_) => Some(Section {
                file,
                node: Some(value),
                path,
                at,
                known: RefCell::new(Vec::new()),
            }),
            Kind::Null => Some(Section {
                file,
                node: None,
                path,
                at,
                known: RefCell::new(Vec::new()),
            }),
            other => {
                diags.push(
                    Diagnostic::error(
                        file.at(value.pos),
                        format!(
                            "`{path}` must be a mapping of `key: value` lines, found {}",
                            other.type_name()
                        ),
                    )
                    .fix(format!("write `{path}:` and indent its keys under it")),
                );
                None
            }
        }
    }

    /// A nested mapping; absent = every key of it defaults.
    pub fn sub(&self, key: &'static str, diags: &mut Diagnostics) -> Option<Section<'a>> {
        self.known.borrow_mut().push(key);
        schema::record(&self.path, key, Read::Section);
        let path = format!("{}.{key}", self.path);
        match self.node.and_then(|n| n.get_entry(key)) {
            Some((k, v)) => Self::mapping(self.file, k, v, path, diags),
            None => Some(Section {
                file: self.file,
                node: None,
                path,
                at: self.at.clone(),
                known: RefCell::new(Vec::new()),
            }),
        }
    }

    fn entry(&self, key: &'static str) -> Option<(&'a Node, &'a Node)> {
        self.known.borrow_mut().push(key);
        self.node
            .and_then(|n| n.get_entry(key))
            .filter(|(_, v)| !v.is_null())
    }

    /// Whether the key is written (with a non-null value).
    pub fn has(&self, key: &'static str) -> bool {
        self.entry(key).is_some()
    }

    /// A single text value, or `None` when absent.
    pub fn opt_text(&self, key: &'static str, diags: &mut Diagnostics) -> Option<Located<String>> {
        schema::record(&self.path, key, Read::Text);
        let (_, v) = self.entry(key)?;
        if v.is_scalar() {
            let t = v.scalar_text(&self.file.text).unwrap_or_default();
            return Some(Located::new(t.trim().to_string(), self.file.at(v.pos)));
        }
        diags.push(
            Diagnostic::error(
                self.file.at(v.pos),
                format!(
                    "`{}.{key}` must be a single value, found {}",
                    self.path,
                    v.kind.type_name()
                ),
            )
            .fix(format!("write `{key}: <value>` on one line")),
        );
        None
    }

    /// A text value with a default.
    pub fn text(
        &self,
        key: &'static str,
        default: &str,
        diags: &mut Diagnostics,
    ) -> Located<String> {
        self.opt_text(key, diags)
            .unwrap_or_else(|| Located::new(default.to_string(), self.at.clone()))
    }

    /// A text value that must be written; absent = an error with `fix`.
    pub fn required_text(
        &self,
        key: &'static str,
        fix: &str,
        diags: &mut Diagnostics,
    ) -> Option<Located<String>> {
        let v = self.opt_text(key, diags);
        match v {
            Some(v) if !v.value.is_empty() => Some(v),
            Some(v) => {
                diags.push(
                    Diagnostic::error(v.at, format!("`{}.{key}` is empty", self.path)).fix(fix),
                );
                None
            }
            None => {
                diags.push(
                    Diagnostic::error(self.at.clone(), format!("`{}.{key}` is not set", self.path))
                        .fix(fix),
                );
                None
            }
        }
    }

    /// A whole number in `min..=max` with a default.
    pub fn int(
        &self,
        key: &'static str,
        default: u32,
        min: u32,
        max: u32,
        diags: &mut Diagnostics,
    ) -> Located<u32> {
        schema::record(&self.path, key, Read::Int(min, max));
        let fallback = Located::new(default, self.at.clone());
        let Some((_, v)) = self.entry(key) else {
            return fallback;
        };
        let at = self.file.at(v.pos);
        let n = match &v.kind {
            Kind::Int(i) => Some(*i),
            Kind::Str(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= min as i128 && n <= max as i128 => Located::new(n as u32, at),
            Some(n) => {
                diags.push(
                    Diagnostic::error(
                        at,
                        format!("`{}.{key}` is {n}, outside {min}..{max}", self.path),
                    )
                    .fix(format!("write a whole number from {min} to {max}")),
                );
                fallback
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        at,
                        format!(
                            "`{}.{key}` must be a whole number, found {}",
                            self.path,
                            v.kind.type_name()
                        ),
                    )
                    .fix(format!("write a whole number from {min} to {max}")),
                );
                fallback
            }
        }
    }

    /// A TCP port with a default.
    pub fn port(&self, key: &'static str, default: u16, diags: &mut Diagnostics) -> Located<u16> {
        let p = self.int(key, default as u32, 1, 65535, diags);
        Located::new(p.value as u16, p.at)
    }

    /// A Kubernetes quantity such as `100Gi` (binary or decimal suffix, or bytes).
    pub fn quantity(
        &self,
        key: &'static str,
        default: &str,
        diags: &mut Diagnostics,
    ) -> Located<String> {
        let q = self.text(key, default, diags);
        schema::record(&self.path, key, Read::Quantity);
        if quantity_bytes(&q.value).is_none() {
            // digits and a known suffix, not zero: only the size is wrong
            let too_large = well_formed_quantity(&q.value)
                && q.value
                    .trim_start_matches('0')
                    .starts_with(|c: char| c.is_ascii_digit());
            let message = if too_large {
                format!(
                    "`{}.{key}` is `{}`, larger than any machine (at most {} bytes)",
                    self.path, q.value, MAX_QUANTITY_BYTES
                )
            } else {
                format!("`{}.{key}` is `{}`, not a size", self.path, q.value)
            };
            diags.push(
                Diagnostic::error(q.at.clone(), message)
                    .fix("write a size such as 10Gi, 512Mi or 1Ti"),
            );
            return Located::new(default.to_string(), q.at);
        }
        q
    }

    /// A CPU quantity such as `2` or `500m`.
    pub fn cpu(
        &self,
        key: &'static str,
        default: &str,
        diags: &mut Diagnostics,
    ) -> Located<String> {
        let c = self.text(key, default, diags);
        schema::record(&self.path, key, Read::Cpu);
        let ok = match c.value.strip_suffix('m') {
            Some(milli) => milli
                .parse::<u64>()
                .is_ok_and(|m| m > 0 && m <= MAX_CPU_CORES * 1000),
            None => c
                .value
                .parse::<f64>()
                .is_ok_and(|f| f.is_finite() && f > 0.0 && f <= MAX_CPU_CORES as f64),
        };
        if !ok {
            diags.push(
                Diagnostic::error(
                    c.at.clone(),
                    format!("`{}.{key}` is `{}`, not a CPU amount", self.path, c.value),
                )
                .fix("write a number of cores such as 2 or 0.5, or millicores such as 500m"),
            );
            return Located::new(default.to_string(), c.at);
        }
        c
    }

    /// A DNS-1123 label (names of namespaces and objects), with a default.
    pub fn name(
        &self,
        key: &'static str,
        default: &str,
        max_len: usize,
        diags: &mut Diagnostics,
    ) -> Located<String> {
        let n = self.text(key, default, diags);
        schema::record(&self.path, key, Read::Name(max_len));
        if !is_dns_label(&n.value, max_len) {
            diags.push(
                Diagnostic::error(
                    n.at.clone(),
                    format!(
                        "`{}.{key}` is `{}`, not a valid Kubernetes name",
                        self.path, n.value
                    ),
                )
                .fix(format!(
                    "use at most {max_len} lower-case letters, digits and `-`, starting with a letter and not ending with `-`"
                )),
            );
            return Located::new(default.to_string(), n.at);
        }
        n
    }

    /// Warn about every key of the section that none of the reads asked for.
    pub fn finish(self, diags: &mut Diagnostics) {
        let Some(node) = self.node else { return };
        let known = self.known.into_inner();
        for (k, _) in node.entries() {
            let Some(key) = k.key_text() else { continue };
            if known.contains(&key.as_str()) {
                continue;
            }
            let best = known
                .iter()
                .map(|c| (strsim::jaro_winkler(&key, c), *c))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let fix = match best {
                Some((_, c)) => format!("did you mean `{c}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            diags.push(
                Diagnostic::warning(
                    self.file.at(k.pos),
                    format!("`{}.{key}` is not a known key and is ignored", self.path),
                )
                .fix(fix),
            );
        }
    }
}

/// The largest size a quantity may name: Kubernetes keeps quantities in an int64.
pub const MAX_QUANTITY_BYTES: u128 = i64::MAX as u128;

/// The most CPU cores a `cpu:` may ask for.
pub const MAX_CPU_CORES: u64 = 1_000_000;

/// Digits followed by one of the known suffixes (whatever the size).
fn well_formed_quantity(q: &str) -> bool {
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    split > 0 && suffix_multiplier(&q[split..]).is_some()
}

fn suffix_multiplier(suffix: &str) -> Option<u128> {
    Some(match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return None,
    })
}

/// Bytes of a Kubernetes quantity (`10Gi`, `500M`, `1024`); `None` when malformed, zero
/// or larger than [`MAX_QUANTITY_BYTES`] (never an overflow).
pub fn quantity_bytes(q: &str) -> Option<u128> {
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (digits, suffix) = q.split_at(split);
    let n: u128 = digits.parse().ok()?;
    let bytes = n.checked_mul(suffix_multiplier(suffix)?)?;
    (n > 0 && bytes <= MAX_QUANTITY_BYTES).then_some(bytes)
}

/// A DNS-1123 label of at most `max_len` characters that starts with a letter.
pub fn is_dns_label(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_quantities_are_refused_not_wrapped() {
        assert_eq!(quantity_bytes("10Gi"), Some(10 << 30));
        assert_eq!(quantity_bytes("1024"), Some(1024));
        assert_eq!(quantity_bytes("0Gi"), None);
        assert_eq!(quantity_bytes("8Ei"), None, "unknown suffix");
        // u128 overflow before: 39 digits times 2^40
        assert_eq!(
            quantity_bytes("999999999999999999999999999999999999999Ti"),
            None
        );
        assert_eq!(
            quantity_bytes("9223372036854775807"),
            Some(MAX_QUANTITY_BYTES)
        );
        assert_eq!(quantity_bytes("9223372036854775808"), None);
        assert_eq!(quantity_bytes("8388608Ti"), None);
        assert!(well_formed_quantity("8388608Ti") && !well_formed_quantity("8Ei"));
    }
}
