//! The HTML report: one self-contained file (inline CSS and SVG, no script, no network) with
//! the environment, totals, charts, the matrix by family and a note for every cell that did
//! not pass. Also the HTML form of a comparison.

use runtime::results::record::OutcomeKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::charts;
use super::compare::Comparison;
use super::data::{reproduce, ReportData};
use super::query::Cell;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 1.5em; color: #111; max-width: 1200px; }
h1 { margin-bottom: 0.2em; } .scope { color: #444; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; vertical-align: top; font-size: 13px; }
th { background: #eee; }
td small { color: #333; }
.o-passed { background: #d9f2d9; } .o-failed { background: #f8d0d0; }
.o-unsupported { background: #fbeccb; } .o-skipped { background: #e4e4e4; } .o-none { background: #fff; color: #777; }
.warn { background: #fff3b0; border: 2px solid #c90; padding: 0.5em; }
details { margin: 0.3em 0; } summary { cursor: pointer; font-weight: bold; padding: 2px 0; }
.note { border-left: 4px solid #999; padding: 2px 8px; margin: 6px 0; }
.note code, .cmd { background: #f2f2f2; padding: 1px 4px; font-size: 12px; }
.note pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; margin: 2px 0; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 6px; border: 1px solid #bbb; }
.chart { margin: 0.5em 0 1.5em; }
";

/// The symbol and word of an outcome: readable without colour.
fn mark(outcome: OutcomeKind) -> &'static str {
    match outcome {
        OutcomeKind::Passed => "&#10003; passed",
        OutcomeKind::Failed => "&#10007; failed",
        OutcomeKind::Unsupported => "&#8856; unsupported",
        OutcomeKind::Skipped => "&#8211; skipped",
    }
}

fn anchor(cell: &Cell) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
    format!("note-{}-{}", clean(&cell.model_type), clean(&cell.hardware))
}

fn cell_html(cell: &Cell) -> String {
    let class = format!("o-{}", cell.outcome.id());
    let mut info = Vec::new();
    if cell.outcome == OutcomeKind::Passed {
        if let Some(ms) = cell.p50_ms {
            info.push(format!("p50 {ms:.2} ms"));
        }
        match (cell.worst_diff, cell.worst_diff_share) {
            (Some(0.0), _) => info.push("exact match".into()),
            (Some(diff), Some(share)) => info.push(format!("diff {diff:.1e} ({:.0}% of tol.)", 100.0 * share)),
            (Some(diff), None) => info.push(format!("diff {diff:.1e}")),
            _ => {}
        }
    } else {
        let target = if cell.outcome == OutcomeKind::Skipped {
            format!("skip-{}", escape(&cell.hardware))
        } else {
            anchor(cell)
        };
        info.push(format!("<a href=\"#{target}\">why</a>"));
    }
    // A browser cell says where its nodes ran: a pass whose work fell back to wasm is visible.
    if let (Some(accelerated), Some(fallback)) = (cell.accelerated_nodes, cell.fallback_nodes) {
        info.push(format!("{accelerated:.0} nodes on {}, {fallback:.0} on wasm", escape(&cell.hardware)));
    }
    // A reused verdict is never shown as a fresh measurement: it names the run that measured it.
    if let Some(from) = &cell.reused_from {
        info.push(format!("<em>reused from run {}</em>", escape(from)));
    }
    format!("<td class=\"{class}\">{}<br><small>{}</small></td>", mark(cell.outcome), info.join(" &middot; "))
}

/// Under a column's name, the adapter that ran it where detection named one that matters to
/// the reading (a browser's WebGPU adapter: software or hardware).
fn column_device(data: &ReportData, hw: &str) -> String {
    let engine = runtime::Hardware::from_id(hw).map(|h| h.engine());
    match data.hardware.iter().find(|h| h.hardware == hw && h.available && !h.device.is_empty()) {
        Some(row) if engine == Some(runtime::Engine::Browser) => format!("<br><small>{}</small>", escape(&row.device)),
        _ => String::new(),
    }
}

fn environment(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"environment\"><h2>Environment</h2>");
    for env in data.environments.iter().filter(|e| !e.injected.is_empty()) {
        let _ = write!(out, "<p class=\"warn\">Test-only setting in effect on {}: <code>{}</code>. These timings were changed on purpose; they are not a measurement of the model.</p>", escape(&env.host), escape(&env.injected));
    }
    out.push_str("<table><tr><th>run</th><th>host</th><th>started (UTC)</th><th>CPU</th><th>logical CPUs</th><th>OS</th><th>commit</th><th>torch</th><th>transformers</th><th>runtime</th><th>features</th></tr>");
    for e in &data.environments {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.run_id),
            escape(&e.host),
            escape(&e.started_at),
            escape(&e.cpu_model),
            e.logical_cpus,
            escape(&e.os),
            escape(e.git_commit.get(..12).unwrap_or(&e.git_commit)),
            escape(&e.torch_version),
            escape(&e.transformers_version),
            escape(&e.runtime_version),
            escape(&e.features)
        );
    }
    out.push_str("</table><h3>Backends as detected</h3><table><tr><th>hardware</th><th>available</th><th>device or adapter</th><th>version</th><th>reason</th></tr>");
    for h in &data.hardware {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&h.hardware),
            if h.available { "yes" } else { "no" },
            escape(&h.device),
            escape(&h.version),
            escape(&h.reason)
        );
    }
    out.push_str("</table></section>");
}

fn totals(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"totals\"><h2>Totals per hardware</h2><table><tr><th>hardware</th><th>passed</th><th>failed</th><th>unsupported</th><th>skipped</th><th>passed of ran</th><th>reused</th><th>planned, no record</th></tr>");
    for hw in data.columns() {
        let [passed, failed, unsupported, skipped] = data.totals(hw);
        let reused = data.cells.iter().filter(|c| c.hardware == hw && c.reused_from.is_some()).count();
        let absent = data.missing_on(hw).count();
        let ran = passed + failed + unsupported;
        // No share over a truncated column.
        let share = match (absent, ran) {
            (0, 0) => "nothing ran".into(),
            (0, _) => format!("{:.1}% ({passed} of {ran})", 100.0 * passed as f64 / ran as f64),
            _ => format!("incomplete: {absent} of {} planned cells have no record", data.on(hw).count() + absent),
        };
        let _ = write!(
            out,
            "<tr><td><span style=\"color:{}\">&#9632;</span> {hw}</td><td>{passed}</td><td>{failed}</td><td>{unsupported}</td><td>{skipped}</td><td>{share}</td><td>{reused}</td><td>{absent}</td></tr>",
            charts::css_colour(data, hw)
        );
        // The same engine's generation cells, a row of their own.
        let [passed, failed, unsupported, skipped] = data.generation_totals(hw);
        let ran = passed + failed + unsupported;
        if ran + skipped > 0 {
            let reused = data.generation.iter().filter(|c| c.hardware == hw && c.reused_from.is_some()).count();
            let share = if ran == 0 {
                "nothing ran".to_string()
            } else {
                format!("{:.1}% ({passed} of {ran})", 100.0 * passed as f64 / ran as f64)
            };
            let _ = write!(
                out,
                "<tr class=\"generates\"><td>&#8627; {hw} generates</td><td>{passed}</td><td>{failed}</td><td>{unsupported}</td><td>{skipped}</td><td>{share}</td><td>{reused}</td><td></td></tr>"
            );
        }
    }
    out.push_str("</table>");
    if !data.generation.is_empty() {
        out.push_str("<p class=\"legend\">A <b>generates</b> row counts the generation cells of that engine: greedy decoding of 32 new tokens with the cache on both prompts, every id equal to transformers' <code>generate</code> on the same weights and every step's logits within the tolerance derived from float32 error, with and without the cache (<a href=\"#generation-notes\">notes</a>).</p>");
    }
    // By modality: the other way to slice the matrix.
    let mut by_modality: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for cell in data.cells.iter().filter(|c| c.outcome != OutcomeKind::Skipped) {
        for modality in cell.modality.split(',').filter(|m| !m.is_empty()) {
            let entry = by_modality.entry((modality, cell.hardware.as_str())).or_default();
            entry.1 += 1;
            entry.0 += usize::from(cell.outcome == OutcomeKind::Passed);
        }
    }
    if !by_modality.is_empty() {
        out.push_str("<h3>By modality (a model counts once for each modality its inputs exercise)</h3><table><tr><th>modality</th><th>hardware</th><th>passed of ran</th></tr>");
        for ((modality, hw), (passed, ran)) in &by_modality {
            let _ =
                write!(out, "<tr><td>{}</td><td>{}</td><td>{passed} of {ran}</td></tr>", escape(modality), escape(hw));
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn inline_svg(svg: String) -> String {
    // Inline SVG in HTML needs no namespace; dropping it keeps the file free of any URL.
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "")
}

fn matrix(out: &mut String, data: &ReportData) {
    let columns = data.columns();
    let mut families: BTreeMap<&str, BTreeMap<&str, Vec<&Cell>>> = BTreeMap::new();
    for cell in &data.cells {
        let family = if cell.family.is_empty() { "unknown" } else { cell.family.as_str() };
        families.entry(family).or_default().entry(cell.model_type.as_str()).or_default().push(cell);
    }
    out.push_str("<section id=\"matrix\"><h2>Matrix by family</h2><p class=\"legend\">");
    for outcome in OutcomeKind::ALL {
        let _ = write!(out, "<span class=\"o-{outcome}\">{}</span>", mark(outcome));
    }
    out.push_str("A passing cell shows its p50 latency and its worst output difference from eager PyTorch, as a share of that output's derived tolerance.</p>");
    for (family, models) in &families {
        let passed = models.values().flatten().filter(|c| c.outcome == OutcomeKind::Passed).count();
        let ran = models.values().flatten().filter(|c| c.outcome != OutcomeKind::Skipped).count();
        let _ = write!(out, "<details open><summary>{} &mdash; {} model(s), {passed} of {ran} ran cells passed</summary><table><tr><th>model</th><th>modality</th><th>task</th>", escape(family), models.len());
        for hw in &columns {
            let _ = write!(out, "<th>{hw}{}</th>", column_device(data, hw));
        }
        out.push_str("</tr>");
        for (model, cells) in models {
            let first = cells[0];
            let key = if first.key_model { " <small>(key)</small>" } else { "" };
            let _ = write!(
                out,
                "<tr><td>{}{key}</td><td>{}</td><td>{}</td>",
                escape(model),
                escape(&first.modality),
                escape(&first.task)
            );
            for hw in &columns {
                match cells.iter().find(|c| c.hardware == *hw) {
                    Some(cell) => out.push_str(&cell_html(cell)),
                    None if data.missing_on(hw).any(|c| c.model_type == *model) => {
                        out.push_str("<td class=\"o-none\"><b>did not run</b></td>")
                    }
                    None => out.push_str("<td class=\"o-none\">not run</td>"),
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</table></details>");
    }
    out.push_str("</section>");
}

/// The lines of a cell's detail after its first (a crash's signal and last output lines, a
/// route's later failures), folded under the first: at most [`DETAIL_LINES`] lines of at most
/// [`DETAIL_LINE_CHARS`] characters each, saying how many were left out. Empty for one line.
fn rest_of_detail(detail: &str) -> String {
    let rest: Vec<&str> = detail.lines().skip(1).collect();
    if rest.iter().all(|line| line.trim().is_empty()) {
        return String::new();
    }
    let mut shown: Vec<String> = rest
        .iter()
        .take(DETAIL_LINES)
        .map(|line| {
            let mut shown: String = line.chars().take(DETAIL_LINE_CHARS).collect();
            if line.chars().count() > DETAIL_LINE_CHARS {
                shown.push('…');
            }
            escape(&shown)
        })
        .collect();
    if rest.len() > DETAIL_LINES {
        shown.push(format!("({} more line(s) in the record)", rest.len() - DETAIL_LINES));
    }
    format!("<details><summary>{} more line(s)</summary><pre>{}</pre></details>", rest.len(), shown.join("\n"))
}

/// The most lines of a detail a note shows under its first.
const DETAIL_LINES: usize = 40;

/// The most characters of one detail line a note shows.
const DETAIL_LINE_CHARS: usize = 400;

fn notes(out: &mut String, data: &ReportData) {
    out.push_str("<section id=\"notes\"><h2>Notes on every cell that did not pass</h2>");
    if !data.missing.is_empty() {
        let _ = write!(out, "<div class=\"note\"><b>Did not run: {} planned cell(s) have no record</b> (the run ended before them, or lost their process without a trace): ", data.missing.len());
        let names: Vec<String> =
            data.missing.iter().map(|c| format!("{} on {}", escape(&c.model_type), escape(&c.hardware))).collect();
        out.push_str(&names.join(", "));
        out.push_str("</div>");
    }
    for cell in data.cells.iter().filter(|c| c.outcome == OutcomeKind::Failed || c.outcome == OutcomeKind::Unsupported)
    {
        let category = cell.category.map(|c| format!(" [{}]", escape(c.id()))).unwrap_or_default();
        let _ = write!(
            out,
            "<div class=\"note\" id=\"{}\"><b>{} on {}: {}{category}</b><br>{}{}<br>reproduce: <code>{}</code></div>",
            anchor(cell),
            escape(&cell.model_type),
            escape(&cell.hardware),
            mark(cell.outcome),
            escape(cell.detail.lines().next().unwrap_or("(no detail recorded)")),
            rest_of_detail(&cell.detail),
            escape(&reproduce(cell))
        );
    }
    generation_notes(out, data);
    let mut skipped: BTreeMap<&str, (Vec<&str>, &str)> = BTreeMap::new();
    for cell in data.cells.iter().filter(|c| c.outcome == OutcomeKind::Skipped) {
        let entry = skipped.entry(cell.hardware.as_str()).or_insert((Vec::new(), cell.detail.as_str()));
        entry.0.push(cell.model_type.as_str());
    }
    for (hw, (models, reason)) in &skipped {
        let hw = escape(hw);
        let _ = write!(
            out,
            "<div class=\"note\" id=\"skip-{hw}\"><b>{hw}: {} model(s) skipped: hardware absent</b><br>{}<br>reproduce: <code>cargo test -p generated --features {hw}</code> on a machine with it (<code>HFZOO_REQUIRE_HARDWARE={hw}</code> makes absence a failure)<details><summary>models</summary>{}</details></div>",
            models.len(),
            escape(reason),
            escape(&models.join(", "))
        );
    }
    out.push_str("</section>");
}

/// The generation cells that did not pass, grouped by hardware and category, each with its
/// reason and the command that reproduces it.
fn generation_notes(out: &mut String, data: &ReportData) {
    let mut groups: BTreeMap<(&str, String), Vec<&Cell>> = BTreeMap::new();
    for cell in data.generation.iter().filter(|c| matches!(c.outcome, OutcomeKind::Failed | OutcomeKind::Unsupported)) {
        let category = cell.category.map(|c| c.id().to_string()).unwrap_or_else(|| "uncategorised".into());
        groups.entry((cell.hardware.as_str(), format!("{} {category}", cell.outcome))).or_default().push(cell);
    }
    if groups.is_empty() {
        return;
    }
    out.push_str("<div id=\"generation-notes\">");
    for ((hw, group), cells) in &groups {
        let _ = write!(
            out,
            "<div class=\"note\"><b>{}: {} generation cell(s) {}</b><details><summary>types and reasons</summary><ul>",
            escape(hw),
            cells.len(),
            escape(group)
        );
        for cell in cells {
            let _ = write!(
                out,
                "<li>{}: {}<br>reproduce: <code>{}</code></li>",
                escape(&cell.model_type),
                escape(cell.detail.lines().next().unwrap_or("(no detail recorded)")),
                escape(&reproduce(cell))
            );
        }
        out.push_str("</ul></details></div>");
    }
    out.push_str("</div>");
}

/// The whole report page.
pub fn report(data: &ReportData) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hfzoo compatibility report: {}</title><style>{STYLE}</style></head><body>",
        escape(&data.scope)
    );
    let generation = match data.generation.len() {
        0 => String::new(),
        n => format!(" &middot; {n} generation cell(s)"),
    };
    let _ = write!(
        out,
        "<h1>Compatibility report</h1><p class=\"scope\">{} &middot; {} cell(s){generation}</p>",
        escape(&data.scope),
        data.cells.len()
    );
    let reused = data.cells.iter().filter(|c| c.reused_from.is_some()).count();
    if reused > 0 {
        let _ = write!(
            out,
            "<p class=\"scope\"><b>{reused} of {} cell(s) reused</b> a stored verdict whose digest had not changed: their outcomes, latencies and charts are those of the run each names, not measurements of this run.</p>",
            data.cells.len()
        );
    }
    if data.cells.is_empty() {
        out.push_str("<p>No results recorded yet: run <code>cargo test -p generated --features cpu</code>, then <code>cargo run -p hfzoo -- report --format html</code>.</p></body></html>\n");
        return out;
    }
    out.push_str("<p><a href=\"#environment\">environment</a> &middot; <a href=\"#totals\">totals</a> &middot; <a href=\"#charts\">charts</a> &middot; <a href=\"#matrix\">matrix</a> &middot; <a href=\"#notes\">notes</a></p>");
    environment(&mut out, data);
    totals(&mut out, data);
    out.push_str("<section id=\"charts\"><h2>Charts</h2>");
    for svg in [charts::latency_distribution(data), charts::pass_share(data), charts::slowest(data, 20)] {
        let _ = write!(out, "<div class=\"chart\">{}</div>", inline_svg(svg));
    }
    out.push_str("</section>");
    matrix(&mut out, data);
    notes(&mut out, data);
    out.push_str("</body></html>\n");
    out
}

/// A comparison as a page.
pub fn comparison(c: &Comparison) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hfzoo comparison {} -&gt; {}</title><style>{STYLE}</style></head><body>",
        escape(&c.base),
        escape(&c.new)
    );
    let _ = write!(
        out,
        "<h1>Comparison</h1><p class=\"scope\">base {} &rarr; new {} &middot; {} cell(s) in both &middot; <b>{} regression(s)</b></p>",
        escape(&c.base),
        escape(&c.new),
        c.common,
        c.regressions()
    );
    let _ = write!(out, "<p>Latency rule: {}</p>", escape(&super::compare::rule(c)));
    out.push_str("<h2>Outcome changes</h2>");
    if c.outcomes.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<table><tr><th>model</th><th>hardware</th><th>base</th><th>new</th><th>regression</th><th>detail</th></tr>");
        for o in &c.outcomes {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"o-{}\">{}</td><td class=\"o-{}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&o.model_type),
                escape(&o.hardware),
                o.base,
                mark(o.base),
                o.new,
                mark(o.new),
                if o.regression { "<b>yes</b>" } else { "no" },
                escape(&o.detail)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Latency beyond noise</h2>");
    if c.latency.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<table><tr><th>model</th><th>hardware</th><th>base median (ms)</th><th>new median (ms)</th><th>ratio</th><th>p</th><th>verdict</th></tr>");
        for l in &c.latency {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.2}</td><td>{:.1e}</td><td class=\"{}\">{}</td></tr>",
                escape(&l.model_type),
                escape(&l.hardware),
                l.base_ms,
                l.new_ms,
                l.ratio,
                l.p_value,
                if l.slower { "o-failed" } else { "o-passed" },
                if l.slower { "slower (regression)" } else { "faster" }
            );
        }
        out.push_str("</table>");
    }
    if !c.drift.is_empty() {
        out.push_str("<h2>Parity drift</h2><ul>");
        for d in &c.drift {
            let _ = write!(
                out,
                "<li>{} on {}: {:.2} &rarr; {:.2} of tolerance</li>",
                escape(&d.model_type),
                escape(&d.hardware),
                d.base_share,
                d.new_share
            );
        }
        out.push_str("</ul>");
    }
    for (title, list) in [("Added", &c.added), ("Removed", &c.removed)] {
        if !list.is_empty() {
            let _ = write!(out, "<h2>{title}</h2><details><summary>{} cell(s)</summary><ul>", list.len());
            for line in list {
                let _ = write!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul></details>");
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::query::{Environment, HardwareRow};

    fn cell(model: &str, family: &str, outcome: &str, p50: Option<f64>, detail: &str) -> Cell {
        Cell {
            run_id: "run-1".into(),
            result_id: format!("run-1__{model}__cpu"),
            model_type: model.into(),
            hardware: "cpu".into(),
            family: family.into(),
            modality: "text".into(),
            task: "t".into(),
            outcome: OutcomeKind::from_id(outcome).expect("an outcome name"),
            detail: detail.into(),
            p50_ms: p50,
            worst_diff: p50.map(|_| 1e-7),
            worst_diff_share: p50.map(|_| 0.25),
            ..Cell::default()
        }
    }

    fn data(cells: Vec<Cell>) -> ReportData {
        ReportData {
            missing: Vec::new(),
            scope: "run run-1".into(),
            runs: vec!["run-1".into()],
            environments: vec![Environment {
                run_id: "run-1".into(),
                host: "box".into(),
                started_at: "2026-12-01 10:00:00".into(),
                cpu_model: "Some CPU".into(),
                logical_cpus: 2,
                os: "Linux 6".into(),
                git_commit: "0123456789abcdef".into(),
                torch_version: "2.13.0".into(),
                transformers_version: "5.24.0".into(),
                runtime_version: "0.1.0".into(),
                features: "cpu".into(),
                injected: String::new(),
            }],
            hardware: vec![HardwareRow {
                hardware: "cpu".into(),
                available: true,
                device: "Some CPU".into(),
                version: "2.13.0".into(),
                reason: "always".into(),
            }],
            cells,
            generation: Vec::new(),
        }
    }

    #[test]
    fn an_engine_with_generation_cells_gets_a_generates_row_and_notes_for_those_that_did_not_pass() {
        let mut page_data = data(vec![cell("llama", "decoder-only", "passed", Some(1.0), "")]);
        let generation = |model: &str, outcome: &str, category: Option<&str>, detail: &str| Cell {
            kind: runtime::CellKind::Generate,
            category: category.map(|id| runtime::FailureCategory::from_id(id).expect("a category")),
            ..cell(model, "decoder-only", outcome, None, detail)
        };
        page_data.generation = vec![
            generation("llama", "passed", None, "ran torchscript-generate via generate"),
            generation("gpt2", "passed", None, ""),
            generation("mamba", "unsupported", Some("cache"), "the cache has layers of kind <LinearAttentionLayer>"),
        ];
        let page = report(&page_data);
        assert!(
            page.contains("&#8627; cpu generates</td><td>2</td><td>0</td><td>1</td><td>0</td><td>66.7% (2 of 3)"),
            "{page}"
        );
        assert!(page.contains("cpu: 1 generation cell(s) unsupported cache"), "{page}");
        assert!(page.contains("layers of kind &lt;LinearAttentionLayer&gt;"), "escaped: {page}");
        assert!(
            page.contains("cargo test -p generated --features cpu cpu::mamba::tests::generates_as_transformers"),
            "{page}"
        );
        assert!(!report(&data(vec![cell("llama", "decoder-only", "passed", Some(1.0), "")])).contains("generates</td>"));
    }

    #[test]
    fn a_webgpu_column_names_its_adapter_and_each_cell_its_fallback_nodes() {
        let mut gpu = cell("bert", "encoder-only", "passed", Some(300.0), "");
        gpu.hardware = "webgpu".into();
        gpu.accelerated_nodes = Some(84.0);
        gpu.fallback_nodes = Some(48.0);
        let mut page_data = data(vec![cell("bert", "encoder-only", "passed", Some(1.0), ""), gpu]);
        page_data.hardware.push(HardwareRow {
            hardware: "webgpu".into(),
            available: true,
            device: "google swiftshader (software adapter)".into(),
            version: "Chromium 148".into(),
            reason: "r".into(),
        });
        let page = report(&page_data);
        assert!(
            page.contains("<th>webgpu<br><small>google swiftshader (software adapter)</small></th>"),
            "the column names the adapter"
        );
        assert!(page.contains("<th>cpu</th>"), "other columns stay plain");
        assert!(page.contains("84 nodes on webgpu, 48 on wasm"), "the cell counts its fallback");
    }

    #[test]
    fn a_reused_cell_names_its_source_run_and_the_page_says_how_many_were_reused() {
        let mut reused = cell("bert", "encoder-only", "passed", Some(1.0), "");
        reused.reused_from = Some("run-0".into());
        let page = report(&data(vec![reused, cell("t5", "encoder-decoder", "passed", Some(2.0), "")]));
        assert!(page.contains("<em>reused from run run-0</em>"), "the reused cell names its run");
        assert_eq!(page.matches("reused from run").count(), 1, "the fresh cell is not marked");
        assert!(page.contains("<b>1 of 2 cell(s) reused</b>"), "the page says how many were reused");
    }

    #[test]
    fn the_report_is_self_contained_and_notes_every_cell_that_did_not_pass() {
        let page = report(&data(vec![
            cell("bert", "encoder", "passed", Some(0.35), ""),
            cell("llava", "multimodal", "failed", None, "set b: output `logits` differs\nmore"),
            cell("mamba", "ssm", "unsupported", None, "baked shapes"),
        ]));
        assert!(!page.contains("http"), "no external reference or namespace URL");
        assert!(!page.contains("<script"));
        assert!(page.contains("<svg"), "charts are inline SVG");
        assert!(page.contains("p50 0.35 ms"));
        assert!(page.contains("25% of tol."));
        assert!(page.contains("id=\"note-llava-cpu\""));
        assert!(
            page.contains(
                "set b: output `logits` differs<details><summary>1 more line(s)</summary><pre>more</pre></details><br>"
            ),
            "the first error line, the rest folded under it"
        );
        assert!(page.contains("baked shapes<br>"), "a one-line detail has nothing to fold");
        assert!(page.contains("cargo test -p generated --features cpu cpu::llava::"));
        assert!(page.contains("id=\"note-mamba-cpu\""));
        assert!(page.contains("1 of 3 ran cells passed") || page.contains("33.3% (1 of 3)"));
    }

    #[test]
    fn hostile_strings_are_escaped() {
        let page =
            report(&data(vec![cell("x", "<script>alert(1)</script>", "failed", None, "<img src=x onerror=alert(1)>")]));
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;img src=x"));
    }

    #[test]
    fn a_long_detail_is_folded_bounded_and_escaped() {
        let detail =
            format!("process aborted with signal 6 (SIGABRT)\n<b>x</b>\n{}\n{}", "y".repeat(500), "line\n".repeat(60));
        let folded = rest_of_detail(&detail);
        assert!(
            folded.starts_with("<details><summary>62 more line(s)</summary><pre>&lt;b&gt;x&lt;/b&gt;\n"),
            "{folded}"
        );
        assert!(folded.contains(&format!("{}…", "y".repeat(400))), "a line is cut at 400 characters");
        assert!(folded.contains("(22 more line(s) in the record)"), "{folded}");
        assert_eq!(rest_of_detail("one line"), "");
        assert_eq!(rest_of_detail("one line\n\n"), "");
    }

    #[test]
    fn an_injected_delay_is_shown_as_such() {
        let mut d = data(vec![cell("bert", "encoder", "passed", Some(5.3), "")]);
        d.environments[0].injected = "HFZOO_TEST_INJECT_DELAY=bert:5".into();
        assert!(report(&d).contains("Test-only setting in effect"));
    }
}
