"""Generation artifacts: a decoder's step traced twice with its KV cache as tensors in and out.

A request with a `generate` field ({"new_tokens": N}) asks for the `torchscript-generate`
format: `prefill/model.pt` (prompt in, logits of the last position and every layer's keys and
values out) and `decode/model.pt` (one token per row plus the previous keys and values in, the
same out), both traced from one wrapper, `CachedStep`; and `onnx-generate`, the same two steps
as ONNX graphs (`past_<i>_key` in, `present_<i>_key` out) checked on ONNX Runtime, written by
the TorchScript-based exporter or, where its steps fail, the dynamo exporter. The references are transformers' own
`generate` (greedy, N new tokens, its cache) on the request's two prompts: the ids it chose and
the logits of every step. The tolerance of those logits is derived as every output's is
(parity.derive): float32 against float64 on the same weights, here the float64 model's logits
for the reference's own tokens (forced decoding). Before the files are published, the traced
pair must reproduce `generate`'s ids on both prompts.

Position ids follow `generate`'s rule inside the wrapper (cumulative sum of the attention mask,
minus one, zero at padding), so a caller feeds ids, the mask and the cache, nothing else.
Prompts are left-padded, as generation pads them: set b's padded row has its padding first.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import time

import torch

INPUT_NAMES = ["input_ids", "attention_mask"]


class CacheNotCarried(Exception):
    """A cache whose state is not only keys and values per layer (`cache`)."""


class CachedStep(torch.nn.Module):
    """(input_ids [B, S], attention_mask [B, P + S], key_0, value_0, ...) -> (logits of the last
    position [B, V], key_0, value_0, ...): one step of a decoder with its cache as tensors."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.accepts_positions = "position_ids" in inspect.signature(model.forward).parameters

    def forward(self, input_ids, attention_mask, *past):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        if len(past) != 2 * len(cache.layers) and past:
            raise CacheNotCarried(f"{len(past)} past tensors for a cache of {len(cache.layers)} layers")
        for index in range(len(past) // 2):
            cache.layers[index].update(past[2 * index], past[2 * index + 1])
        extra = {}
        if self.accepts_positions:
            positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
            extra["position_ids"] = positions[:, -input_ids.shape[1] :]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, cache=cache, use_cache=True, **extra)
        if getattr(out, "cache", None) is None:
            raise CacheNotCarried(f"the model returns no `cache` ({type(out).__name__})")
        presents = []
        for index, layer in enumerate(out.cache.layers):
            keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
            if not isinstance(keys, torch.Tensor) or not isinstance(values, torch.Tensor):
                raise CacheNotCarried(f"cache layer {index} ({type(layer).__name__}) holds no key and value tensors")
            presents += [keys, values]
        return (out.logits[:, -1, :], *presents)


def check_cache_kind(model: torch.nn.Module, longest: int) -> None:
    """Refuses caches that hold more than keys and values per layer (recurrent or convolution
    state), and sliding-window layers whose window a sequence of `longest` tokens would pass:
    below its window a sliding layer keeps every key and value, so the tensors carry its whole
    state; past it, the layer's position counter would be lost between steps."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    cache = DynamicCache(config=model.config)
    kinds = sorted({type(layer).__name__ for layer in cache.layers})
    others = [k for k in kinds if k not in ("DynamicLayer", "DynamicSlidingWindowLayer")]
    if others or not all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in cache.layers):
        raise CacheNotCarried(f"the cache has layers of kind {', '.join(kinds)}; only key/value layers (DynamicLayer, DynamicSlidingWindowLayer) are carried as tensors yet")
    windows = [layer.sliding_window for layer in cache.layers if isinstance(layer, DynamicSlidingWindowLayer)]
    if windows and min(windows) <= longest:
        raise CacheNotCarried(f"a sliding window of {min(windows)} tokens is shorter than the {longest} tokens generated to; past its window a layer's position is not carried as tensors yet")


def prompts(inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt ids and a left-padded mask from one input set (its padding moved first)."""
    if "input_ids" not in inputs:
        raise ValueError("generation needs `input_ids` among the request's inputs")
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else mask.to(torch.int64).flip(-1)
    return ids, mask


def greedy(step, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, decode=None):
    """Greedy decoding with the cache through `step` (prefill) and `decode` (default `step`):
    the chosen ids [B, N] and each step's logits [B, N, V]."""
    decode = decode or step
    tokens, logits = [], []
    out = step(ids, mask)
    for _ in range(new_tokens):
        # A copy: eager PyTorch's last-position logits are a view that keeps the whole
        # sequence's [B, L, V] alive (17 GB of views at SmolLM2-135M with 128 new tokens).
        step_logits, past = out[0].clone(), list(out[1:])
        chosen = step_logits.argmax(-1)
        tokens.append(chosen)
        logits.append(step_logits)
        if len(tokens) == new_tokens:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = decode(chosen[:, None], mask, *past)
    return torch.stack(tokens, 1), torch.stack(logits, 1)


