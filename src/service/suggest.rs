//! "Did you mean" hints for names the user got nearly right (service, step and key
//! names), shared by the registry, its step format and the prerequisite resolver.

/// ` (did you mean `x`?)` when a known name is close, else empty.
pub fn did_you_mean(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| {
            // Jaro-Winkler for longer names; one edit (incl. a swap) for short ones.
            let close = strsim::osa_distance(name, k) <= 1 && k.len() > 1;
            let s = strsim::jaro_winkler(name, k);
            (if close { s.max(0.81) } else { s }, k)
        })
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}
