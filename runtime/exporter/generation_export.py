"""Generation artifacts: a decoder's step traced twice with its KV cache as tensors in and out.

A request with a `generate` field ({"new_tokens": N}) asks for the `torchscript-generate`
format: `prefill/model.pt` (prompt in, logits of the last position and every layer's keys and
values out) and `decode/model.pt` (one token per row plus the previous keys and values in, the
same out), both traced from one wrapper, `CachedStep`. The references are transformers' own
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
        step_logits, past = out[0], list(out[1:])
        chosen = step_logits.argmax(-1)
        tokens.append(chosen)
        logits.append(step_logits)
        if len(tokens) == new_tokens:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = decode(chosen[:, None], mask, *past)
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


def export(model, request: dict, sets: dict, tmp: str, log) -> dict:
    """Writes `prefill/model.pt` and `decode/model.pt` into `tmp`; returns (facts, sets, references,
    tolerances) with the inputs and references per set."""
    import parity

    new_tokens = int(request["generate"]["new_tokens"])
    prompt = {name: prompts(inputs) for name, inputs in sets.items()}
    check_cache_kind(model, max(ids.shape[1] for ids, _ in prompt.values()) + new_tokens)
    step = CachedStep(model).eval()
    started = time.perf_counter()
    with torch.no_grad():
        references = {name: reference(model, ids, mask, new_tokens) for name, (ids, mask) in prompt.items()}
    reference_ms = (time.perf_counter() - started) * 1e3

    started = time.perf_counter()
    ids, mask = prompt["a"]
    with torch.no_grad():
        first = step(ids, mask)
        grown = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        example = (first[0].argmax(-1)[:, None], grown, *first[1:])
        prefill = torch.jit.trace(step, (ids, mask), strict=False, check_trace=False)
        decode = torch.jit.trace(step, example, strict=False, check_trace=False)
    for name, module in (("prefill", prefill), ("decode", decode)):
        os.makedirs(os.path.join(tmp, name))
        module.save(os.path.join(tmp, name, "model.pt"))
    trace_ms = (time.perf_counter() - started) * 1e3

    wide, why_not = {}, None
    for name, (ids, mask) in prompt.items():
        logits, why_not = forced_float64(model, ids, mask, references[name]["tokens"])
        if logits is None:
            wide = None
            break
        wide[name] = {"logits": logits, "tokens": references[name]["tokens"]}
    tolerances = parity.derive(references, wide, why_not)

    # The traced pair must give generate's ids on both prompts before anything is published.
    for name, (ids, mask) in prompt.items():
        with torch.no_grad():
            tokens, logits = greedy(prefill, ids, mask, new_tokens, decode)
        want = references[name]
        where = first_divergence(tokens, want["tokens"])
        if where is not None:
            row, at = where
            log(f"exporter:   generation: the traced steps diverge from generate on set {name} (row {row}, step {at})")
        ok, excess = parity.within(logits[:, : where[1] if where else new_tokens], want["logits"][:, : where[1] if where else new_tokens], tolerances["outputs"]["logits"])
        if not ok:
            raise TraceDiverges(f"the traced decode's logits on set {name} exceed the tolerance by {excess:.3e} before any id differs")
    inputs = {name: {"input_ids": ids, "attention_mask": mask} for name, (ids, mask) in prompt.items()}
    layers = len(first) // 2
    facts = {
        "exporter": f"torch.jit.trace-{torch.__version__.split('+')[0]}",
        "export_ms": trace_ms,
        "generate_ms": reference_ms,
        "new_tokens": new_tokens,
        "cache_layers": layers,
        "positions_from_mask": step.accepts_positions,
    }
    return facts, inputs, references, tolerances


class TraceDiverges(Exception):
    """The traced steps do not reproduce `generate`'s logits (`trace-specialised`)."""