def greedy_uncached(step, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int):
    """Greedy decoding without the cache: `step` run on the whole grown sequence every time."""
    tokens, logits = [], []
    for _ in range(new_tokens):
        step_logits = step(ids, mask)[0].clone()  # not the view that keeps [B, L, V] alive
        chosen = step_logits.argmax(-1)
        tokens.append(chosen)
        logits.append(step_logits)
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    return torch.stack(tokens, 1), torch.stack(logits, 1)


def reference(model, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int) -> dict:
    """transformers' greedy `generate` with its own cache: ids and each step's logits."""
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=None,
        pad_token_id=0,
        output_logits=True,
        return_dict_in_generate=True,
    )
    return {"tokens": out.sequences[:, ids.shape[1] :].contiguous(), "logits": torch.stack(out.logits, 1).float().contiguous()}


def forced_float64(model, ids: torch.Tensor, mask: torch.Tensor, tokens: torch.Tensor):
    """The float64 model's logits for the reference's own tokens (forced decoding, one forward
    of prompt and tokens), at the positions `generate` chose from; None and why where it fails."""
    try:
        wide = copy.deepcopy(model).double()
        sequence = torch.cat([ids, tokens], dim=1)
        full_mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
        extra = {}
        if "position_ids" in inspect.signature(wide.forward).parameters:
            extra["position_ids"] = (full_mask.cumsum(-1) - 1).masked_fill(full_mask == 0, 0)
        with torch.no_grad():
            logits = wide(input_ids=sequence, attention_mask=full_mask, **extra).logits
        start = ids.shape[1] - 1
        return logits[:, start : start + tokens.shape[1], :].detach(), None
    except Exception as error:
        return None, f"eager float64 failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


def first_divergence(tokens: torch.Tensor, want: torch.Tensor) -> tuple[int, int] | None:
    """(row, step) of the first id that differs from the reference (earliest step first)."""
    differ = (tokens != want).nonzero()
    if differ.numel() == 0:
        return None
    row, step = min(((int(r), int(s)) for r, s in differ), key=lambda rs: (rs[1], rs[0]))
    return row, step


class Prepared:
    """What every format of one generation request shares: the prompts, `generate`'s references
    (and eager PyTorch's without the cache), the logits' tolerance and the step wrapper."""

    def __init__(self, model, request: dict, sets: dict):
        import parity

        self.new_tokens = int(request["generate"]["new_tokens"])
        self.prompt = {name: prompts(inputs) for name, inputs in sets.items()}
        check_cache_kind(model, max(ids.shape[1] for ids, _ in self.prompt.values()) + self.new_tokens)
        self.step = CachedStep(model).eval()
        started = time.perf_counter()
        with torch.no_grad():
            self.references = {name: reference(model, ids, mask, self.new_tokens) for name, (ids, mask) in self.prompt.items()}
        self.reference_ms = (time.perf_counter() - started) * 1e3
        wide, why_not = {}, None
        for name, (ids, mask) in self.prompt.items():
            logits, why_not = forced_float64(model, ids, mask, self.references[name]["tokens"])
            if logits is None:
                wide = None
                break
            wide[name] = {"logits": logits, "tokens": self.references[name]["tokens"]}
        self.tolerances = parity.derive(self.references, wide, why_not)
        # Eager PyTorch without the cache: the reference of the engine's run without it. Most
        # models choose generate's ids either way; one whose cached and uncached computations
        # differ (its own, in eager PyTorch) says so in the manifest, and the engine is held to each.
        # A request with "uncached": false (`bench --generate` at real size, where it is n² work)
        # carries none: the engine is then checked with the cache only.
        self.uncached_divergence = {}
        for name, (ids, mask) in self.prompt.items() if request["generate"].get("uncached", True) else ():
            with torch.no_grad():
                tokens, logits = greedy_uncached(self.step, ids, mask, self.new_tokens)
            self.references[name]["tokens_uncached"] = tokens.contiguous()
            self.references[name]["logits_uncached"] = logits.float().contiguous()
            where = first_divergence(tokens, self.references[name]["tokens"])
            if where is not None:
                self.uncached_divergence[name] = {"row": where[0], "step": where[1]}
        ids, mask = self.prompt["a"]
        with torch.no_grad():
            self.first = self.step(ids, mask)
        self.layers = (len(self.first) - 1) // 2

    def inputs(self) -> dict:
        return {name: {"input_ids": ids, "attention_mask": mask} for name, (ids, mask) in self.prompt.items()}

    def decode_example(self) -> tuple:
        """A decode step's inputs after the first prompt: one id per row, the grown mask, the past."""
        _, mask = self.prompt["a"]
        grown = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        return (self.first[0].argmax(-1)[:, None], grown, *self.first[1:])

    def facts(self, exporter: str, export_ms: float) -> dict:
        facts = {
            "exporter": exporter,
            "export_ms": export_ms,
            "generate_ms": self.reference_ms,
            "new_tokens": self.new_tokens,
            "cache_layers": self.layers,
            "positions_from_mask": self.step.accepts_positions,
        }
        if self.uncached_divergence:
            facts["eager_without_cache_diverges"] = self.uncached_divergence
        return facts

    def check(self, prefill, decode, what: str, failure, log) -> None:
        """`prefill` and `decode` (callables as `greedy` takes them) must give `generate`'s
        logits on both prompts up to the first divergence and at it; else `failure` (an
        exception class)."""
        import parity

        for name, (ids, mask) in self.prompt.items():
            with torch.no_grad():
                tokens, logits = greedy(prefill, ids, mask, self.new_tokens, decode)
            want = self.references[name]
            where = first_divergence(tokens, want["tokens"])
            if where is not None:
                log(f"exporter:   generation: the {what} diverges from generate on set {name} (row {where[0]}, step {where[1]})")
            # Up to and with the first diverging step: its inputs are still the reference's, so
            # its logits must match too (steps that diverge at once would compare nothing).
            upto = where[1] + 1 if where else self.new_tokens
            ok, excess = parity.within(logits[:, :upto], want["logits"][:, :upto], self.tolerances["outputs"]["logits"])
            if not ok:
                raise failure(f"the {what}'s logits on set {name} exceed the tolerance by {excess:.3e} up to the first step whose ids differ")


