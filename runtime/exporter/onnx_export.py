"""ONNX and OpenVINO IR writers of the batch exporter (export.py imports this module).

Three artifact formats come from here, all from the same traced wrapper, input sets and
references as the TorchScript artifact:

- `onnx`: `torch.onnx.export` with the TorchScript-based exporter at opset 17 (asked for
  explicitly: since torch 2.9 the default is the dynamo exporter) and the dynamic axes the
  request declares; where it fails, the dynamo exporter at opset 18. The manifest records
  which exporter wrote the file. Every file is then run by ONNX Runtime (CPU) on both input
  sets: a graph that does not run, returns other shapes or other values than eager PyTorch on
  the second set has a shape or a branch frozen into it. Such a file is written again by the
  next exporter and checked in turn (whisper's TorchScript-based graph feeds a bool tensor to
  CumSum; the dynamo exporter's runs); when no exporter's file passes, the format fails as
  `onnx-check` naming each exporter's failure: an export limit, not a backend failure.
- `onnx-static`: the same export with every dimension fixed, one file per input set
  (`model.onnx` for set a, `model_b.onnx` for set b), for engines that need static shapes
  (Qualcomm QNN, WebNN).
- `openvino-ir`: OpenVINO's own PyTorch frontend (`openvino.convert_model` on the wrapper, the
  route optimum-intel takes), saved as IR in float32 (`compress_to_fp16=False`).

Both ONNX exporters run under transformers' own export patches for the backend
(`transformers.exporters.utils.apply_patches`: `torch.histc` as a scatter-add, and others)
and this exporter's trace shims.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time

import numpy as np
import torch

import contract
import parity

OPSET_TORCHSCRIPT = 17
OPSET_DYNAMO = 18


class ExportFailure(Exception):
    """A format could not be written: carries the metadata's failure category."""

    def __init__(self, category: str, message: str):
        self.category = contract.category(category)
        super().__init__(message)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(error: BaseException) -> str:
    """The root cause's first line: the dynamo exporter wraps the real error in a banner."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [ANSI.sub("", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    text = lines[0] if lines else ""
    return f"{type(error).__name__}: {text}"[:400]


def histc_by_comparison(input, bins=100, min=0, max=0, *, out=None):
    """`torch.histc` as comparisons and a sum (ONNX has no histogram operator; mixture-of-experts
    layers count tokens per expert with it): the same counts, bins of equal width over
    [min, max], the last bin closed, values outside ignored, min = max = 0 meaning the data's range."""
    if out is not None:
        raise TypeError("histc(out=...) is not supported while exporting")
    flat = input.reshape(-1).to(torch.float32)
    if min == 0 and max == 0:
        low, high = flat.min(), flat.max()
    else:
        low = torch.tensor(float(min), dtype=torch.float32)
        high = torch.tensor(float(max), dtype=torch.float32)
    width = (high - low) / bins
    index = torch.floor((flat - low) / width).clamp(0, bins - 1)
    inside = (flat >= low) & (flat <= high)
    hits = (index.unsqueeze(-1) == torch.arange(bins, dtype=torch.float32).unsqueeze(0)) & inside.unsqueeze(-1)
    return hits.to(input.dtype if input.is_floating_point() else torch.float32).sum(0)


def diff_by_slices(input, n=1, dim=-1, prepend=None, append=None):
    """`torch.diff` as slices and a subtraction (the TorchScript-based ONNX exporter has no `aten::diff`)."""
    parts = [t for t in (prepend, input, append) if t is not None]
    value = torch.cat(parts, dim=dim) if len(parts) > 1 else input
    for _ in range(n):
        length = value.size(dim)
        later = value.narrow(dim, 1, length - 1)
        earlier = value.narrow(dim, 0, length - 1)
        value = torch.logical_xor(later, earlier) if value.dtype == torch.bool else later - earlier
    return value


