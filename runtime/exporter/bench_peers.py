"""The Python side of `bench`: real-size checkpoints, FLOP counts, and the peers a user would
otherwise run (eager PyTorch, torch.compile, ONNX Runtime's and OpenVINO's Python APIs), timed
on the same machine, weights and inputs as the Rust runtime, in the same run.

One JSON job on stdin, one JSON answer on stdout, progress on stderr:

    {"command": "checkpoint", "config_class": "BertConfig", "model_class": "BertModel", "out": DIR, "seed": 0, "config": {}}
        the configuration class's defaults (the published checkpoint's shape), with `config`'s
        fields changed, and random weights, written by save_pretrained; answers {"parameters": N}.
        With "max_weight_bytes", a model whose float32 weights are larger is refused before
        anything is allocated.
    {"command": "parameters", "models": [{"config_class": C, "model_class": M, "config": {...}}, ...]}
        each model's parameter count, built on the meta device (nothing allocated); answers
        {"parameters": [N, ...]}.
    {"command": "generate", "checkpoint": DIR, "digest": D, "request": {...}, "inputs": FILE, "reference": FILE, "threads": N, "rule": {...}}
        transformers' greedy `generate` on a generation cell's prompt: {"status": "ok", "prefill_ms":
        [...], "generate_ms": [...]} once its ids equal the reference's, else "mismatch" and its "reason".
    {"command": "flops", "checkpoint": DIR, "digest": D, "request": {...}, "inputs": FILE}
        answers {"flops": N, "weight_bytes": N, "parameters": N, "by_operator": {...}} from
        PyTorch's FLOP counter on one eager forward.
    {"command": "peers", ... as flops, "reference": FILE, "manifest": FILE, "peers": [...],
     "files": {"onnx": FILE|null, "openvino": FILE|null}, "threads": N, "rule": {...}}
        answers {"peers": {name: {"status", "samples", "warmup_runs", "load_ms", "first_ms",
        "settings", "error"}}, "flops": ..., "peak_rss_mib": N}.

The timing rule (`rule`) is the runtime's (bench/core/src/stats.rs): warm-up in windows
until one window's median is within `tolerance` of the previous one's, then timed runs until
`min_runs` are taken and `seconds` have passed, or `max_runs`. Each peer's outputs on the
inputs are compared with the eager reference under the artifact's tolerances (parity.py): a
peer that does not match reports `failed-parity` and no timing.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkpoint_export  # noqa: E402,F401  (patches export.build_model to read checkpoints)
import export  # noqa: E402
import parity  # noqa: E402
from peer_measure import peak_rss_mib, timed  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

PEERS = ("eager", "compile", "onnxruntime", "openvino")


def log(message: str) -> None:
    print(f"bench-peers: {message}", file=sys.stderr, flush=True)


def make_checkpoint(job: dict) -> dict:
    """The configuration class's defaults with seeded random weights, saved as a checkpoint."""
    config = getattr(transformers, job["config_class"])(**job.get("config", {}))
    model_class = getattr(transformers, job["model_class"])
    limit = job.get("max_weight_bytes")
    if limit is not None:
        parameters, _ = export.count_parameters(model_class, config)
        if parameters * 4 > limit:
            raise MemoryError(
                f"{job['model_class']} at its default size has {parameters / 1e6:,.0f} M parameters ({parameters * 4 / 2**30:.1f} GiB in float32); "
                f"exporting it holds about four times that and this machine has room for {limit / 2**30:.1f} GiB of weights: "
                "benchmark it on a machine with more memory, or pass a smaller checkpoint with --checkpoint"
            )
    torch.manual_seed(int(job.get("seed", 0)))
    model = model_class(config).eval()
    out = job["out"]
    tmp = f"{out}.tmp-{os.getpid()}"
    model.save_pretrained(tmp, safe_serialization=True)
    processor = default_processor(config)
    if processor is not None:
        processor.save_pretrained(tmp)
    os.replace(tmp, out)
    return {"parameters": sum(p.numel() for p in model.parameters())}


def count_parameters(job: dict) -> dict:
    """Each configuration's parameter count, built on the meta device (nothing allocated)."""
    counts = []
    for entry in job["models"]:
        config = getattr(transformers, entry["config_class"])(**entry.get("config", {}))
        parameters, _ = export.count_parameters(getattr(transformers, entry["model_class"]), config)
        counts.append(parameters)
    return {"parameters": counts}


