//! Finds the line of a field in YAML text, so semantic errors can point like a compiler.
//!
//! serde_yaml reports positions only for syntax and type errors; checks made after parsing
//! locate their field by walking the text with indentation, which is exact for the block
//! style our metadata uses and falls back to the nearest parent otherwise.

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Mapping key.
    Key(&'a str),
    /// Sequence index (0-based).
    Index(usize),
}

/// 1-based (line, column) of the deepest step of `path` found in `text`; (0, 0) if none.
pub fn locate(text: &str, path: &[Step<'_>]) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = (0, 0);
    let mut start = 0;
    let mut end = lines.len();
    let mut parent_indent: isize = -1;
    for step in path {
        let mut hit = None;
        let mut seen = 0;
        for (index, raw) in lines.iter().enumerate().take(end).skip(start) {
            let indent = raw.len() - raw.trim_start().len();
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if (indent as isize) <= parent_indent && index > start {
                break;
            }
            match step {
                Step::Key(key) => {
                    let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
                    let body_indent = indent + (trimmed.len() - body.len());
                    if body.starts_with(&format!("{key}:")) && (body_indent as isize) > parent_indent {
                        hit = Some((index, body_indent));
                        break;
                    }
                }
                Step::Index(wanted) => {
                    if trimmed.starts_with("- ") || trimmed == "-" {
                        if seen == *wanted {
                            hit = Some((index, indent));
                            break;
                        }
                        seen += 1;
                    }
                }
            }
        }
        let Some((line, column)) = hit else { break };
        found = (line + 1, column + 1);
        parent_indent = column as isize;
        start = line;
        end = lines.len();
        if let Step::Index(_) = step {
            // Keys of a list item sit at the item's indent + 2; treat the dash column as parent.
            parent_indent = column as isize;
        }
    }
    found
}

/// Renders a path for messages: `inputs[1].shape`.
pub fn display(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "model_type: bert\ninputs:\n  - name: input_ids\n    kind: token_ids\n  - name: attention_mask\n    shape: [batch, seq]\ntolerance:\n  abs: 1.0e-4\n";

    #[test]
    fn finds_top_level_nested_and_indexed_fields() {
        assert_eq!(locate(TEXT, &[Step::Key("model_type")]), (1, 1));
        assert_eq!(locate(TEXT, &[Step::Key("tolerance"), Step::Key("abs")]), (8, 3));
        assert_eq!(locate(TEXT, &[Step::Key("inputs"), Step::Index(1), Step::Key("shape")]), (6, 5));
        assert_eq!(locate(TEXT, &[Step::Key("inputs"), Step::Index(1), Step::Key("name")]), (5, 5));
    }

    #[test]
    fn falls_back_to_the_deepest_parent_found() {
        assert_eq!(locate(TEXT, &[Step::Key("inputs"), Step::Index(0), Step::Key("range")]), (3, 3));
        assert_eq!(locate(TEXT, &[Step::Key("missing")]), (0, 0));
        assert_eq!(display(&[Step::Key("inputs"), Step::Index(1), Step::Key("shape")]), "inputs[1].shape");
    }
}