def isin_by_comparison(elements, test_elements, *, assume_unique=False, invert=False):
    """`torch.isin` as an equality against every test element and an `any` (the TorchScript-based
    ONNX exporter has no `aten::isin`; grounding-dino finds its delimiter tokens with it)."""
    elements = elements if isinstance(elements, torch.Tensor) else torch.tensor(elements)
    tests = test_elements if isinstance(test_elements, torch.Tensor) else torch.tensor(test_elements)
    hits = (elements.unsqueeze(-1) == tests.reshape(-1).to(elements.dtype)).any(-1)
    return ~hits if invert else hits


def searchsorted_by_comparison(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """`torch.searchsorted` as a count of the sorted entries before each value (the TorchScript-based
    ONNX exporter has no `aten::searchsorted`): the same index, for a sorted last dimension."""
    if sorter is not None or out is not None:
        raise TypeError("searchsorted(sorter=..., out=...) is not supported while exporting")
    right = right or side == "right"
    values = values if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=sorted_sequence.dtype)
    scalar = values.dim() == 0
    values = values.reshape(1) if scalar else values
    if sorted_sequence.dim() == 1:
        before = sorted_sequence <= values.unsqueeze(-1) if right else sorted_sequence < values.unsqueeze(-1)
    else:
        ahead = sorted_sequence.unsqueeze(-2)
        before = ahead <= values.unsqueeze(-1) if right else ahead < values.unsqueeze(-1)
    index = before.sum(-1).to(torch.int32 if out_int32 else torch.int64)
    return index.reshape(()) if scalar else index


def cumulative_extreme_by_comparison(largest: bool):
    """`torch.cummax` (`largest`) or `torch.cummin` as an extreme over a lower-triangular mask
    (the TorchScript-based ONNX exporter has neither; grounding-dino finds the previous and next
    delimiter token with them): the same values, and on ties the latest index, as torch returns."""
    result = torch.return_types.cummax if largest else torch.return_types.cummin

    def extreme(input, dim, *, out=None):
        if out is not None:
            raise TypeError("cummax/cummin(out=...) is not supported while exporting")
        # Dimensions as non-negative numbers: the exporter writes a negative one into the ONNX
        # Transpose's `perm`, which ONNX Runtime and OpenVINO reject.
        last, dim = input.dim() - 1, dim % input.dim()
        x = input if dim == last else input.movedim(dim, last)
        position = torch.arange(x.size(-1), device=x.device)
        later = position.unsqueeze(0) > position.unsqueeze(1)  # [i, j]: j comes after i
        if x.is_floating_point():
            neutral = float("-inf") if largest else float("inf")
        else:
            neutral = torch.iinfo(x.dtype).min if largest else torch.iinfo(x.dtype).max
        seen = torch.where(later, torch.full((), neutral, dtype=x.dtype, device=x.device), x.unsqueeze(-2))
        values = seen.max(-1).values if largest else seen.min(-1).values
        hits = (seen == values.unsqueeze(-1)) & ~later
        indices = torch.where(hits, position, torch.full((), -1, dtype=position.dtype, device=x.device)).max(-1).values
        if dim != last:
            values, indices = values.movedim(last, dim), indices.movedim(last, dim)
        return result((values, indices))

    return extreme


def cumsum_of_bool_as_int(original):
    """`cumsum` of a bool tensor with the bool cast first to the integer type torch sums it in
    (int64, or the `dtype` asked for): the same result, while the TorchScript-based ONNX exporter
    would feed the bool tensor to CumSum, which ONNX Runtime and OpenVINO reject (attention-mask
    position ids in many language models). Other calls go through."""

    def cumsum(input, dim, *, dtype=None, out=None):
        if out is None and isinstance(input, torch.Tensor) and input.dtype == torch.bool:
            input = input.to(dtype or torch.int64)
        if out is not None:
            return original(input, dim, dtype=dtype, out=out)
        return original(input, dim, dtype=dtype)

    return cumsum