def default_processor(config):
    """The model type's image processor (the PIL one) or feature extractor with its defaults,
    which are the published checkpoint's sizes, so that the runtime sizes the cell's images,
    frames and features as a skill on that checkpoint would; None for text-only models. A CLAP
    extractor whose default truncation is `fusion` gets `rand_trunc` for an unfused model, as
    the published unfused checkpoints set it."""
    from transformers.models.auto import feature_extraction_auto, image_processing_auto

    names = image_processing_auto.IMAGE_PROCESSOR_MAPPING_NAMES.get(config.model_type)
    if isinstance(names, dict):
        name = names.get("pil") or names.get("torchvision")
    elif isinstance(names, (tuple, list)):
        name = next((n for n in names if n), None)
    else:
        name = names or feature_extraction_auto.FEATURE_EXTRACTOR_MAPPING_NAMES.get(config.model_type)
    if not name:
        return None
    processor = getattr(transformers, name)()
    audio = getattr(config, "audio_config", None)
    if getattr(processor, "truncation", None) == "fusion" and audio is not None and not getattr(audio, "enable_fusion", False):
        processor.truncation = "rand_trunc"
    return processor


def load(job: dict):
    """The checkpoint's model wrapped as the exporter traced it, and the inputs in request order."""
    os.environ["HFZOO_CHECKPOINT_DIRS"] = json.dumps({job["digest"]: job["checkpoint"]})
    request = job["request"]
    model = export.build_model_classified(request)
    names = [spec["name"] for spec in request["outputs"]]
    wrapper = export.NamedForward(model, request["inputs"], names, export.forward_extras(model)).eval()
    saved = load_file(job["inputs"])
    inputs = [saved[spec["name"]] for spec in request["inputs"]]
    return model, wrapper, names, inputs


def count_flops(model, wrapper, inputs: list) -> dict:
    """PyTorch's FLOP counter over one eager forward (matrix products, convolutions, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        wrapper(*inputs)
    by_operator = {}
    for module_counts in counter.get_flop_counts().values():
        for operator, flops in module_counts.items():
            by_operator[str(operator)] = max(by_operator.get(str(operator), 0), int(flops))
    return {
        "flops": int(counter.get_total_flops()),
        "by_operator": by_operator,
        "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def matches(outputs: list, reference: dict, names: list[str], tolerances: dict) -> str | None:
    """Why the outputs (tensors or NumPy arrays, in request order) do not match the eager
    reference, or None."""
    for name, got in zip(names, outputs):
        got = torch.as_tensor(got)
        ok, excess = parity.within(got, reference[name], tolerances[name])
        if not ok:
            return f"`{name}` differs from eager PyTorch beyond its tolerance (worst excess {excess:.3g})"
    return None


def eager_peer(wrapper, inputs: list, job: dict):
    def run():
        with torch.no_grad():
            return wrapper(*inputs)

    return run, {"torch": torch.__version__, "threads": torch.get_num_threads()}


def compile_peer(wrapper, inputs: list, job: dict):
    compiled = torch.compile(wrapper, mode="max-autotune-no-cudagraphs", dynamic=False)

    def run():
        with torch.no_grad():
            return compiled(*inputs)

    return run, {"torch": torch.__version__, "threads": torch.get_num_threads(), "mode": "max-autotune-no-cudagraphs", "backend": "inductor"}


def onnxruntime_peer(wrapper, inputs: list, job: dict):
    import onnxruntime

    path = job["files"].get("onnx")
    if not path:
        raise LookupError("no ONNX file for this cell (the OpenVINO route did not run one)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(job["threads"])
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [spec["name"] for spec in job["request"]["inputs"]]
    feed = {i.name: inputs[names.index(i.name)].numpy() for i in session.get_inputs()}
    return (lambda: session.run(None, feed)), {"onnxruntime": onnxruntime.__version__, "intra_op_threads": int(job["threads"]), "graph_optimization": "all", "file": os.path.basename(path)}


def openvino_peer(wrapper, inputs: list, job: dict):
    import openvino

    path = job["files"].get("openvino")
    if not path:
        raise LookupError("no file for OpenVINO in this cell")
    core = openvino.Core()
    settings = {"INFERENCE_NUM_THREADS": int(job["threads"]), "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(path, "CPU", settings)
    request = compiled.create_infer_request()
    names = [spec["name"] for spec in job["request"]["inputs"]]
    feed = {}
    for port in compiled.inputs:
        name = next((n for n in port.get_names() if n in names), None)
        if name is None:
            raise LookupError(f"the OpenVINO model's input {port.get_any_name()} is none of the request's")
        feed[port] = inputs[names.index(name)].numpy()

    def run():
        result = request.infer(feed)
        return [result[port] for port in compiled.outputs]

    return run, {"openvino": openvino.__version__, "file": os.path.basename(path)} | {k.lower(): v for k, v in settings.items()}


def generate_peer(job: dict) -> dict:
    """transformers' own greedy `generate` (eager, with its cache) on the checkpoint and prompt of
    a generation cell: its ids compared with the reference first, then the prefill (time to first
    token) and whole generations timed under the runtime's rule."""
    torch.set_num_threads(int(job["threads"]))
    os.environ["HFZOO_CHECKPOINT_DIRS"] = json.dumps({job["digest"]: job["checkpoint"]})
    model = export.build_model_classified(job["request"])
    saved = load_file(job["inputs"])
    ids, mask = saved["input_ids"], saved["attention_mask"]
    want = load_file(job["reference"])["tokens"]
    new_tokens = int(want.shape[1])
    settings = dict(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=None,
        pad_token_id=0,
    )
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    with torch.no_grad():
        got = model.generate(**settings)[:, ids.shape[1] :]
    if not torch.equal(got, want):
        row, step = (got != want).nonzero()[0].tolist()
        return {"status": "mismatch", "reason": f"its ids differ from the reference's first at row {row}, step {step}", "versions": versions}

    def prefill():
        with torch.no_grad():
            model(input_ids=ids, attention_mask=mask, use_cache=True)

    def whole():
        with torch.no_grad():
            model.generate(**settings)

    prefill_ms, _ = timed(prefill, job["rule"])
    generate_ms, _ = timed(whole, job["rule"])
    return {"status": "ok", "prefill_ms": prefill_ms, "generate_ms": generate_ms, "versions": versions, "peak_rss_mib": peak_rss_mib()}


