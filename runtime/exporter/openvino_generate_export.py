"""The `openvino-generate` artifact: a decoder's step as one stateful OpenVINO IR.

The same step wrapper as the other generation formats (`generation_export.CachedStep`), converted
by OpenVINO's PyTorch frontend, then made stateful: every layer's keys and values become model
state (OpenVINO's make-stateful transformation pairs `past_<i>_<kind>` with `present_<i>_<kind>`),
so the IR takes only `input_ids` and `attention_mask` and returns only the last position's logits.
A new infer request starts with an empty cache (the state's initial value is zero keys of length 0
for the request's batch); a prompt on it is the prefill, each later call one decode step.

OpenVINO's CPU plugin keeps such a cache in place and computes attention on it in one kernel when
the graph's attention is `ScaledDotProductAttention` reading the state through a gather of its rows
(the form optimum-intel exports): so while converting, the model's attention is torch's
`scaled_dot_product_attention` with an additive float mask and keys and values repeated per head,
and each state is read through `Gather(rows 0..batch)`. Measured on SmolLM2-135M (random weights,
2 threads, prompt 256, 128 steps): 34-40 ms a step against 69-80 ms for the ONNX steps with the past
as tensors, and 32-37 ms for optimum-intel's own IR. A model whose attention has no such path is
converted with its own attention (the state is still kept; the facts say no attention was fused).

Checked before publishing like every generation artifact: greedy decoding through the IR on
OpenVINO, both prompts, must give `generate`'s logits (`generation_export.Prepared.check`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time

import numpy as np
import torch

import generation_export
import onnx_export

ATTENTION = "hfzoo_ov_sdpa"

# What the CPU plugin is told, as the runtime tells it (float32, the cache too: by default the
# plugin keeps a stateful cache in u8).
CPU_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32", "INFERENCE_NUM_THREADS": 1}


class StepsDiverge(Exception):
    """The stateful IR does not reproduce `generate` on OpenVINO."""


@contextlib.contextmanager
def sdpa_attention(model):
    """The model's attention as torch's scaled_dot_product_attention with an additive float mask
    and keys and values repeated per head (no `enable_gqa`) while converting; yields whether the
    model took it (a model without an sdpa path keeps its own)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.integrations import sdpa_attention as sdpa
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(ATTENTION, sdpa.sdpa_attention_forward)
    AttentionMaskInterface.register(ATTENTION, eager_mask)
    current = getattr(model.config, "_attn_implementation", None)
    try:
        model.set_attn_implementation(ATTENTION)
        switched = True
    except Exception:
        switched = False
    use_gqa = sdpa.use_gqa_in_sdpa
    sdpa.use_gqa_in_sdpa = lambda *args, **kwargs: False
    try:
        yield switched
    finally:
        sdpa.use_gqa_in_sdpa = use_gqa
        if switched:
            model.set_attn_implementation(current)


@contextlib.contextmanager
def seeded_cache_layers():
    """A cache layer starts from keys and values of length 0 in the rank of the ones it gets:
    transformers starts from an empty 1-D tensor and concatenates, which OpenVINO's frontend
    cannot convert (`SequenceMark, aten::cat`)."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    classes = [c for c in (DynamicLayer, DynamicSlidingWindowLayer) if "lazy_initialization" in vars(c)]
    originals = {c: vars(c)["lazy_initialization"] for c in classes}

    def patched(original):
        def lazy_initialization(self, key_states, value_states, *args, **kwargs):
            original(self, key_states, value_states, *args, **kwargs)
            self.keys, self.values = key_states[..., :0, :], value_states[..., :0, :]

        return lazy_initialization

    for c in classes:
        c.lazy_initialization = patched(originals[c])
    try:
        yield
    finally:
        for c, original in originals.items():
            c.lazy_initialization = original


def conversion_example(prepared) -> tuple:
    """Two new ids per row after prompt a, its mask grown by two with the last row's first
    position masked, and prompt a's keys and values: no dimension of 1 or of another's size for
    the trace to freeze."""
    ids, mask = prepared.prompt["a"]
    chosen = prepared.first[0].argmax(-1)[:, None]
    grown = torch.cat([mask, torch.ones_like(mask[:, :2])], dim=1)
    grown[-1, 0] = 0
    return (torch.cat([chosen, chosen], dim=1), grown, *prepared.first[1:])


def make_stateful(model, prepared) -> None:
    """Keys and values as state, each read through a gather of rows 0..batch, starting empty."""
    import openvino.opset13 as ops
    from openvino._offline_transformations import apply_make_stateful_transformation

    layers = prepared.layers
    past, present = generation_export.past_names(layers, "past"), generation_export.past_names(layers, "present")
    apply_make_stateful_transformation(model, dict(zip(past, present)))
    shape = ops.shape_of(model.input("input_ids"), output_type="i64")
    batch = ops.gather(shape, ops.constant([0]), ops.constant(0))
    rows = ops.range(ops.constant(np.int64(0)), ops.squeeze(batch, ops.constant([0])), ops.constant(np.int64(1)), output_type="i32")
    examples = dict(zip(past, prepared.first[1:]))
    for op in model.get_ops():
        if op.get_type_name() != "ReadValue":
            continue
        name = next((n for n in past if op.get_variable_id().startswith(n + "present_")), None)
        if name is None:
            raise ValueError(f"state `{op.get_variable_id()}` pairs no past input")
        example = examples[name]
        dims = [batch] + [ops.constant(np.array([0 if axis == 2 else example.shape[axis]], dtype=np.int64)) for axis in range(1, example.dim())]
        op.set_arguments([ops.broadcast(ops.constant(np.array(0, dtype=np.float32)), ops.concat(dims, 0))])
        for consumer in list(op.output(0).get_target_inputs()):
            if consumer.get_node().get_type_name() != "Assign":
                consumer.replace_source_output(ops.gather(op.output(0), rows, ops.constant(0)).output(0))
    model.validate_nodes_and_infer_types()


def convert(prepared, attention: bool):
    """The stateful OpenVINO model of `prepared`'s step, and whether its attention is sdpa."""
    import openvino

    model = prepared.step.model
    layers = prepared.layers
    names = ["input_ids", "attention_mask", *generation_export.past_names(layers, "past")]
    outputs = ["logits", *generation_export.past_names(layers, "present")]
    context = sdpa_attention(model) if attention else contextlib.nullcontext(False)
    with torch.no_grad(), onnx_export.quiet(), onnx_export.batched_experts(model), onnx_export.backend_patches("openvino"), seeded_cache_layers(), context as switched:
        converted = openvino.convert_model(prepared.step, example_input=conversion_example(prepared))
    if len(converted.inputs) != len(names) or len(converted.outputs) != len(outputs):
        raise ValueError(f"the converted step has {len(converted.inputs)} inputs and {len(converted.outputs)} outputs, not {len(names)} and {len(outputs)}")
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    for port, name in zip(converted.outputs, outputs):
        port.get_tensor().set_names({name})
    make_stateful(converted, prepared)
    return converted, switched


