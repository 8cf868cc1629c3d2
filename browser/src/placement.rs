//! Where onnxruntime-web placed a model's nodes, read from its verbose session log: how many
//! nodes the browser's accelerated provider (WebGPU, WebNN) ran and how many fell back to the
//! wasm CPU provider, and whether any compute node ran accelerated at all.
//!
//! With `logSeverityLevel: 0` ORT logs, per provider, `Node(s) placed on [<provider>]. Number of
//! nodes: <n>` followed by one line per node (`  <OpType> (<node name>)`); when every node lands
//! on one provider it logs only `All nodes placed on [<provider>]. Number of nodes: <n>`.

use std::collections::BTreeMap;

/// The provider every fallback lands on.
pub const CPU_PROVIDER: &str = "CPUExecutionProvider";

/// The log lines that describe placement (the page forwards only these).
pub const LOG_MARKER: &str = "VerifyEachNodeIsAssignedToAnEp";

/// Operators that carry a model's arithmetic; shape bookkeeping (Shape, Gather on int64 sizes,
/// Unsqueeze, Memcpy) falling back to the CPU is normal and cheap, these falling back is not.
const COMPUTE_OPS: &[&str] = &[
    "Attention",
    "BatchNormalization",
    "Conv",
    "ConvTranspose",
    "Einsum",
    "Gemm",
    "GroupNormalization",
    "GroupQueryAttention",
    "GRU",
    "InstanceNormalization",
    "LayerNormalization",
    "LSTM",
    "MatMul",
    "MatMulNBits",
    "MultiHeadAttention",
    "SimplifiedLayerNormalization",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "Softmax",
];

/// Node counts per provider, and compute nodes per provider.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Placement {
    /// Nodes per provider, as ORT counted them.
    pub nodes: BTreeMap<String, u64>,
    /// Compute nodes ([`COMPUTE_OPS`]) per provider, where ORT listed the nodes.
    pub compute: BTreeMap<String, u64>,
}

impl Placement {
    /// Reads the placement lines of one session's log; `None` when none is there.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Placement> {
        let mut placement = Placement::default();
        let mut current: Option<String> = None;
        let mut seen = false;
        for line in lines {
            let Some((_, rest)) = line.split_once(LOG_MARKER) else { continue };
            let rest = rest.trim_start_matches(']');
            if let Some((provider, count)) = header(rest) {
                seen = true;
                *placement.nodes.entry(provider.clone()).or_default() += count;
                current = rest.trim_start().starts_with("Node(s)").then_some(provider);
            } else if let Some(provider) = &current {
                let op = rest.trim().split(' ').next().unwrap_or_default();
                if COMPUTE_OPS.contains(&op) {
                    *placement.compute.entry(provider.clone()).or_default() += 1;
                }
            }
        }
        seen.then_some(placement)
    }

    /// Nodes on providers other than the CPU's.
    pub fn accelerated(&self) -> u64 {
        self.nodes.iter().filter(|(p, _)| p.as_str() != CPU_PROVIDER).map(|(_, n)| n).sum()
    }

    /// Nodes that fell back to the CPU provider.
    pub fn fallback(&self) -> u64 {
        self.nodes.get(CPU_PROVIDER).copied().unwrap_or(0)
    }

    /// Compute nodes that fell back to the CPU provider (0 when ORT did not list nodes).
    pub fn compute_fallback(&self) -> u64 {
        self.compute.get(CPU_PROVIDER).copied().unwrap_or(0)
    }

    /// Why the accelerated provider did not run this model's arithmetic, if it did not: no node
    /// at all, or every compute node on the CPU.
    pub fn all_compute_fell_back(&self) -> Option<String> {
        let accelerated_compute: u64 =
            self.compute.iter().filter(|(p, _)| p.as_str() != CPU_PROVIDER).map(|(_, n)| n).sum();
        if self.accelerated() == 0 {
            Some(format!("every node ({}) fell back to onnxruntime-web's wasm CPU provider", self.fallback()))
        } else if accelerated_compute == 0 && self.compute_fallback() > 0 {
            Some(format!("every compute node ({}) fell back to onnxruntime-web's wasm CPU provider; only {} bookkeeping nodes ran accelerated", self.compute_fallback(), self.accelerated()))
        } else {
            None
        }
    }
}

/// `<provider>` and `<n>` of a `... placed on [<provider>]. Number of nodes: <n>` line.
fn header(rest: &str) -> Option<(String, u64)> {
    let (_, after) = rest.split_once("placed on [")?;
    let (provider, after) = after.split_once(']')?;
    let count = after.rsplit_once(':')?.1.trim().parse().ok()?;
    Some((provider.to_string(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str =
        "2026-12-05 04:26:23.723049 [V:onnxruntime:, session_state.cc:1584 VerifyEachNodeIsAssignedToAnEp]";

    #[test]
    fn split_placement_counts_nodes_and_compute_nodes_per_provider() {
        let lines = [
            format!("{PREFIX}  Node(s) placed on [JsExecutionProvider]. Number of nodes: 3"),
            format!("{PREFIX}   MatMul (/model/MatMul)"),
            format!("{PREFIX}   LayerNormalization (/model/LayerNorm)"),
            format!("{PREFIX}   Add (/model/Add)"),
            "unrelated line".to_string(),
            format!("{PREFIX}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2"),
            format!("{PREFIX}   Shape (/model/Shape)"),
            format!("{PREFIX}   Gather (/model/Gather)"),
        ];
        let placement = Placement::parse(lines.iter().map(String::as_str)).unwrap();
        assert_eq!((placement.accelerated(), placement.fallback(), placement.compute_fallback()), (3, 2, 0));
        assert_eq!(placement.compute.get("JsExecutionProvider"), Some(&2));
        assert_eq!(placement.all_compute_fell_back(), None);
    }

    #[test]
    fn a_model_whose_compute_all_fell_back_is_named_so() {
        let lines = [
            format!("{PREFIX}  Node(s) placed on [JsExecutionProvider]. Number of nodes: 1"),
            format!("{PREFIX}   Unsqueeze (/model/Unsqueeze)"),
            format!("{PREFIX}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2"),
            format!("{PREFIX}   MatMul (/model/MatMul)"),
            format!("{PREFIX}   Softmax (/model/Softmax)"),
        ];
        let placement = Placement::parse(lines.iter().map(String::as_str)).unwrap();
        assert!(placement.all_compute_fell_back().unwrap().contains("every compute node (2) fell back"));
        let all_cpu = format!("{PREFIX} All nodes placed on [CPUExecutionProvider]. Number of nodes: 7");
        let placement = Placement::parse([all_cpu.as_str()]).unwrap();
        assert_eq!((placement.accelerated(), placement.fallback()), (0, 7));
        assert!(placement.all_compute_fell_back().unwrap().contains("every node (7) fell back"));
        let all_gpu = format!("{PREFIX} All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 9");
        assert_eq!(Placement::parse([all_gpu.as_str()]).unwrap().all_compute_fell_back(), None);
        assert_eq!(Placement::parse(["nothing about placement"]), None);
    }
}
