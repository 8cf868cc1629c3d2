//! The one form a reason takes in metadata: the first line of the error, without what depends on
//! the machine or the run (absolute paths, measured numbers, element positions). Reasons are
//! compiled into the generated modules, so a reason that changed with the machine would change
//! generated code; the measurements themselves are in the results database.

use std::sync::OnceLock;

use regex::Regex;

/// An absolute path becomes `<path>`, after the separator its pattern kept (group 1).
const PATH_AFTER_SEPARATOR: &str = "${1}<path>";
/// Placeholder for a measured number (scientific notation, as the checks print them).
pub const NUMBER: &str = "<n>";

fn rules() -> &'static [(Regex, &'static str)] {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            // An absolute path of two or more parts, at the start or after a separator.
            (r#"(^|[\s('"=:])/[^\s'"),:]+/[^\s'"),:]*"#, PATH_AFTER_SEPARATOR),
            // A number in scientific notation: a difference, a scale, a tolerance, a value.
            (r"[-+]?\b\d+(\.\d+)?e[-+]?\d+\b", NUMBER),
            // The position of the worst element.
            (r"\bflat index \d+", "flat index <i>"),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (Regex::new(pattern).expect("reason rules are valid regexes"), replacement))
        .collect()
    })
}

/// The normalised form of a reason: its first line, trimmed, machine detail replaced.
pub fn normalise(reason: &str) -> String {
    let first = reason.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let mut text = first.to_string();
    for (pattern, replacement) in rules() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn absolute_paths_become_a_placeholder_and_relative_ones_stay() {
        let reason = "InvalidGraph: Load model from /work/main/.cache/artifacts/canary-onnx-cpu-bd6b.tmp-28508/model.onnx failed:This is an invalid model";
        assert_eq!(normalise(reason), "InvalidGraph: Load model from <path> failed:This is an invalid model");
        let openvino = "Exception from src/inference/src/cpp/core.cpp:112: unsupported";
        assert_eq!(normalise(openvino), openvino);
        assert_eq!(normalise("(/onnxruntime_src/onnxruntime/core/providers/cpu/x.cc:12)"), "(<path>:12)");
    }

    #[test]
    fn measured_numbers_and_positions_become_placeholders() {
        let reason = "max abs diff 6.452e-1, tolerance abs 3.30e-4 + rel 0.0e0 (worst element at flat index 33: got -6.265502e-2, reference -7.078468e-1)";
        assert_eq!(
            normalise(reason),
            "max abs diff <n>, tolerance abs <n> + rel <n> (worst element at flat index <i>: got <n>, reference <n>)"
        );
        assert_eq!(normalise("opset 17 and float32 and aten::cumsum"), "opset 17 and float32 and aten::cumsum");
    }

    #[test]
    fn only_the_first_line_is_kept_and_normalising_twice_changes_nothing() {
        let reason = "\n  first line 1.0e3 /tmp/x/y \nsecond line";
        assert_eq!(normalise(reason), "first line <n> <path>");
        assert_eq!(normalise(&normalise(reason)), normalise(reason));
    }
}