def fused_attention_layers(compiled) -> int:
    """How many attention layers the CPU plugin runs as one kernel on the cache."""
    return sum(1 for node in compiled.get_runtime_model().get_ops() if node.get_rt_info()["layerType"].astype(str) == "ScaledDotProductAttention")


def check(prepared, path: str, log) -> int:
    """Greedy decoding through the IR on OpenVINO must give `generate`'s logits on both prompts
    (StepsDiverge otherwise); returns the attention layers fused."""
    import openvino

    compiled = openvino.Core().compile_model(path, "CPU", CPU_CONFIG)
    session = {}

    def prefill(ids, mask):
        session["request"] = compiled.create_infer_request()  # a new request: an empty cache
        return decode(ids, mask)

    def decode(ids, mask, *past):
        out = session["request"].infer({"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        return [torch.from_numpy(np.array(out["logits"]))]

    prepared.check(prefill, decode, "stateful OpenVINO IR", StepsDiverge, log)
    return fused_attention_layers(compiled)


def reason(error: Exception) -> str:
    """An error's cause in one line: for OpenVINO's frontend, the operations it could not convert
    (its first line only names a check in its own source)."""
    text = str(error)
    for pattern in (r"Conversion is failed for: ([^\n]+)", r"No conversion rule found for operations: ([^\n]+)"):
        found = re.search(pattern, text)
        if found:
            return f"{type(error).__name__}: OpenVINO's PyTorch frontend cannot convert {found.group(1).strip()}"
    return onnx_export.first_line(error)


def write_openvino(prepared, tmp: str, log) -> dict:
    """`model.xml` and `model.bin` (float32), checked; the model's own attention where the sdpa
    form cannot be converted or does not match. Failures are `openvino-convert`."""
    import openvino

    if prepared.encoder_decoder:
        # Its cross-attention keys and values are computed once, at prefill: state the
        # make-stateful transformation pairs with no present output. The ONNX steps run it.
        raise onnx_export.ExportFailure("openvino-convert", "an encoder-decoder model's cross-attention cache is not made OpenVINO state yet; its ONNX steps run instead")
    path = os.path.join(tmp, "model.xml")
    with sdpa_attention(prepared.step.model) as takes_sdpa:
        pass
    # A model without an sdpa path converts with its own attention once.
    errors = [] if takes_sdpa else ["sdpa: the model has no sdpa attention path"]
    for attention in (True, False) if takes_sdpa else (False,):
        started = time.perf_counter()
        try:
            converted, switched = convert(prepared, attention)
            openvino.save_model(converted, path, compress_to_fp16=False)
            export_ms = (time.perf_counter() - started) * 1e3
            fused = check(prepared, path, log)
        except Exception as error:
            cause = error
            while cause is not None and not isinstance(cause, generation_export.CacheNotCarried):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause  # the model's cache, not the route (the frontend wraps it): filed as `cache`
            errors.append(f"{'sdpa' if attention else 'own attention'}: {reason(error)}")
            continue
        facts = prepared.facts(f"openvino-pytorch-frontend-{openvino.__version__.split('-')[0]}+stateful", export_ms)
        return facts | {"inputs": ["input_ids", "attention_mask"], "attention": "sdpa" if switched else "own", "fused_attention_layers": fused, "earlier_errors": errors}
    raise onnx_export.ExportFailure("openvino-convert", "; ".join(errors))
