//! How deep a YAML text nests, found by a scan of its lines before it is parsed: the
//! parser and the tree built from it recurse once per level, so a file nested thousands of
//! levels deep would overflow the stack (an abort, not an error). Block levels are counted
//! by indentation and `- ` prefixes, flow levels by `[` and `{` outside quotes.

/// The deepest nesting a config file may have (real ones need fewer than ten levels).
pub const MAX_NESTING: usize = 40;

/// The 1-based line and column where the nesting first goes deeper than `limit`.
pub fn too_deep(text: &str, limit: usize) -> Option<(u32, u32)> {
    let mut block: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut depth_here = 0;
        if flow == 0 {
            let indent = line.len() - trimmed.len();
            while block.last().is_some_and(|&b| b >= indent) {
                block.pop();
            }
            block.push(indent);
            let mut rest = trimmed;
            while let Some(r) = rest.strip_prefix('-') {
                if !(r.is_empty() || r.starts_with([' ', '\t'])) {
                    break;
                }
                depth_here += 1;
                rest = r.trim_start_matches([' ', '\t']);
            }
        }
        let (mut single, mut double, mut prev_space) = (false, false, true);
        for (col, c) in line.char_indices() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double && prev_space => break,
                '[' | '{' if !single && !double => flow += 1,
                ']' | '}' if !single && !double => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev_space = c == ' ' || c == '\t';
            if block.len() + depth_here + flow > limit {
                return Some((i as u32 + 1, col as u32 + 1));
            }
        }
        if block.len() + depth_here > limit {
            return Some((i as u32 + 1, 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_files_are_shallow_and_bombs_are_found() {
        let normal = "a:\n  b:\n    - c: [1, {d: 2}]\n      e: \"[[[[\"\n# [[[[[[\n";
        // a, b, the list item, `[`, `{`: six levels; quoted and commented brackets do not count
        assert_eq!(too_deep(normal, 6), None);
        assert_eq!(too_deep(normal, 5), Some((3, 14)));
        let flow = format!("x: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            too_deep(&flow, MAX_NESTING),
            Some((1, 3 + MAX_NESTING as u32))
        );
        let block: String = (0..100)
            .map(|d| format!("{}k{d}:\n", "  ".repeat(d)))
            .collect();
        assert_eq!(
            too_deep(&block, MAX_NESTING).map(|p| p.0),
            Some(MAX_NESTING as u32 + 1)
        );
        let dashes = format!("{}x\n", "- ".repeat(100));
        assert!(too_deep(&dashes, MAX_NESTING).is_some());
        // siblings at the same indentation do not add up
        let wide: String = (0..1000).map(|i| format!("k{i}: {i}\n")).collect();
        assert_eq!(too_deep(&wide, 2), None);
    }
}
