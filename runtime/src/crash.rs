//! A cell whose process dies: what its record says until `hfzoo crashes` adds the signal, and
//! the test-only injection of such a death (`HFZOO_TEST_INJECT_ABORT`).

/// The detail of a cell's provisional record, written before it runs and replaced by its
/// outcome: left alone only when the process died in the cell.
pub const PROVISIONAL: &str = "the test process died while this cell ran (an abort or a segfault in engine code, or a kill): no outcome was recorded";

/// Environment variable (tests only): `model:hardware` items whose cell aborts the process
/// after its provisional record, as a crash in engine code would (`gpt2:cpu,bert:openvino`).
pub const INJECT_ABORT_ENV: &str = "HFZOO_TEST_INJECT_ABORT";

/// Aborts the process when [`INJECT_ABORT_ENV`] names this cell.
pub fn inject_abort(model_type: &str, hardware: &str) {
    let Ok(setting) = std::env::var(INJECT_ABORT_ENV) else { return };
    if names_cell(&setting, model_type, hardware) {
        eprintln!("{INJECT_ABORT_ENV}: aborting the process in {model_type} on {hardware}");
        std::process::abort();
    }
}

fn names_cell(setting: &str, model_type: &str, hardware: &str) -> bool {
    setting
        .split(',')
        .filter_map(|item| item.trim().split_once(':'))
        .any(|(model, on)| model == model_type && on == hardware)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_injected_abort_names_a_model_and_a_hardware() {
        assert!(super::names_cell("gpt2:cpu, bert:openvino", "bert", "openvino"));
        assert!(!super::names_cell("gpt2:cpu", "gpt2", "openvino"));
        assert!(!super::names_cell("gpt2", "gpt2", "cpu"));
    }
}