def past_names(layers: int, prefix: str) -> list[str]:
    """`past_0_key`, `past_0_value`, ... (the layout optimum-onnx uses, flattened)."""
    return [f"{prefix}_{index}_{kind}" for index in range(layers) for kind in ("key", "value")]


def write_torchscript(prepared: Prepared, tmp: str, log) -> dict:
    """`prefill/model.pt` and `decode/model.pt`, traced and checked against `generate`."""
    started = time.perf_counter()
    ids, mask = prepared.prompt["a"]
    with torch.no_grad():
        prefill = torch.jit.trace(prepared.step, (ids, mask), strict=False, check_trace=False)
        decode = torch.jit.trace(prepared.step, prepared.decode_example(), strict=False, check_trace=False)
    for name, module in (("prefill", prefill), ("decode", decode)):
        os.makedirs(os.path.join(tmp, name))
        module.save(os.path.join(tmp, name, "model.pt"))
    trace_ms = (time.perf_counter() - started) * 1e3
    prepared.check(prefill, decode, "traced decode", TraceDiverges, log)
    return prepared.facts(f"torch.jit.trace-{torch.__version__.split('+')[0]}", trace_ms)


def export_step_torchscript(prepared: Prepared, example: tuple, path: str, input_names: list, output_names: list, dynamic: dict) -> None:
    """One step as ONNX with the TorchScript-based exporter (opset 17) and the forward route's
    rewrites of ops it cannot lower (MoE expert counts, ...)."""
    import onnx_export

    with torch.no_grad(), onnx_export.quiet(), onnx_export.batched_experts(prepared.step.model), onnx_export.torchscript_exporter_shims():
        torch.onnx.export(prepared.step, example, path, input_names=input_names, output_names=output_names, dynamic_axes=dynamic, opset_version=onnx_export.OPSET_TORCHSCRIPT, dynamo=False)


def export_step_dynamo(prepared: Prepared, example: tuple, path: str, input_names: list, output_names: list, dynamic: dict) -> None:
    """One step as ONNX with the dynamo exporter (opset 18) under transformers' export patches and
batched experts (transformers' grouped matmul has no ONNX function):
    every axis `dynamic` names is left to torch.export to relate (`Dim.AUTO`: the mask's length
    is the past's plus the new ids')."""
    import onnx_export

    auto = torch.export.Dim.AUTO
    axes = [{axis: auto for axis in dynamic.get(name, {})} or None for name in input_names]
    # Keyed by the wrapper's parameters (input_ids, attention_mask, *past): the past is one tuple.
    shapes = {"input_ids": axes[0], "attention_mask": axes[1]} | ({"past": tuple(axes[2:])} if len(axes) > 2 else {})
    with torch.no_grad(), onnx_export.quiet(), onnx_export.batched_experts(prepared.step.model), onnx_export.backend_patches("onnx"):
        program = torch.onnx.export(prepared.step, example, dynamo=True, opset_version=onnx_export.OPSET_DYNAMO, input_names=input_names, output_names=output_names, dynamic_shapes=shapes, optimize=True, verify=False, report=False)
        program.save(path, external_data=False)


