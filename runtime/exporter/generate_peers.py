"""The generation peers of `bench --generate` that cannot share the exporter's environment: they
run from .venv-peers (scripts/setup-peers.sh), whose optimum-intel pins another transformers.

One JSON job on stdin, one JSON answer on stdout, progress on stderr:

    {"checkpoint": DIR, "work": DIR, "inputs": FILE, "reference": FILE, "threads": N,
     "rule": {...}, "peer": "optimum-intel" | "openvino-genai" | "onnxruntime-genai"}

answers {"status", "reason", "prefill_ms", "generate_ms", "versions", "settings", "export_ms",
"peak_rss_mib"}: one peer per process, so that its peak memory is its own and a crash of one
engine leaves the others' answers.

- optimum-intel: its exporter writes the checkpoint as a stateful OpenVINO IR (past keys and
  values as model state, float32 weights) into `work`/openvino once; OVModelForCausalLM
  generates on it with transformers' `generate`.
- openvino-genai: LLMPipeline on the same IR, fed token ids (the checkpoint has no tokenizer).
- onnxruntime-genai: its model builder writes an ONNX decoder with past inputs and outputs
  (float32, CPU) into `work`/onnxruntime-genai once; its Generator decodes greedily.

Every engine runs float32 (OpenVINO's `INFERENCE_PRECISION_HINT=f32` and
`KV_CACHE_PRECISION=f32`: the CPU plugin otherwise runs bf16 where the CPU has it and keeps the
cache in u8) at `threads` threads. A peer's ids on prompt set a are compared with the
reference's first: one that differs is `mismatch`, not timed. Then, under the runtime's timing
rule, generation of one token (the time to first token) and whole generations are timed, as
for transformers' `generate` in bench_peers.py. A peer that cannot load or run the model is
`unsupported` with its error.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from peer_measure import peak_rss_mib, timed  # noqa: E402

PEERS = ("optimum-intel", "openvino-genai", "onnxruntime-genai")


def log(message: str) -> None:
    print(f"generate-peers: {message}", file=sys.stderr, flush=True)


def versions(*packages: str) -> dict:
    return {package: importlib.metadata.version(package) for package in packages}


def differs(got, want: np.ndarray) -> str | None:
    """Why generated ids `got` ([rows, new]) are not the reference's, or None."""
    got = np.asarray(got, dtype=np.int64)
    if got.shape != want.shape:
        return f"it generated ids of shape {list(got.shape)}, the reference {list(want.shape)}"
    where = np.argwhere(got != want)
    if len(where):
        row, step = where[0].tolist()
        return f"its ids differ from the reference's first at row {row}, step {step}"
    return None


def unused_id(want: np.ndarray) -> int:
    """The smallest token id that `want` never holds."""
    used = set(want.flatten().tolist())
    return next(token for token in range(len(used) + 1) if token not in used)


def openvino_properties(threads: int) -> dict:
    return {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}


def built(out: str, make, what: str) -> float:
    """Makes `out` once with `make(tmp)` (into a temporary folder moved into place when complete);
    the ms it took, 0 when it was there."""
    if os.path.isdir(out):
        return 0.0
    tmp = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"{what} into {out}")
    started = time.perf_counter()
    make(tmp)
    os.replace(tmp, out)
    return (time.perf_counter() - started) * 1e3


def run_tool(args: list[str]) -> None:
    done = subprocess.run(args, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{' '.join(args[:4])} failed ({done.returncode}): {lines[-1] if lines else ''}")


def openvino_ir(job: dict) -> tuple[str, float]:
    """optimum-intel's stateful IR of the checkpoint (float32 weights), made once."""
    out = os.path.join(job["work"], "openvino")
    cli = os.path.join(os.path.dirname(sys.executable), "optimum-cli")
    ms = built(out, lambda tmp: run_tool([cli, "export", "openvino", "--model", job["checkpoint"], "--task", "text-generation-with-past", "--weight-format", "fp32", tmp]), "optimum-cli export openvino")
    return out, ms


def optimum_intel(job: dict, ids, mask, want):
    from optimum.intel import OVModelForCausalLM
    import torch

    torch.set_num_threads(int(job["threads"]))
    path, export_ms = openvino_ir(job)
    properties = openvino_properties(int(job["threads"]))
    model = OVModelForCausalLM.from_pretrained(path, ov_config={k: str(v) for k, v in properties.items()}, compile=True)
    settings = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), do_sample=False, num_beams=1, eos_token_id=None, pad_token_id=0)

    def generate(tokens: int):
        return model.generate(**{**settings, "max_new_tokens": tokens, "min_new_tokens": tokens})[:, ids.shape[1] :].numpy()

    return generate, {"ov_config": properties, "ir": "optimum-cli export openvino --task text-generation-with-past --weight-format fp32 (stateful)"}, export_ms, versions("optimum-intel", "openvino", "transformers", "torch")


