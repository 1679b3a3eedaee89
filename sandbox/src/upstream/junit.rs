//! The `[Conformance]` specs of ginkgo's JUnit reports (`e2e.test --report-dir`), counted
//! for `CONFORMANCE.md`: passed, failed and skipped, with the name of every spec that did
//! not pass. A spec one pass skips because another runs it (the parallel pass skips the
//! serial specs and the other way round) keeps the result of the pass that ran it.

use std::collections::BTreeMap;
use std::fmt;

/// The result of every `[Conformance]` spec in a set of reports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConformanceCounts {
    /// Spec name (`[It] [sig-...] ... [Conformance]`) → ginkgo's status (`passed`,
    /// `failed`, `skipped`, `panicked`, `timedout`, `interrupted`, ...).
    pub specs: BTreeMap<String, String>,
}

impl ConformanceCounts {
    /// Merge the JUnit reports `reports` (their text).
    pub fn from_reports(reports: &[String]) -> Self {
        let mut specs = BTreeMap::new();
        for report in reports {
            for (name, status) in conformance_cases(report) {
                if status != "skipped" || !specs.contains_key(&name) {
                    specs.insert(name, status);
                }
            }
        }
        ConformanceCounts { specs }
    }

    fn count(&self, statuses: &[&str]) -> usize {
        self.specs
            .values()
            .filter(|s| statuses.contains(&s.as_str()))
            .count()
    }

    pub fn passed(&self) -> usize {
        self.count(&["passed"])
    }

    /// Failed, panicked, timed out or interrupted.
    pub fn failed(&self) -> usize {
        self.count(&["failed", "panicked", "timedout", "interrupted", "aborted"])
    }

    pub fn skipped(&self) -> usize {
        self.count(&["skipped", "pending"])
    }
}

impl fmt::Display for ConformanceCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance specs: {} passed, {} failed, {} skipped ({} in the reports)",
            self.passed(),
            self.failed(),
            self.skipped(),
            self.specs.len()
        )?;
        for (name, status) in &self.specs {
            if status != "passed" {
                writeln!(f, "{status}: {name}")?;
            }
        }
        Ok(())
    }
}

/// `(name, status)` of every `[Conformance]` test case of one report.
fn conformance_cases(junit: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for case in junit.split("<testcase ").skip(1) {
        // The element's attributes, each after a space, as `attribute` looks for them.
        let head = format!(" {}", case.split('>').next().unwrap_or(""));
        let Some(name) = attribute(&head, "name").map(|n| unescape(&n)) else {
            continue;
        };
        if !name.contains("[Conformance]") {
            continue;
        }
        let status = attribute(&head, "status").unwrap_or_else(|| "unknown".into());
        out.push((name, status));
    }
    out
}

fn attribute(head: &str, key: &str) -> Option<String> {
    let start = head.find(&format!(" {key}=\""))? + key.len() + 3;
    let rest = &head[start..];
    Some(rest[..rest.find('"')?].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, status: &str) -> String {
        format!(
            "<testcase name=\"{name}\" classname=\"Kubernetes e2e suite\" status=\"{status}\" \
             time=\"1.5\"><system-err>x</system-err></testcase>\n"
        )
    }

    #[test]
    fn only_conformance_specs_are_counted() {
        let report = format!(
            "<testsuites><testsuite>{}{}{}</testsuite></testsuites>",
            case("[It] [sig-node] Pods should run [Conformance]", "passed"),
            case("[It] [sig-node] Pods other", "failed"),
            case(
                "[It] [sig-apps] Job &#39;quoted&#39; [Conformance]",
                "failed"
            ),
        );
        let c = ConformanceCounts::from_reports(&[report]);
        assert_eq!((c.passed(), c.failed(), c.skipped()), (1, 1, 0));
        let text = c.to_string();
        assert!(
            text.contains("failed: [It] [sig-apps] Job 'quoted' [Conformance]"),
            "{text}"
        );
        assert!(!text.contains("Pods other"), "{text}");
    }

    #[test]
    fn a_spec_keeps_the_result_of_the_pass_that_ran_it() {
        let serial = "[It] [sig-scheduling] preemption [Serial] [Conformance]";
        let parallel = "[It] [sig-node] Pods should run [Conformance]";
        let first = format!("{}{}", case(serial, "skipped"), case(parallel, "passed"));
        let second = format!("{}{}", case(serial, "passed"), case(parallel, "skipped"));
        let c = ConformanceCounts::from_reports(&[first, second]);
        assert_eq!((c.passed(), c.failed(), c.skipped()), (2, 0, 0), "{c}");
    }

    #[test]
    fn a_spec_no_pass_ran_counts_as_skipped() {
        let c = ConformanceCounts::from_reports(&[case("[It] x [Conformance]", "skipped")]);
        assert_eq!((c.passed(), c.failed(), c.skipped()), (0, 0, 1));
    }
}
