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

An encoder-decoder model (`config.is_encoder_decoder`: T5, BART, ...) has its own wrapper,
`EncoderDecoderStep`: the prefill step takes the encoder's prompt (ids and mask) and the
decoder's ids (`generate`'s start token per row), runs the encoder once and returns the logits,
every decoder layer's self-attention keys and values, its cross-attention keys and values, and
the encoder's output; a decode step takes one decoder id per row, the encoder's mask (it does not
grow) and all of those, and returns them with the self-attention ones grown. The caller's loop is
the decoder-only one: what a step returns after the logits goes back in.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import time

import torch
from transformers.modeling_outputs import BaseModelOutput

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


class CarriedEncoderOutput(BaseModelOutput):
    """The encoder's output as a decode step hands it back to the model: its last hidden state,
    and None for any other field (NLLB-MoE copies the encoder's `router_logits` into its output)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


class EncoderDecoderStep(torch.nn.Module):
    """Prefill: (input_ids [B, S], attention_mask [B, S], decoder_input_ids [B, T]) -> (logits of
    the last decoder position [B, V], per decoder layer its self keys, self values, cross keys,
    cross values, then the encoder's output [B, S, H]). Decode: (decoder ids [B, 1], the encoder's
    mask [B, S], what the previous step returned after its logits) -> the same."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.accepts_positions = False

    def forward(self, input_ids, attention_mask, *past):
        from transformers import DynamicCache, EncoderDecoderCache

        own, cross = DynamicCache(), DynamicCache()
        if len(past) == 1:
            # The encoder on its own, as generate runs it (a stack asked for a cache refuses it
            # as an encoder: SwitchTransformers), then the decoder from an empty cache.
            encoded = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
            decoder_ids = past[0]
        else:
            if len(past) % 4 != 1:
                raise CacheNotCarried(f"{len(past)} cache tensors: four per decoder layer and the encoder's output expected")
            *layers, encoded = past
            for index in range(len(layers) // 4):
                own.update(layers[4 * index], layers[4 * index + 1], index)
                cross.update(layers[4 * index + 2], layers[4 * index + 3], index)
            decoder_ids = input_ids
        out = self.model(encoder_outputs=CarriedEncoderOutput(last_hidden_state=encoded), attention_mask=attention_mask, decoder_input_ids=decoder_ids, cache=EncoderDecoderCache(own, cross), use_cache=True)
        cache = getattr(out, "cache", None)
        if not hasattr(cache, "self_attention_cache"):
            raise CacheNotCarried(f"the model returns no encoder-decoder `cache` ({type(cache).__name__})")
        presents = []
        for index, (own, cross) in enumerate(zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers)):
            tensors = [getattr(own, "keys", None), getattr(own, "values", None), getattr(cross, "keys", None), getattr(cross, "values", None)]
            if not all(isinstance(t, torch.Tensor) for t in tensors):
                raise CacheNotCarried(f"decoder layer {index} ({type(own).__name__}, {type(cross).__name__}) holds no key and value tensors")
            presents += tensors
        return (out.logits[:, -1, :], *presents, encoded)


def is_encoder_decoder(model: torch.nn.Module) -> bool:
    """Whether `generate` runs an encoder once and decodes from its output (T5, BART, ...)."""
    return bool(getattr(model.config, "is_encoder_decoder", False))


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


def greedy(step, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, decode=None, start=None):
    """Greedy decoding with the cache through `step` (prefill) and `decode` (default `step`):
    the chosen ids [B, N] and each step's logits [B, N, V]. `start` (an encoder-decoder's first
    decoder ids, [B, 1]) goes to the prefill step; the encoder's mask then stays as it is."""
    decode = decode or step
    tokens, logits = [], []
    out = step(ids, mask) if start is None else step(ids, mask, start)
    for _ in range(new_tokens):
        # A copy: eager PyTorch's last-position logits are a view that keeps the whole
        # sequence's [B, L, V] alive (17 GB of views at SmolLM2-135M with 128 new tokens).
        step_logits, past = out[0].clone(), list(out[1:])
        chosen = step_logits.argmax(-1)
        tokens.append(chosen)
        logits.append(step_logits)
        if len(tokens) == new_tokens:
            break
        if start is None:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = decode(chosen[:, None], mask, *past)
    return torch.stack(tokens, 1), torch.stack(logits, 1)