def openvino_genai(job: dict, ids, mask, want):
    import openvino as ov
    import openvino_genai

    path, export_ms = openvino_ir(job)
    properties = openvino_properties(int(job["threads"]))
    # Its default scheduler caches prefixes: every timed run after the first would find the
    # prompt's cache and skip the prefill (a 48 ms "TTFT" for SmolLM2-135M's 256 tokens).
    scheduler = openvino_genai.SchedulerConfig()
    scheduler.enable_prefix_caching = False
    pipe = openvino_genai.LLMPipeline(path, "CPU", scheduler_config=scheduler, **properties)
    inputs = openvino_genai.TokenizedInputs(ov.Tensor(ids), ov.Tensor(mask))

    def generate(tokens: int):
        config = openvino_genai.GenerationConfig()
        config.max_new_tokens = tokens
        config.ignore_eos = True
        config.do_sample = False
        return np.asarray(pipe.generate(inputs, config).tokens)

    return generate, {"properties": properties, "ir": "the same IR as optimum-intel", "ignore_eos": True, "enable_prefix_caching": False}, export_ms, versions("openvino-genai", "openvino")


def onnxruntime_genai(job: dict, ids, mask, want):
    import onnxruntime_genai as og

    if not (mask == 1).all():
        raise ValueError("the prompt is padded; onnxruntime-genai's append_tokens takes unpadded rows")
    out = os.path.join(job["work"], "onnxruntime-genai")

    def build(tmp: str) -> None:
        run_tool([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", job["checkpoint"], "-o", tmp, "-p", "fp32", "-e", "cpu", "-c", os.path.join(job["work"], "builder-cache")])

    export_ms = built(out, build, "onnxruntime_genai.models.builder -p fp32 -e cpu")
    # The reference decodes past any end-of-sequence token; the Generator stops at one and takes
    # only ids within the vocabulary, so its end is an id the reference never generates.
    end = unused_id(want)
    config = og.Config(out)
    config.overlay(json.dumps({"model": {"eos_token_id": end, "decoder": {"session_options": {"intra_op_num_threads": int(job["threads"])}}}}))
    model = og.Model(config)
    prompt = ids.shape[1]

    def generate(tokens: int):
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=prompt + tokens, do_sample=False, batch_size=ids.shape[0])
        generator = og.Generator(model, params)
        generator.append_tokens(ids.astype(np.int32))
        while not generator.is_done():
            generator.generate_next_token()
        return np.stack([np.asarray(generator.get_sequence(row))[prompt:] for row in range(ids.shape[0])])

    return generate, {"builder": "-p fp32 -e cpu", "intra_op_num_threads": int(job["threads"]), "eos_token_id": end}, export_ms, versions("onnxruntime-genai", "onnxruntime")


MAKERS = {"optimum-intel": optimum_intel, "openvino-genai": openvino_genai, "onnxruntime-genai": onnxruntime_genai}


def run(job: dict) -> dict:
    name = job["peer"]
    if name not in MAKERS:
        raise ValueError(f"unknown peer `{name}` (one of: {', '.join(PEERS)})")
    os.makedirs(job["work"], exist_ok=True)
    saved = load_file(job["inputs"])
    ids, mask = saved["input_ids"].astype(np.int64), saved["attention_mask"].astype(np.int64)
    want = load_file(job["reference"])["tokens"].astype(np.int64)
    new_tokens = int(want.shape[1])
    log(f"{name}: loading")
    answer: dict = {}
    try:
        generate, settings, export_ms, answer["versions"] = MAKERS[name](job, ids, mask, want)
        answer.update(settings=settings, export_ms=export_ms)
        why = differs(generate(new_tokens), want)
        if why:
            answer.update(status="mismatch", reason=why)
        else:
            log(f"{name}: timing")
            prefill_ms, _ = timed(lambda: generate(1), job["rule"])
            generate_ms, _ = timed(lambda: generate(new_tokens), job["rule"])
            answer.update(status="ok", prefill_ms=prefill_ms, generate_ms=generate_ms)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        lines = [line for line in str(error).splitlines() if line.strip()]
        answer.update(status="unsupported", reason=f"{type(error).__name__}: {lines[0][:300] if lines else ''}")
    answer["peak_rss_mib"] = peak_rss_mib()
    log(f"{name}: {answer['status']}{': ' + answer['reason'] if answer.get('reason') else ''}")
    return answer


def main() -> int:
    try:
        answer = run(json.load(sys.stdin))
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