MAKERS = {"eager": eager_peer, "compile": compile_peer, "onnxruntime": onnxruntime_peer, "openvino": openvino_peer}


def run_peers(job: dict) -> dict:
    torch.set_num_threads(int(job["threads"]))
    started = time.perf_counter()
    model, wrapper, names, inputs = load(job)
    # Eager PyTorch's load is the checkpoint's: from_pretrained.
    model_load_ms = (time.perf_counter() - started) * 1e3
    answer = {"flops": count_flops(model, wrapper, inputs)}
    reference = load_file(job["reference"])
    with open(job["manifest"]) as file:
        tolerances = json.load(file)["parity"]["outputs"]
    peers = {}
    for name in job["peers"]:
        if name not in MAKERS:
            peers[name] = {"status": "error", "error": f"unknown peer `{name}` (one of: {', '.join(PEERS)})"}
            continue
        log(f"{name}: loading")
        started = time.perf_counter()
        try:
            run, settings = MAKERS[name](wrapper, inputs, job)
            load_ms = model_load_ms if name == "eager" else (time.perf_counter() - started) * 1e3
            began = time.perf_counter()
            first = run()
            first_ms = (time.perf_counter() - began) * 1e3
            why = matches(list(first), reference, names, tolerances)
            if why:
                peers[name] = {"status": "failed-parity", "error": why, "settings": settings}
                continue
            log(f"{name}: timing")
            samples, warmup = timed(run, job["rule"])
            peers[name] = {"status": "ok", "samples": samples, "warmup_runs": warmup, "load_ms": load_ms, "first_ms": first_ms, "settings": settings}
        except Exception as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            peers[name] = {"status": "unsupported", "error": f"{type(error).__name__}: {lines[0][:300] if lines else ''}"}
            log(f"{name}: {peers[name]['error']}")
        peers[name]["peak_rss_mib"] = peak_rss_mib()
    answer["peers"] = peers
    return answer


def main() -> int:
    job = json.load(sys.stdin)
    try:
        command = job["command"]
        if command == "checkpoint":
            answer = make_checkpoint(job)
        elif command == "flops":
            torch.set_num_threads(1)
            model, wrapper, _, inputs = load(job)
            answer = count_flops(model, wrapper, inputs)
        elif command == "peers":
            answer = run_peers(job)
        elif command == "parameters":
            answer = count_parameters(job)
        elif command == "generate":
            answer = generate_peer(job)
        else:
            raise ValueError(f"unknown command {command!r} (checkpoint, parameters, flops, peers, generate)")
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