# The routes tried in order, as the forward route's: the next runs when one cannot write both
# steps or its steps fail their check on ONNX Runtime.
STEP_EXPORTERS = (("torchscript-opset17", export_step_torchscript), ("dynamo-opset18", export_step_dynamo))


def write_onnx(prepared: Prepared, tmp: str, log, key: str, model_type: str, exporters: tuple = STEP_EXPORTERS) -> dict:
    """`prefill/model.onnx` and `decode/model.onnx` with the past as inputs and the present as
    outputs, checked on ONNX Runtime against `generate`, from the first of `exporters` whose
    steps pass (else `onnx-check` when some route wrote steps that failed it, `onnx-export`).
    Each folder gets a manifest naming its graph's inputs in port order (engines map by name)."""
    import onnx_export

    errors, checked = [], False
    for exporter, export in exporters:
        shutil.rmtree(os.path.join(tmp, "prefill"), ignore_errors=True)
        shutil.rmtree(os.path.join(tmp, "decode"), ignore_errors=True)
        started = time.perf_counter()
        try:
            write_steps(prepared, tmp, key, model_type, export)
        except CacheNotCarried:
            raise
        except Exception as error:
            errors.append(f"{exporter}: {onnx_export.first_line(error)}")
            continue
        export_ms = (time.perf_counter() - started) * 1e3
        try:
            check_onnx_steps(prepared, tmp, log)
        except onnx_export.ExportFailure as error:
            checked = True
            errors.append(f"{exporter}: {error}")
            continue
        return prepared.facts(exporter, export_ms) | {"inputs": ["input_ids", "attention_mask", *past_names(prepared.layers, "past")], "earlier_errors": errors}
    raise onnx_export.ExportFailure("onnx-check" if checked else "onnx-export", "; ".join(errors))


def write_steps(prepared: Prepared, tmp: str, key: str, model_type: str, export) -> None:
    """Both steps' graphs and manifests with `export` (one of STEP_EXPORTERS' functions)."""
    import json

    import onnx_export

    layers = prepared.layers
    past, present = past_names(layers, "past"), past_names(layers, "present")
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"}, "logits": {0: "batch"}}
    axes.update({name: {0: "batch", 2: "total"} for name in present})
    decode_axes = dict(axes) | {name: {0: "batch", 2: "past"} for name in past}
    ids, mask = prepared.prompt["a"]
    graphs = (("prefill", (ids, mask), ["input_ids", "attention_mask"], axes), ("decode", prepared.decode_example(), ["input_ids", "attention_mask", *past], decode_axes))
    for name, example, input_names, dynamic in graphs:
        os.makedirs(os.path.join(tmp, name))
        path = os.path.join(tmp, name, "model.onnx")
        export(prepared, example, path, input_names, ["logits", *present], dynamic)
        # The graph may drop an input the model ignores: engines map its ports by these names,
        # callers feed `step_inputs` in order.
        graph_inputs, outputs = onnx_export.graph_io(path)
        manifest = {"status": "ok", "key": key, "model_type": model_type, "format": "onnx", "file": "model.onnx", "export": {"inputs": graph_inputs, "outputs": outputs, "step_inputs": input_names}}
        with open(os.path.join(tmp, name, "manifest.json"), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)


def check_onnx_steps(prepared: Prepared, tmp: str, log) -> None:
    """The written steps on ONNX Runtime must reproduce `generate` (Prepared.check), else
    ExportFailure("onnx-check")."""
    import numpy as np
    import onnxruntime

    import onnx_export

    try:
        sessions = {name: onnxruntime.InferenceSession(os.path.join(tmp, name, "model.onnx"), providers=["CPUExecutionProvider"]) for name in ("prefill", "decode")}
    except Exception as error:
        raise onnx_export.ExportFailure("onnx-check", f"ONNX Runtime cannot load the exported steps: {onnx_export.first_line(error)}")

    def run(session, names):
        kept = {i.name for i in session.get_inputs()}

        def call(*tensors):
            feed = {n: t.numpy() for n, t in zip(names, tensors) if n in kept}
            try:
                return [torch.from_numpy(np.asarray(v)) for v in session.run(None, feed)]
            except Exception as error:
                raise onnx_export.ExportFailure("onnx-check", f"ONNX Runtime cannot run the exported steps: {onnx_export.first_line(error)}")
        return call

    prefill = run(sessions["prefill"], ["input_ids", "attention_mask"])
    decode = run(sessions["decode"], ["input_ids", "attention_mask", *past_names(prepared.layers, "past")])

    def mismatch(message):
        return onnx_export.ExportFailure("onnx-check", message)

    prepared.check(prefill, decode, "ONNX steps on ONNX Runtime", mismatch, log)


class TraceDiverges(Exception):
    """The traced steps do not reproduce `generate`'s logits (`trace-specialised`)."""
