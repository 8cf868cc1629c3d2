//! One engine's outcome at one size of a generation run, as the Markdown table, the page and
//! the results database all read it: the runtime's cells first, then each peer.

use crate::generate::{peer_label, GenerationSizeResult, GenerationStatus, GenerationTiming};

/// What one engine did at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOutcome<'a> {
    /// `runtime cpu`, `runtime openvino`, or a peer's label.
    pub engine: String,
    /// The runtime's route and its export's peak memory (`onnx-generate; its export 8444 MiB`).
    pub route: Option<String>,
    /// `measured`, or why not (the cell's verdict, the peer's status, `not-run`).
    pub status: String,
    /// The figures, when measured.
    pub timing: Option<&'a GenerationTiming>,
    /// Peak resident memory of the engine's process, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Why it was not timed (empty when measured).
    pub detail: String,
}

/// Every engine's outcome at one size: the runtime's cells, then the peers, in run order.
pub fn outcomes(result: &GenerationSizeResult) -> Vec<EngineOutcome<'_>> {
    let cells = result.cells.iter().map(|(hardware, status)| match status {
        GenerationStatus::Measured { timing, route, peak_rss_mib, export_peak_rss_mib, .. } => EngineOutcome {
            engine: format!("runtime {hardware}"),
            route: Some(match export_peak_rss_mib {
                Some(mib) => format!("{route}; its export {mib:.0} MiB"),
                None => route.to_string(),
            }),
            status: "measured".into(),
            timing: Some(timing),
            peak_rss_mib: *peak_rss_mib,
            detail: String::new(),
        },
        GenerationStatus::Refused { verdict, reason } => EngineOutcome {
            engine: format!("runtime {hardware}"),
            route: None,
            status: verdict.to_string(),
            timing: None,
            peak_rss_mib: None,
            detail: reason.clone(),
        },
    });
    let peers = result.peers.iter().map(|peer| {
        let engine = peer_label(&peer.peer).to_string();
        match &peer.outcome {
            Ok(answer) => EngineOutcome {
                engine,
                route: None,
                status: if answer.timing.is_some() { "measured".into() } else { answer.answer.status.clone() },
                timing: answer.timing.as_ref(),
                peak_rss_mib: answer.answer.peak_rss_mib,
                detail: if answer.timing.is_some() {
                    String::new()
                } else {
                    answer.answer.reason.clone().unwrap_or_default()
                },
            },
            Err(why) => EngineOutcome {
                engine,
                route: None,
                status: "not-run".into(),
                timing: None,
                peak_rss_mib: None,
                detail: why.clone(),
            },
        }
    });
    cells.chain(peers).collect()
}