def eye_of_bool_as_float(original):
    """`torch.eye(..., dtype=torch.bool)` made in float32 and compared: the same mask, while the
    TorchScript-based exporter would write a bool EyeLike, which ONNX Runtime has no kernel for
    (grounding-dino's text self-attention mask). Other calls go through."""

    def eye(*args, **kwargs):
        if kwargs.get("dtype") == torch.bool and kwargs.get("out") is None:
            return original(*args, **(kwargs | {"dtype": torch.float32})) != 0
        return original(*args, **kwargs)

    return eye


def solve_triangular_by_substitution(original):
    """`torch.linalg.solve_triangular` by forward or back substitution over rows (the
    TorchScript-based ONNX exporter has no `aten::linalg_solve_triangular`; gated delta-net layers
    solve a chunk-sized unit lower-triangular system with it): the same solution, as matmuls and
    divisions, one step per row of a system whose size is fixed by the configuration. Solves from
    the right (`left=False`) go through the original."""

    def solve(A, B, *, upper, left=True, unitriangular=False, out=None):
        if out is not None or not left:
            return original(A, B, upper=upper, left=left, unitriangular=unitriangular, out=out)
        size = int(A.shape[-1])
        rows = [None] * size
        order = range(size - 1, -1, -1) if upper else range(size)
        for i in order:
            done = [j for j in (range(i + 1, size) if upper else range(i)) if rows[j] is not None]
            value = B[..., i, :]
            if done:
                known = torch.stack([rows[j] for j in done], dim=-2)
                weights = A[..., i, done[0]:done[-1] + 1]
                value = value - (weights.unsqueeze(-2) @ known).squeeze(-2)
            rows[i] = value if unitriangular else value / A[..., i, i].unsqueeze(-1)
        return torch.stack(rows, dim=-2)

    return solve


@contextlib.contextmanager
def batched_experts(model):
    """Mixture-of-experts layers computed with `torch.bmm` on gathered expert weights
    (transformers' `batched_mm` experts implementation) while exporting: the default grouped
    matmul (`aten::_grouped_mm`, with offsets counted by `histc`) has no ONNX or OpenVINO
    lowering. The same function of the same weights; the export-time check compares it with
    the eager reference."""
    current = getattr(getattr(model, "config", None), "_experts_implementation", None)
    switch = current not in (None, "batched_mm") and hasattr(model, "set_experts_implementation")
    if switch:
        try:
            model.set_experts_implementation("batched_mm")
        except Exception:
            switch = False
    try:
        yield
    finally:
        if switch:
            model.set_experts_implementation(current)


