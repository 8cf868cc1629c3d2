//! Failure categories: the one list. Metadata's `category:` values, the exporter's and the
//! harvester's failures (through `runtime/exporter/contract.json`, which the generator writes
//! from this list) and the runtime's verdicts all name a [`Category`].

use serde::{Deserialize, Serialize};

/// Why a model cannot run (or has not run) somewhere; kebab-case in every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The default configuration cannot be built on its own.
    Config,
    /// transformers needs a package this environment does not have.
    MissingPackage,
    /// Over the parameter cap after shrinking.
    TooLarge,
    /// The model cannot be built from the tiny configuration.
    Build,
    /// The forward needs inputs the generic rules cannot build, or rejects them.
    ModelInputs,
    /// Tracing, saving or loading TorchScript fails: a limit of the artifact format.
    Torchscript,
    /// The trace matches on the traced inputs only (baked shapes or routing).
    TraceSpecialised,
    /// Eager PyTorch differs from itself on identical inputs.
    Nondeterministic,
    /// The probe or export ran past its time limit.
    Timeout,
    /// float32 rounding alone moves an output by a share of its size (a near-tie in a
    /// selection): no backend can match it reliably (runtime/exporter/parity_rule.json).
    Chaotic,
    /// No output carries any signal: the comparison would accept anything.
    NoSignal,
    /// The hardware cannot run it (backend-specific limits).
    Backend,
    /// No ONNX exporter (TorchScript-based at opset 17, then dynamo at opset 18) could write it.
    OnnxExport,
    /// The ONNX file was written but ONNX Runtime cannot run it on both input sets, or it
    /// computes something else (a shape or branch frozen into the graph).
    OnnxCheck,
    /// OpenVINO's PyTorch frontend (the second route, after ONNX failed) cannot convert it.
    OpenvinoConvert,
    /// The exporter process died while exporting (a crash in native code, or killed): transient,
    /// never a verdict; the next run exports again.
    Crash,
    /// A generating model whose cache is more than keys and values per layer (recurrent or
    /// convolution state, a sliding window's position): it cannot be carried between steps as
    /// tensors yet.
    Cache,
}

impl std::fmt::Display for Category {
    /// The id, as every document writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Category {
    /// Every category, in the order the documentation lists them.
    pub const ALL: [Category; 17] = [
        Category::Config,
        Category::MissingPackage,
        Category::TooLarge,
        Category::Build,
        Category::ModelInputs,
        Category::Torchscript,
        Category::TraceSpecialised,
        Category::Nondeterministic,
        Category::Timeout,
        Category::Chaotic,
        Category::NoSignal,
        Category::Backend,
        Category::OnnxExport,
        Category::OnnxCheck,
        Category::OpenvinoConvert,
        Category::Crash,
        Category::Cache,
    ];

    /// The kebab-case id every document uses (`onnx-export`).
    pub const fn id(self) -> &'static str {
        match self {
            Category::Config => "config",
            Category::MissingPackage => "missing-package",
            Category::TooLarge => "too-large",
            Category::Build => "build",
            Category::ModelInputs => "model-inputs",
            Category::Torchscript => "torchscript",
            Category::TraceSpecialised => "trace-specialised",
            Category::Nondeterministic => "nondeterministic",
            Category::Timeout => "timeout",
            Category::Chaotic => "chaotic",
            Category::NoSignal => "no-signal",
            Category::Backend => "backend",
            Category::OnnxExport => "onnx-export",
            Category::OnnxCheck => "onnx-check",
            Category::OpenvinoConvert => "openvino-convert",
            Category::Crash => "crash",
            Category::Cache => "cache",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.id() == id)
    }

    /// How far the harvester's probe got when it failed in this category (higher is further:
    /// the probe keeps the furthest failure of its attempts); `None` for categories the probe
    /// never records (they come from an exporter or an engine).
    pub const fn probe_stage(self) -> Option<u8> {
        match self {
            Category::Config => Some(0),
            Category::MissingPackage => Some(1),
            Category::TooLarge => Some(2),
            Category::Build => Some(3),
            Category::ModelInputs => Some(4),
            Category::NoSignal => Some(5),
            Category::Chaotic => Some(6),
            Category::Nondeterministic => Some(7),
            Category::Torchscript => Some(8),
            Category::TraceSpecialised => Some(9),
            _ => None,
        }
    }

    /// True when no other shrinking or repair of the probe can change this failure.
    pub const fn final_for_probe(self) -> bool {
        matches!(self, Category::Config | Category::MissingPackage)
    }
}

#[cfg(test)]
mod tests {
    use super::Category;

    #[test]
    fn ids_are_the_serde_names_and_round_trip() {
        for category in Category::ALL {
            assert_eq!(serde_json::to_string(&category).unwrap(), format!("\"{}\"", category.id()));
            assert_eq!(Category::from_id(category.id()), Some(category));
        }
        assert_eq!(Category::from_id("onnx"), None);
    }
}