def greedy_uncached(step, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, start=None):
    """Greedy decoding without the cache: `step` run on the whole grown sequence every time
    (an encoder-decoder's decoder ids grown from `start`, its encoder run again each time)."""
    tokens, logits = [], []
    for _ in range(new_tokens):
        if start is None:
            step_logits = step(ids, mask)[0].clone()  # not the view that keeps [B, L, V] alive
        else:
            step_logits = step(ids, mask, start)[0].clone()
        chosen = step_logits.argmax(-1)
        tokens.append(chosen)
        logits.append(step_logits)
        if start is None:
            ids = torch.cat([ids, chosen[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        else:
            start = torch.cat([start, chosen[:, None]], dim=1)
    return torch.stack(tokens, 1), torch.stack(logits, 1)


# Logits processors a configuration may turn on, turned off: the cell compares raw logits and
# their argmax (BART's configuration forces its end token at the last step, for one).
PLAIN_GREEDY = {
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "repetition_penalty": 1.0,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "bad_words_ids": None,
}


def reference(model, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int) -> dict:
    """transformers' greedy `generate` with its own cache: ids and each step's logits (and, for
    an encoder-decoder model, `start`: the decoder ids it started from, one per row)."""
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
        **PLAIN_GREEDY,
    )
    logits = torch.stack(out.logits, 1).float().contiguous()
    if is_encoder_decoder(model):
        begun = out.sequences.shape[1] - new_tokens
        return {"tokens": out.sequences[:, begun:].contiguous(), "logits": logits, "start": out.sequences[:, :begun].contiguous()}
    return {"tokens": out.sequences[:, ids.shape[1] :].contiguous(), "logits": logits}


def forced_float64(model, ids: torch.Tensor, mask: torch.Tensor, tokens: torch.Tensor, start=None):
    """The float64 model's logits for the reference's own tokens (forced decoding, one forward
    of prompt and tokens; an encoder-decoder's decoder ids from `start`), at the positions
    `generate` chose from; None and why where it fails."""
    try:
        wide = copy.deepcopy(model).double()
        if start is not None:
            with torch.no_grad():
                logits = wide(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.cat([start, tokens[:, :-1]], dim=1)).logits
            return logits[:, start.shape[1] - 1 :, :].detach(), None
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
        self.encoder_decoder = is_encoder_decoder(model)
        if not self.encoder_decoder:
            check_cache_kind(model, max(ids.shape[1] for ids, _ in self.prompt.values()) + self.new_tokens)
        self.step = (EncoderDecoderStep(model) if self.encoder_decoder else CachedStep(model)).eval()
        started = time.perf_counter()
        with torch.no_grad():
            self.references = {name: reference(model, ids, mask, self.new_tokens) for name, (ids, mask) in self.prompt.items()}
        self.reference_ms = (time.perf_counter() - started) * 1e3
        # An encoder-decoder's decoder prompt: the ids `generate` started every row from.
        self.decoder_start = None
        if self.encoder_decoder:
            starts = {tuple(row) for ref in self.references.values() for row in ref.pop("start").tolist()}
            if len(starts) != 1:
                raise ValueError(f"generate started the decoder from different ids per row ({sorted(starts)})")
            self.decoder_start = list(starts.pop())
        wide, why_not = {}, None
        for name, (ids, mask) in self.prompt.items():
            logits, why_not = forced_float64(model, ids, mask, self.references[name]["tokens"], self.start(name))
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
                tokens, logits = greedy_uncached(self.step, ids, mask, self.new_tokens, self.start(name))
            self.references[name]["tokens_uncached"] = tokens.contiguous()
            self.references[name]["logits_uncached"] = logits.float().contiguous()
            where = first_divergence(tokens, self.references[name]["tokens"])
            if where is not None:
                self.uncached_divergence[name] = {"row": where[0], "step": where[1]}
        with torch.no_grad():
            self.first = self.step(*self.prefill_example())
        # Keys and values per layer (an encoder-decoder's self and cross ones, then its encoder's output).
        self.layers = (len(self.first) - 2) // 4 if self.encoder_decoder else (len(self.first) - 1) // 2

    def start(self, name: str):
        """Set `name`'s decoder ids to start from ([B, len(decoder_start)]); None for a decoder-only model."""
        if self.decoder_start is None:
            return None
        ids, _ = self.prompt[name]
        return torch.tensor([self.decoder_start] * ids.shape[0], dtype=torch.int64)

    def prefill_example(self) -> tuple:
        """The prefill step's inputs on set a, as traced: the prompt, and an encoder-decoder's
        start ids twice (two decoder positions: nothing of size 1 for a trace to freeze; LED's
        step traced on one position is 1e-5 off on longer decoder ids)."""
        ids, mask = self.prompt["a"]
        return (ids, mask) if self.decoder_start is None else (ids, mask, self.start("a").repeat(1, 2))

    def prefill_names(self) -> list[str]:
        """The prefill step's input names, in order."""
        return INPUT_NAMES + (["decoder_input_ids"] if self.encoder_decoder else [])

    def cache_names(self, prefix: str) -> list[str]:
        """The names of what a step returns after its logits (`present`) and a decode step takes
        after the ids and the mask (`past`): `<prefix>_<i>_key`, `<prefix>_<i>_value` per layer
        (optimum-onnx's layout, flattened); an encoder-decoder's also `<prefix>_<i>_cross_key`,
        `<prefix>_<i>_cross_value`, then `<prefix>_encoder_hidden_states`."""
        if not self.encoder_decoder:
            return past_names(self.layers, prefix)
        kinds = ("key", "value", "cross_key", "cross_value")
        return [f"{prefix}_{index}_{kind}" for index in range(self.layers) for kind in kinds] + [f"{prefix}_encoder_hidden_states"]

    def inputs(self) -> dict:
        return {name: {"input_ids": ids, "attention_mask": mask} for name, (ids, mask) in self.prompt.items()}

    def decode_example(self) -> tuple:
        """A decode step's inputs after the first prompt: one id per row, the mask (grown by one
        for a decoder-only model), the past."""
        _, mask = self.prompt["a"]
        if not self.encoder_decoder:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        return (self.first[0].argmax(-1)[:, None], mask, *self.first[1:])

    def facts(self, exporter: str, export_ms: float) -> dict:
        facts = {
            "exporter": exporter,
            "export_ms": export_ms,
            "generate_ms": self.reference_ms,
            "new_tokens": self.new_tokens,
            "cache_layers": self.layers,
            "positions_from_mask": self.step.accepts_positions,
        }
        if self.decoder_start is not None:
            facts["decoder_start"] = self.decoder_start
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
                tokens, logits = greedy(prefill, ids, mask, self.new_tokens, decode, self.start(name))
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
    with torch.no_grad():
        prefill = torch.jit.trace(prepared.step, prepared.prefill_example(), strict=False, check_trace=False)
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
        return prepared.facts(exporter, export_ms) | {"inputs": [*INPUT_NAMES, *prepared.cache_names("past")], "earlier_errors": errors}
    raise onnx_export.ExportFailure("onnx-check" if checked else "onnx-export", "; ".join(errors))


def write_steps(prepared: Prepared, tmp: str, key: str, model_type: str, export) -> None:
    """Both steps' graphs and manifests with `export` (one of STEP_EXPORTERS' functions)."""
    import json

    import onnx_export

    past, present = prepared.cache_names("past"), prepared.cache_names("present")
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"}, "logits": {0: "batch"}}
    if prepared.encoder_decoder:
        # The encoder's length (`seq`) is fixed for a prompt; the self-attention cache grows.
        axes |= {"attention_mask": {0: "batch", 1: "seq"}, "decoder_input_ids": {0: "batch", 1: "decoded"}}

    def cache_axes(names: list, length: str) -> dict:
        return {name: ({0: "batch", 1: "seq"} if name.endswith("encoder_hidden_states") else {0: "batch", 2: "seq" if "_cross_" in name else length}) for name in names}

    axes |= cache_axes(present, "total")
    decode_axes = dict(axes) | cache_axes(past, "past")
    if prepared.encoder_decoder:
        # A decode step's ids are the decoder's, not the encoder's `seq` long: an axis named alike
        # would tell the engine they are equal (onnxruntime-web reuses buffers by it).
        decode_axes["input_ids"] = {0: "batch", 1: "new"}
    graphs = (("prefill", prepared.prefill_example(), prepared.prefill_names(), axes), ("decode", prepared.decode_example(), [*INPUT_NAMES, *past], decode_axes))
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

    prefill = run(sessions["prefill"], prepared.prefill_names())
    decode = run(sessions["decode"], [*INPUT_NAMES, *prepared.cache_names("past")])

    def mismatch(message):
        return onnx_export.ExportFailure("onnx-check", message)

    prepared.check(prefill, decode, "ONNX steps on ONNX Runtime", mismatch, log)


class TraceDiverges(Exception):
    """The traced steps do not reproduce `generate`'s logits (`trace-specialised`)."""