def avg_pool2d_whole_window_as_mean(original):
    """`avg_pool2d` whose window covers the whole input, ceil mode, no padding (EfficientNet's
    pooler: a kernel of `hidden_dim`, 1280 at full size, over a 7x7 map) is the mean over the
    spatial dimensions, which every engine runs; the ONNX AveragePool with a kernel larger than
    its input is rejected by OpenVINO and has no WebGPU kernel. Other calls go through."""

    def pool(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        unpadded = all(side == 0 for side in ((padding,) if isinstance(padding, int) else padding))
        # (While the TorchScript-based exporter traces, sizes are tensors: int() reads them.)
        height, width = int(input.shape[-2]), int(input.shape[-1])
        if ceil_mode and unpadded and divisor_override is None and kernel[0] >= height and kernel[1] >= width:
            return input.mean(dim=(-2, -1), keepdim=True)
        return original(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    return pool


@contextlib.contextmanager
def torchscript_exporter_shims():
    """Ops the TorchScript-based ONNX exporter cannot lower (or lowers to nodes engines refuse),
    rewritten while it traces."""
    saved = {name: getattr(torch, name) for name in ("histc", "diff", "isin", "searchsorted", "cummax", "cummin", "cumsum", "eye")}
    saved_methods = {name: getattr(torch.Tensor, name) for name in ("histc", "diff", "cumsum")}
    saved_pool = torch.nn.functional.avg_pool2d
    saved_solve = torch.linalg.solve_triangular
    torch.histc = histc_by_comparison
    torch.diff = diff_by_slices
    torch.isin = isin_by_comparison
    torch.searchsorted = searchsorted_by_comparison
    torch.cummax = cumulative_extreme_by_comparison(largest=True)
    torch.cummin = cumulative_extreme_by_comparison(largest=False)
    torch.cumsum = cumsum_of_bool_as_int(saved["cumsum"])
    torch.eye = eye_of_bool_as_float(saved["eye"])
    torch.Tensor.cumsum = cumsum_of_bool_as_int(saved_methods["cumsum"])
    torch.Tensor.histc = histc_by_comparison
    torch.Tensor.diff = diff_by_slices
    torch.nn.functional.avg_pool2d = avg_pool2d_whole_window_as_mean(saved_pool)
    torch.linalg.solve_triangular = solve_triangular_by_substitution(saved_solve)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(torch, name, value)
        for name, value in saved_methods.items():
            setattr(torch.Tensor, name, value)
        torch.nn.functional.avg_pool2d = saved_pool
        torch.linalg.solve_triangular = saved_solve


@contextlib.contextmanager
def reshape_keeps_zero_sizes():
    """`view` and `reshape` exported with ONNX's `allowzero=1`: a 0 in the target shape is a
    dimension of size 0, as in PyTorch (GLM-5 Next's rotary part has `qk_rope_head_dim: 0`).
    The TorchScript-based exporter writes `allowzero=0` (a 0 copies the input's dimension), for
    an old ONNX Runtime bug; this route is tried only after the others' files failed their check."""
    from torch.onnx._internal.torchscript_exporter import symbolic_helper

    def reshape(g, self, shape):
        return symbolic_helper._reshape_helper(g, self, shape, allowzero=1)

    def reshape_as(g, self, other):
        return reshape(g, self, g.op("Shape", other))

    symbolics = {"aten::reshape": reshape, "aten::view": reshape, "aten::reshape_as": reshape_as, "aten::view_as": reshape_as}
    for name, symbolic in symbolics.items():
        torch.onnx.register_custom_op_symbolic(name, symbolic, OPSET_TORCHSCRIPT)
    try:
        yield
    finally:
        for name in symbolics:
            torch.onnx.unregister_custom_op_symbolic(name, OPSET_TORCHSCRIPT)


@contextlib.contextmanager
def torchscript_zero_size_shims():
    """The TorchScript-based exporter's shims, with zero sizes kept in reshapes."""
    with torchscript_exporter_shims(), reshape_keeps_zero_sizes():
        yield


@contextlib.contextmanager
def backend_patches(backend: str):
    """transformers' export patches for `backend` (`onnx`, `openvino`), when this version has them."""
    try:
        from transformers.exporters.utils import apply_patches
    except Exception:  # an older transformers: no patches, the export says what fails
        yield
        return
    with apply_patches(backend):
        yield


@contextlib.contextmanager
def quiet():
    """The exporters print warnings and graphs to stdout, which carries the exporter's summary."""
    saved = sys.stdout
    sys.stdout = io.StringIO()
    try:
        yield
    finally:
        sys.stdout = saved


def dynamic_axes(request: dict, names: list[str], shapes: list[list], static: bool) -> dict:
    """{tensor name: {axis: dimension name}} for every dimension the request varies."""
    if static:
        return {}
    varied = {name for name, dim in request["dims"].items() if contract.is_dynamic(dim)}
    axes = {}
    for name, shape in zip(names, shapes):
        named = {axis: entry for axis, entry in enumerate(shape) if isinstance(entry, str) and entry in varied}
        if named:
            axes[name] = named
    return axes


def export_torchscript_based(wrapper, example: tuple, request: dict, path: str, static: bool) -> None:
    input_names = [spec["name"] for spec in request["inputs"]]
    output_names = [spec["name"] for spec in request["outputs"]]
    axes = dynamic_axes(request, input_names, [s["shape"] for s in request["inputs"]], static)
    axes |= dynamic_axes(request, output_names, [s["shape"] for s in request["outputs"]], static)
    with quiet():
        torch.onnx.export(
            wrapper,
            example,
            path,
            dynamo=False,
            opset_version=OPSET_TORCHSCRIPT,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes or None,
            do_constant_folding=True,
        )


def export_dynamo(wrapper, example: tuple, request: dict, path: str, static: bool) -> None:
    input_names = [spec["name"] for spec in request["inputs"]]
    output_names = [spec["name"] for spec in request["outputs"]]
    shapes = None
    if not static:
        varied = {name for name, dim in request["dims"].items() if contract.is_dynamic(dim)}
        dims = {name: torch.export.Dim(name, min=1, max=4096) for name in varied}
        # One entry: the wrapper's forward takes its tensors as one `*tensors` parameter.
        shapes = (tuple(
            {axis: dims[entry] for axis, entry in enumerate(spec["shape"]) if isinstance(entry, str) and entry in dims} or None
            for spec in request["inputs"]
        ),)
    with quiet():
        program = torch.onnx.export(
            wrapper,
            example,
            dynamo=True,
            opset_version=OPSET_DYNAMO,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=shapes,
            optimize=True,
            verify=False,
            report=False,
        )
        program.save(path, external_data=False)


# (name, export, the patches it runs under): transformers' patches are written for torch.export
# (they guard on symbolic sizes), the TorchScript-based exporter gets this module's own. Each
# route is tried when the ones before it could not write a file or their file failed its check.
EXPORTERS = (
    (f"torchscript-opset{OPSET_TORCHSCRIPT}", export_torchscript_based, torchscript_exporter_shims),
    (f"dynamo-opset{OPSET_DYNAMO}", export_dynamo, lambda: backend_patches("onnx")),
    (f"torchscript-opset{OPSET_TORCHSCRIPT}-allowzero", export_torchscript_based, torchscript_zero_size_shims),
)


def ort_run(path: str, inputs: dict) -> list[np.ndarray]:
    """Runs an ONNX file on ONNX Runtime's CPU provider (one thread), feeding the inputs it kept."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name].numpy() for i in session.get_inputs()}
    return session.run(None, feed)


def check_onnx(path: str, sets: dict, references: dict, tolerances: dict, which: list[str]) -> None:
    """ONNX Runtime must run the file on each set in `which` and match eager PyTorch there."""
    for name in which:
        try:
            outputs = ort_run(path, sets[name])
        except Exception as error:
            raise ExportFailure("onnx-check", f"ONNX Runtime cannot run the exported graph on input set {name}: {first_line(error)}")
        want = references[name]
        if len(outputs) != len(want):
            raise ExportFailure("onnx-check", f"the exported graph returns {len(outputs)} outputs, eager PyTorch {len(want)}")
        for (output, reference), got in zip(want.items(), outputs):
            got = torch.from_numpy(np.ascontiguousarray(got))
            if tuple(got.shape) != tuple(reference.shape):
                raise ExportFailure("onnx-check", f"on input set {name} `{output}` has shape {list(got.shape)} in the exported graph, {list(reference.shape)} in eager PyTorch (a shape frozen into the graph)")
            tolerance = tolerances["outputs"].get(output)
            if tolerance is None or tolerance["status"] not in ("checked", "exact"):
                continue
            ok, diff = parity.within(got.to(reference.dtype) if not reference.is_floating_point() else got, reference, tolerance)
            if not ok:
                raise ExportFailure("onnx-check", f"on input set {name} `{output}` exceeds its tolerance by {diff:.3g} on ONNX Runtime: the graph does not compute what the model does")


def exporters_of(facts: dict) -> set[str]:
    """The exporters that wrote the files `facts` describe (a static-shape artifact's facts
    hold one entry per file)."""
    if "exporter" in facts:
        return {facts["exporter"]}
    return {entry["exporter"] for entry in facts.values() if isinstance(entry, dict)}


def exporters_after(facts: dict) -> tuple:
    """The exporters after the last one that wrote the files `facts` describe: the routes left
    when those files fail their check."""
    named = exporters_of(facts)
    last = max(index for index, (name, _, _) in enumerate(EXPORTERS) if name in named)
    return EXPORTERS[last + 1:]


def write_onnx(wrapper, shims, sets: dict, path: str, request: dict, static: bool = False, exporters: tuple = EXPORTERS) -> dict:
    """Writes `model.onnx` with the first of `exporters` that works; returns facts for the manifest."""
    example = tuple(sets["a"].values())
    errors = []
    for exporter, export, patches in exporters:
        started = time.perf_counter()
        try:
            if os.path.exists(path):
                os.remove(path)
            with torch.no_grad(), patches(), shims():
                export(wrapper, example, request, path, static)
            inputs, outputs = graph_io(path)
            return {
                "exporter": exporter,
                "opset": OPSET_TORCHSCRIPT if exporter.startswith("torchscript") else OPSET_DYNAMO,
                "export_ms": (time.perf_counter() - started) * 1e3,
                "earlier_errors": errors,
                "inputs": inputs,
                "outputs": outputs,
            }
        except Exception as error:
            errors.append(f"{exporter}: {first_line(error)}")
    raise ExportFailure("onnx-export", "; ".join(errors))


def graph_io(path: str) -> tuple[list[str], list[str]]:
    """The graph's input and output names in graph order (an exporter drops inputs the graph
    does not use; engines may report internal names for the ports, so backends map by this)."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output]


def write_static_onnx(wrapper, shims, sets: dict, dir_path: str, request: dict, exporters: tuple = EXPORTERS) -> dict:
    """One static-shape file per input set: `model.onnx` (set a) and `model_b.onnx` (set b)."""
    facts = {}
    for name, file in (("a", "model.onnx"), ("b", "model_b.onnx")):
        one = {"a": sets[name]}
        facts[name] = write_onnx(wrapper, shims, one, os.path.join(dir_path, file), request, static=True, exporters=exporters)
    return facts


def write_openvino_ir(wrapper, shims, sets: dict, path: str, request: dict) -> dict:
    """OpenVINO's PyTorch frontend on the wrapper, saved as float32 IR (`model.xml` + `model.bin`)."""
    import openvino

    started = time.perf_counter()
    example = tuple(sets["a"].values())
    try:
        with torch.no_grad(), backend_patches("openvino"), shims(), quiet():
            model = openvino.convert_model(wrapper, example_input=example)
        names = [spec["name"] for spec in request["inputs"]]
        if len(model.inputs) != len(names):
            raise ValueError(f"the converted model has {len(model.inputs)} inputs, the request declares {len(names)}")
        for port, name in zip(model.inputs, names):
            port.get_tensor().set_names({name})
        for port, spec in zip(model.outputs, request["outputs"]):
            port.get_tensor().set_names({spec["name"]})
        openvino.save_model(model, path, compress_to_fp16=False)
        inputs = [port.get_any_name() for port in model.inputs]
        outputs = [port.get_any_name() for port in model.outputs]
    except Exception as error:
        raise ExportFailure("openvino-convert", f"openvino.convert_model: {first_line(error)}")
    return {"exporter": f"openvino-pytorch-frontend-{openvino.__version__.split('-')[0]}", "export_ms": (time.perf_counter() - started) * 1e3, "inputs": inputs, "outputs": outputs}
