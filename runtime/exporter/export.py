"""Batch exporter: builds tiny HuggingFace models and writes their artifacts.

Part of the runtime. The runtime starts ONE process of this script for every artifact a run
is missing (importing transformers costs seconds) and sends the jobs as JSON on stdin:

    {"jobs": [{"device": "cpu", "request": {...},
               "artifacts": [{"format": "torchscript", "key": "...", "dir": "/abs/cache/<dir>"}]}]}

`request` is the model's exporter request (a versioned document whose version the contract
names, contract.json's `version`; emitted by the generator into the model's spec, or by a skill
with a `checkpoint` reference). A job builds the model once for all of its artifacts (one
per format). For every job the exporter builds the model from its tiny configuration with a
fixed seed (no hub access), makes two deterministic input sets (set `a` at the declared sizes,
set `b` with every dynamic dimension varied), runs eager PyTorch on CPU for the reference
outputs of both, in float32 and again in float64 from the same weights and inputs, derives
each output's tolerance from the float32 error (parity.py, one rule with the runtime), and
writes each format into its artifact directory:

    model.pt (torchscript)  inputs_a.safetensors  reference_a.safetensors
                            inputs_b.safetensors  reference_b.safetensors  manifest.json

A job that fails writes only manifest.json with status "error", the error, and the failure
category the metadata uses (`build`, `model-inputs`, `torchscript`, ...); a time-out is
recorded `transient` (retried by the next run) and every other Python failure is cached.
Directories appear atomically (written to a temporary sibling, then renamed). While a job
runs, `<dir>.started` holds this process's id: the runtime reads it when this process dies
(a crash in native code) and records that job as a transient failure. Progress goes to
stderr, one line per job; stdout carries one JSON summary line.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import os
import platform
import shutil
import signal
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import contract  # noqa: E402  (runtime/exporter/contract.json: categories and the dynamic-dimension rule)
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import parity  # noqa: E402  (beside this file: the comparison rule shared with the runtime)
import onnx_export  # noqa: E402  (beside this file: the ONNX and OpenVINO IR writers)
import generation_export  # noqa: E402  (beside this file: decoders traced with their cache)
import openvino_generate_export  # noqa: E402  (beside this file: decoders as stateful OpenVINO IR)

transformers.logging.set_verbosity_error()

REQUEST_VERSION: int = contract.REQUEST_VERSION  # the request document version this exporter reads

PARAMETER_CAP = 10_000_000  # the same cap the harvester's probe enforces

DTYPES = {"int64": torch.int64, "float32": torch.float32, "bool": torch.bool}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_shape(shape: list, dims: dict, varied: bool) -> list[int]:
    """Turns a declared shape (dimension names or integers) into sizes for set a or b."""
    sizes = []
    for entry in shape:
        if isinstance(entry, int):
            sizes.append(entry)
            continue
        sizes.append(contract.size_in_set(dims[entry], varied))
    return sizes


def make_input(spec: dict, sizes: list[int], generator: torch.Generator, varied: bool) -> torch.Tensor:
    """Deterministic tensor for one declared input; set b pads masks so padding paths run too."""
    kind = spec["kind"]
    dtype = DTYPES[spec["dtype"]]
    if kind == "token_ids":
        low, high = spec["range"]
        tensor = torch.randint(int(low), int(high), sizes, generator=generator, dtype=torch.int64)
        prefix = spec.get("prefix")
        if prefix:
            tensor[..., : prefix["count"]] = prefix["token"]
        return tensor.to(dtype)
    if kind == "mask":
        mask = torch.ones(sizes, dtype=dtype)
        if varied and len(sizes) >= 2 and sizes[-1] >= 3:
            # The last row ends in padding: a trace that ignores the mask then fails parity.
            mask[(-1,) * (len(sizes) - 1)][-(sizes[-1] // 3) :] = 0
        return mask
    if kind == "uniform":
        low, high = spec["range"]
        return (torch.rand(sizes, generator=generator) * (high - low) + low).to(dtype)
    if kind == "boxes":
        # Well-formed [x0, y0, x1, y1] boxes (x0 <= x1, y0 <= y1) in [low, high).
        low, high = spec["range"]
        if dtype.is_floating_point:  # normalised page coordinates
            corners = torch.rand(sizes[:-1] + [2, 2], generator=generator) * (high - low) + low
        else:
            corners = torch.randint(int(low), int(high), sizes[:-1] + [2, 2], generator=generator)
        ordered = torch.sort(corners, dim=-2).values  # [..., (min, max), (x, y)]
        return ordered.reshape(sizes).to(dtype)
    if kind == "grid_positions":
        # (x, y) of each patch on a row-major `value` = [width, height] grid, the same for every row.
        width, height = (int(v) for v in spec["value"])
        ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)
        return grid.expand(sizes).clone().to(dtype)
    if kind == "normal":
        return torch.randn(sizes, generator=generator).to(dtype)
    if kind == "constant":
        value = spec["value"]
        if isinstance(value, list):  # every row of the last dimension (an image grid [t, h, w])
            return torch.tensor(value).expand(sizes).clone().to(dtype)
        return torch.full(sizes, value).to(dtype)
    raise ValueError(f"unknown input kind {kind!r}")


def make_inputs(request: dict, varied: bool) -> dict[str, torch.Tensor]:
    """One input set; set b varies every dynamic dimension and uses other values."""
    generator = torch.Generator().manual_seed(int(request.get("seed", 0)) * 2 + (1 if varied else 0))
    return {
        spec["name"]: make_input(spec, resolve_shape(spec["shape"], request["dims"], varied), generator, varied)
        for spec in request["inputs"]
    }


def merge(base: dict, overrides: dict) -> dict:
    """`overrides` deep-merged into `base` (nested maps merged key by key)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_config(request: dict):
    """The tiny configuration: `test_config` merged into the config class's defaults."""
    config_class = getattr(transformers, request["config_class"])
    defaults = config_class().to_dict()
    return config_class.from_dict(merge(defaults, request.get("test_config", {})))


def seeded(request: dict):
    """Context for one checked forward: seeds torch's global generator with the request's
    `run_seed` when it has one (models that draw random numbers in their forward: masking,
    sampling, noise), so eager, TorchScript and the runtime draw the same numbers."""
    seed = request.get("run_seed")
    if seed is not None:
        torch.manual_seed(int(seed))
    return torch.no_grad()


def count_parameters(model_class, config) -> tuple[int, str]:
    """Parameters of the model, counted on the meta device (nothing allocated), and its largest part."""
    with torch.device("meta"):
        model = model_class(config)
    sizes = {}
    for name, param in model.named_parameters():
        top = ".".join(name.split(".")[:3])
        sizes[top] = sizes.get(top, 0) + param.numel()
    largest = max(sizes.items(), key=lambda kv: kv[1], default=("", 0))
    return sum(sizes.values()), f"{largest[0]} ({largest[1]:,} parameters)"


class OverCap(ValueError):
    """A tiny configuration whose model has more parameters than PARAMETER_CAP (`too-large`)."""


def build_model(request: dict) -> torch.nn.Module:
    """Tiny model from its configuration, random weights with a fixed seed, eval mode, eager attention."""
    model_class = getattr(transformers, request["model_class"])
    config = build_config(request)
    # Enforce the tiny-model cap before allocating anything real.
    parameters, _ = count_parameters(model_class, config)
    if parameters > PARAMETER_CAP:
        raise OverCap(f"{parameters:,} parameters exceed the tiny-model cap of {PARAMETER_CAP:,}: shrink test_config")
    torch.manual_seed(int(request.get("seed", 0)))
    try:
        model = model_class._from_config(config, attn_implementation="eager")
    except (TypeError, ValueError):
        model = model_class(config)
    return model.eval()


def lookup(result, name: str):
    """A field of a ModelOutput, dict or other result object, or None; a forward that returns
    bare tensors (one, or a tuple) has them as `output` (`output_<i>`)."""
    if isinstance(result, (torch.Tensor, tuple)) and name == "output":
        return result
    if isinstance(result, dict) or hasattr(result, "keys"):
        return result[name] if name in result.keys() else None
    return getattr(result, name, None)


def pick_output(result, name: str) -> torch.Tensor:
    """A declared output by name; `<field>_<i>` is element i of a tuple field (`feature_maps_0`),
    `<field>__<name>` a field of a nested output (`language_model_outputs__last_hidden_state`)."""
    if "__" in name:
        outer, _, inner = name.partition("__")
        nested = lookup(result, outer)
        if nested is not None:
            return pick_output(nested, inner)
    value = lookup(result, name)
    field, _, index = name.rpartition("_")
    if value is None and field and index.isdigit():
        items = lookup(result, field)
        if isinstance(items, (tuple, list)) and int(index) < len(items):
            value = items[int(index)]
    if value is None:
        available = list(result.keys()) if hasattr(result, "keys") else type(result).__name__
        raise KeyError(f"model output has no {name!r} (it has {available})")
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"output {name!r} is a {type(value).__name__}, not a tensor")
    return value


class NamedForward(torch.nn.Module):
    """Positional tensors in declared input order -> tuple of declared outputs."""

    def __init__(self, model: torch.nn.Module, inputs: list[dict], output_names: list[str], extra: dict):
        super().__init__()
        self.model = model
        self.input_names = [spec["name"] for spec in inputs]
        # `constant` inputs (e.g. llava_next's image_sizes) are trace-time constants, passed to the
        # model as Python lists; the runtime rejects any other value instead of computing garbage.
        # Row constants (image grids) reach the model as tensors rebuilt from those constants.
        self.baked = {spec["name"] for spec in inputs if spec["kind"] == "constant" and not isinstance(spec["value"], list)}
        self.rows = {spec["name"] for spec in inputs if spec["kind"] == "constant" and isinstance(spec["value"], list)}
        self.output_names = output_names
        self.extra = extra

    def forward(self, *tensors):
        named = {n: baked_value(t, n in self.baked, n in self.rows) for n, t in zip(self.input_names, tensors)}
        result = self.model(**named, **self.extra)
        return tuple(pick_output(result, name) for name in self.output_names)


class BakedList(list):
    """A trace-time constant as a Python list that also answers `tolist()`, for model code that
    converts what it expects to be a tensor (Apertus 1.5's `image_sizes.tolist()`)."""

    def tolist(self) -> list:
        return list(self)


def baked_value(tensor: torch.Tensor, as_list: bool, as_rows: bool):
    """What the model receives for one declared input (see NamedForward)."""
    if as_list:
        return BakedList(tensor.tolist())
    if as_rows:
        return torch.tensor(tensor.tolist(), dtype=tensor.dtype)
    return tensor


def forward_extras(model: torch.nn.Module) -> dict:
    """Keyword arguments that keep outputs plain tensors (no caches) and dict-shaped."""
    params = inspect.signature(model.forward).parameters
    extra = {}
    if "use_cache" in params:
        extra["use_cache"] = False
    if "return_dict" in params:
        extra["return_dict"] = True
    return extra


def tensor_safe_round(value, ndigits=None):
    """`round` that also takes 0-d tensors: under tracing, sizes are tensors (llava_next's unpad_image)."""
    if isinstance(value, torch.Tensor):
        scale = 10.0 ** (ndigits or 0)
        rounded = torch.round(value * scale) / scale
        return rounded if ndigits is not None else rounded.to(torch.int64)
    return round(value, ndigits) if ndigits is not None else round(value)


def bool_value_as_int(original):
    """`Tensor.scatter(dim, index, True)`: the tracer records a bool scalar, for which TorchScript
    has no overload (an internal assert in alias analysis); 1/0 scatter the same into any dtype."""

    @functools.wraps(original)
    def call(self, *args, **kwargs):
        args = tuple(int(a) if isinstance(a, bool) else a for a in args)
        if isinstance(kwargs.get("value"), bool):
            kwargs["value"] = int(kwargs["value"])
        return original(self, *args, **kwargs)

    return call


class ForwardOnlyContext:
    """The `ctx` of a custom autograd function run for inference: saves nothing for backward."""

    def save_for_backward(self, *tensors):
        pass

    def mark_non_differentiable(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


def forward_only(function):
    """`Function.apply` as a plain call of its forward: the tracer cannot record a Python autograd
    function, but under no_grad the forward is all that runs, and its torch ops trace."""

    def apply(*args, **kwargs):
        return function.forward(ForwardOnlyContext(), *args, **kwargs)

    return apply


def attribute_error_instead(getter):
    """A property getter whose failures surface as AttributeError (what `hasattr` expects)."""
    def get(self):
        try:
            return getter(self)
        except AttributeError:
            raise
        except Exception as error:
            raise AttributeError(str(error)) from error
    return get


class TraceShims:
    """While tracing, give the model's modeling modules a `round` that accepts tensors, make
    `Tensor.scatter`/`scatter_` take bool values, run the modules' custom autograd functions
    as their forward, and let the tracer's attribute scan pass properties that raise something
    other than AttributeError (`supports_context_parallel` on a config with two text configs,
    MusicGen); restore all after."""

    SCATTER = ("scatter", "scatter_")

    def __init__(self, model: torch.nn.Module):
        self.modules = {sys.modules[type(m).__module__] for m in model.modules() if type(m).__module__.startswith("transformers.")}
        self.saved = {}
        self.saved_methods = {}
        self.functions = []

    def __enter__(self):
        for module in self.modules:
            self.saved[module] = module.__dict__.get("round")
            module.round = tensor_safe_round
        for name in self.SCATTER:
            self.saved_methods[name] = getattr(torch.Tensor, name)
            setattr(torch.Tensor, name, bool_value_as_int(self.saved_methods[name]))
        self.saved_property = transformers.PreTrainedModel.__dict__.get("supports_context_parallel")
        if isinstance(self.saved_property, property):
            transformers.PreTrainedModel.supports_context_parallel = property(attribute_error_instead(self.saved_property.fget))
        for module in self.modules:
            for value in list(vars(module).values()):
                if isinstance(value, type) and issubclass(value, torch.autograd.Function) and value is not torch.autograd.Function and "apply" not in vars(value):
                    value.apply = forward_only(value)
                    self.functions.append(value)
        return self

    def __exit__(self, *exc):
        for module, previous in self.saved.items():
            if previous is None:
                del module.round
            else:
                module.round = previous
        for name, original in self.saved_methods.items():
            setattr(torch.Tensor, name, original)
        for function in self.functions:
            del function.apply  # the inherited autograd `apply` again
        if isinstance(self.saved_property, property):
            transformers.PreTrainedModel.supports_context_parallel = self.saved_property
        return False


class Failure(Exception):
    """A job failed at a known stage: carries the metadata's failure category."""

    def __init__(self, category: str, error: BaseException | str):
        self.category = contract.category(category)
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(text)


def check_request(request: dict) -> None:
    """The request document must be of the version this exporter reads and declare outputs."""
    version = request.get("version")
    if version != REQUEST_VERSION:
        raise Failure("build", f"exporter request version {version!r}, this exporter reads version {REQUEST_VERSION}: regenerate (`cargo run -p generator -- --all`)")


def float64_references(model: torch.nn.Module, request: dict, sets: dict, output_names: list[str]):
    """Reference outputs of the same model and inputs in float64, or (None, why not)."""
    if request.get("run_seed") is not None:
        return None, "the model draws random numbers in its forward (run_seed); float64 draws differ from float32 draws"
    try:
        wide = copy.deepcopy(model).double()
    except Exception as error:
        return None, f"the model cannot be copied to float64: {type(error).__name__}: {first_line(error)}"
    wrapper = NamedForward(wide, request["inputs"], output_names, forward_extras(wide)).eval()
    out = {}
    try:
        for name, inputs in sets.items():
            widened = [t.double() if t.is_floating_point() else t for t in inputs.values()]
            with seeded(request):
                out[name] = {n: t.detach() for n, t in zip(output_names, wrapper(*widened))}
    except Exception as error:
        return None, f"eager float64 failed: {type(error).__name__}: {first_line(error)}"
    finally:
        del wide, wrapper
    return out, None


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def references_of(wrapper, request: dict, sets: dict, output_names: list[str]) -> dict:
    """Eager float32 references of both sets; a failing or non-finite forward is `model-inputs`."""
    references = {}
    for name, inputs in sets.items():
        try:
            with seeded(request):
                outputs = wrapper(*inputs.values())
        except Exception as error:
            raise Failure("model-inputs", error)
        references[name] = {n: t.detach().contiguous() for n, t in zip(output_names, outputs)}
        for n, t in references[name].items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise Failure("model-inputs", f"eager PyTorch returns NaN or infinite values in `{n}` on input set {name}")
    return references


def check_determinism(request: dict, references: dict, again: list, tolerances: dict) -> None:
    """Eager PyTorch run again on set a must reproduce itself within the derived tolerance."""
    for (name, want), got in zip(references["a"].items(), again):
        ok, _ = parity.within(got, want, tolerances["outputs"][name])
        if not ok:
            raise Failure("nondeterministic", f"eager PyTorch gives different outputs for identical inputs (`{name}`)" + (", even seeded" if "run_seed" in request else ""))


def write_torchscript(wrapper, model, sets: dict, device, tmp: str, request: dict) -> dict:
    """Traces on `device` and saves `model.pt`. Failures are `torchscript`."""
    started = time.perf_counter()
    try:
        wrapper.to(device)
        example = tuple(t.to(device) for t in sets["a"].values())
        with torch.no_grad(), TraceShims(model):
            traced = torch.jit.trace(wrapper, example, strict=False, check_trace=False)
        traced.save(os.path.join(tmp, "model.pt"))
    except Exception as error:
        raise Failure("torchscript", error)
    finally:
        wrapper.to("cpu")
    return {"exporter": f"torch.jit.trace-{torch.__version__.split('+')[0]}", "export_ms": (time.perf_counter() - started) * 1e3}


@contextlib.contextmanager
def export_shims(model):
    """What every exporter traces under: the trace shims and batched experts."""
    with TraceShims(model), onnx_export.batched_experts(model):
        yield


def write_onnx(wrapper, model, sets: dict, device, tmp: str, request: dict, exporters: tuple = onnx_export.EXPORTERS) -> dict:
    return onnx_export.write_onnx(wrapper, lambda: export_shims(model), sets, os.path.join(tmp, "model.onnx"), request, exporters=exporters)


def write_onnx_static(wrapper, model, sets: dict, device, tmp: str, request: dict, exporters: tuple = onnx_export.EXPORTERS) -> dict:
    return onnx_export.write_static_onnx(wrapper, lambda: export_shims(model), sets, tmp, request, exporters=exporters)


def write_openvino_ir(wrapper, model, sets: dict, device, tmp: str, request: dict) -> dict:
    return onnx_export.write_openvino_ir(wrapper, lambda: export_shims(model), sets, os.path.join(tmp, "model.xml"), request)


def check_onnx(tmp: str, sets: dict, references: dict, tolerances: dict) -> None:
    onnx_export.check_onnx(os.path.join(tmp, "model.onnx"), sets, references, tolerances, ["a", "b"])


def check_onnx_static(tmp: str, sets: dict, references: dict, tolerances: dict) -> None:
    onnx_export.check_onnx(os.path.join(tmp, "model.onnx"), sets, references, tolerances, ["a"])
    onnx_export.check_onnx(os.path.join(tmp, "model_b.onnx"), sets, references, tolerances, ["b"])


def checked(writer, check, wrapper, model, sets: dict, device, tmp: str, request: dict, references: dict, tolerances: dict, facts: dict) -> dict:
    """Runs a format's check on the files in `tmp`; where they fail it, the next exporter writes
    them again and they are checked in turn. Returns the facts of the files that passed (with
    the earlier exporters' check failures); raises `onnx-check` naming every exporter's failure."""
    failures = []
    while True:
        try:
            check(tmp, sets, references, tolerances)
            return facts | {"failed_checks": failures} if failures else facts
        except onnx_export.ExportFailure as error:
            later = onnx_export.exporters_after(facts)
            failures.append(f"{', '.join(sorted(onnx_export.exporters_of(facts)))}: {error}")
            if not later:
                raise onnx_export.ExportFailure("onnx-check", "; ".join(failures))
        try:
            facts = writer(wrapper, model, sets, device, tmp, request, exporters=later)
        except onnx_export.ExportFailure as error:
            raise onnx_export.ExportFailure("onnx-check", "; ".join(failures + [str(error)]))


# The writers of each artifact format, by the format id of the runtime's `ArtifactFormat`:
# (model file, writer, check after the tolerances are known or None).
WRITERS = {
    "torchscript": ("model.pt", write_torchscript, None),
    "onnx": ("model.onnx", write_onnx, check_onnx),
    "onnx-static": ("model.onnx", write_onnx_static, check_onnx_static),
    "openvino-ir": ("model.xml", write_openvino_ir, None),
}


def export_job(job: dict) -> list[dict]:
    """Builds, references and writes every artifact of one job; returns their manifests.

    Everything in float32 comes first (references, a second run for determinism, the traced
    formats); the float64 run that derives the tolerances comes last, on a copy, so nothing it
    leaves behind (a cache some model code keeps in its modules) can reach a float32 result.
    A format that cannot be written (or whose file fails its check) records its own failure;
    the job's other formats go on.
    """
    request = job["request"]
    check_request(request)
    device = torch.device(job.get("device", "cpu"))
    timings = {}
    started = time.perf_counter()
    model = build_model_classified(request)
    timings["build_ms"] = (time.perf_counter() - started) * 1e3
    parameters = sum(p.numel() for p in model.parameters())
    if "generate" in request:
        return export_generation(job, model, parameters, timings)
    output_names = [spec["name"] for spec in request["outputs"]]
    if not output_names:
        raise Failure("model-inputs", "the request declares no outputs: the harvester's input rules could not feed this model")
    wrapper = NamedForward(model, request["inputs"], output_names, forward_extras(model)).eval()

    sets = {"a": make_inputs(request, varied=False), "b": make_inputs(request, varied=True)}
    started = time.perf_counter()
    references = references_of(wrapper, request, sets, output_names)
    with seeded(request):
        again = [t.detach() for t in wrapper(*sets["a"].values())]
    timings["reference_ms"] = (time.perf_counter() - started) * 1e3

    written = []
    deferred = [a for a in job["artifacts"] if a.get("fallback_for") in {b["format"] for b in job["artifacts"]}]
    try:
        for artifact in job["artifacts"]:
            if artifact in deferred:
                continue
            file, writer, check = WRITERS[artifact["format"]]
            tmp = f"{artifact['dir']}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            try:
                facts = writer(wrapper, model, sets, device, tmp, request)
            except (Failure, onnx_export.ExportFailure) as error:
                record_artifact_failure(job, artifact, error, error.category)
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            written.append((artifact, file, tmp, check, facts))
        if not written and not deferred:
            return []

        started = time.perf_counter()
        wide, why_not = float64_references(model, request, sets, output_names)
        tolerances = parity.derive(references, wide, why_not)
        timings["float64_ms"] = (time.perf_counter() - started) * 1e3
        check_determinism(request, references, again, tolerances)

        manifests = []
        # The formats without a check are published first: a check's second route (another
        # exporter) may run into the job's time limit, which must not cost them.
        for artifact, file, tmp, check, facts in sorted(written, key=lambda entry: entry[3] is not None):
            if check is not None:
                try:
                    facts = checked(WRITERS[artifact["format"]][1], check, wrapper, model, sets, device, tmp, request, references, tolerances, facts)
                except onnx_export.ExportFailure as error:
                    record_artifact_failure(job, artifact, error, error.category, facts)
                    continue
            ok = base_manifest(job, artifact) | {"status": "ok", "file": file, "parameters": parameters, "timings": timings, "export": facts, "parity": tolerances}
            manifests.append(publish_ok(tmp, artifact, sets, references, ok))

        # Fallback formats (a backend's second route): built only where the preferred failed.
        done = {m["format"] for m in manifests}
        for artifact in deferred:
            file, writer, _ = WRITERS[artifact["format"]]
            if artifact["fallback_for"] in done:
                record_not_needed(job, artifact)
                continue
            tmp = f"{artifact['dir']}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            written.append((artifact, file, tmp, None, None))
            try:
                facts = writer(wrapper, model, sets, device, tmp, request)
            except (Failure, onnx_export.ExportFailure) as error:
                record_artifact_failure(job, artifact, error, error.category)
                continue
            ok = base_manifest(job, artifact) | {"status": "ok", "file": file, "parameters": parameters, "timings": timings, "export": facts, "parity": tolerances}
            manifests.append(publish_ok(tmp, artifact, sets, references, ok))
        return manifests
    finally:
        for _, _, tmp, _, _ in written:
            shutil.rmtree(tmp, ignore_errors=True)


GENERATION_FORMATS = {"torchscript-generate": "prefill/model.pt", "onnx-generate": "prefill/model.onnx", "openvino-generate": "model.xml"}


def export_generation(job: dict, model: torch.nn.Module, parameters: int, timings: dict) -> list[dict]:
    """The generation artifacts of a request with `generate` (generation_export): the prompts,
    `generate`'s ids and logits once, then each format's two steps, checked against them. A
    format that cannot be written records its own failure; the others go on."""
    request = job["request"]
    unknown = sorted({a["format"] for a in job["artifacts"]} - set(GENERATION_FORMATS))
    if unknown:
        raise Failure("config", f"a request with `generate` is exported as {', '.join(sorted(GENERATION_FORMATS))}, not {unknown}")
    sets = {"a": make_inputs(request, varied=False), "b": make_inputs(request, varied=True)}
    try:
        with TraceShims(model):
            prepared = generation_export.Prepared(model, request, sets)
    except generation_export.CacheNotCarried as error:
        raise Failure("cache", error)
    except Exception as error:
        raise Failure("model-inputs", error)
    manifests = []
    for artifact in job["artifacts"]:
        tmp = f"{artifact['dir']}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        try:
            try:
                with TraceShims(model):
                    if artifact["format"] == "torchscript-generate":
                        facts = generation_export.write_torchscript(prepared, tmp, log)
                    elif artifact["format"] == "openvino-generate":
                        facts = openvino_generate_export.write_openvino(prepared, tmp, log)
                    else:
                        facts = generation_export.write_onnx(prepared, tmp, log, artifact["key"], request["model_type"])
            except generation_export.CacheNotCarried as error:
                raise Failure("cache", error)
            except generation_export.TraceDiverges as error:
                raise Failure("trace-specialised", error)
            except onnx_export.ExportFailure:
                raise
            except Exception as error:
                raise Failure("torchscript" if artifact["format"] == "torchscript-generate" else "onnx-export", error)
        except (Failure, onnx_export.ExportFailure) as error:
            record_artifact_failure(job, artifact, error, error.category)
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        try:
            ok = base_manifest(job, artifact) | {"status": "ok", "file": GENERATION_FORMATS[artifact["format"]], "parameters": parameters, "timings": timings, "export": facts, "parity": prepared.tolerances}
            manifests.append(publish_ok(tmp, artifact, prepared.inputs(), prepared.references, ok))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return manifests


def build_model_classified(request: dict) -> torch.nn.Module:
    """build_model with the probe's failure categories: a default configuration that cannot be
    built is `config`, a model over the cap `too-large`, an absent package `missing-package`."""
    try:
        getattr(transformers, request["config_class"])()
    except Exception as error:
        raise Failure("config", error)
    try:
        return build_model(request)
    except OverCap as error:
        raise Failure("too-large", error)
    except Exception as error:
        raise Failure(contract.classify_build_error(error), error)


def base_manifest(job: dict, artifact: dict) -> dict:
    return {
        "key": artifact["key"],
        "model_type": job["request"].get("model_type", "?"),
        "device": job.get("device", "cpu"),
        "format": artifact["format"],
        "request_version": job["request"].get("version"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }


def write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
        handle.write("\n")


def publish(tmp: str, final: str) -> None:
    """Atomic publish with no moment where the artifact is absent: a new directory is renamed
    into place; one that exists (a recorded failure being retried) is swapped with the new one
    in one step, and the old one removed from the temporary name (publish.exchange)."""
    import publish as publishing  # beside this file: no torch, so its unit tests run fast
    publishing.replace_dir(tmp, final)


def publish_ok(tmp: str, artifact: dict, sets: dict, references: dict, manifest: dict) -> dict:
    """Writes the input sets, references and manifest beside a written model file, then publishes."""
    for name in sets:
        save_file({n: t.contiguous() for n, t in sets[name].items()}, os.path.join(tmp, f"inputs_{name}.safetensors"))
        # Outputs may be views of one another (pooler_output of last_hidden_state): stored apart.
        save_file({n: t.contiguous().clone() for n, t in references[name].items()}, os.path.join(tmp, f"reference_{name}.safetensors"))
    write_json(os.path.join(tmp, "manifest.json"), manifest)
    publish(tmp, artifact["dir"])
    return manifest


def record_artifact_failure(job: dict, artifact: dict, error: BaseException, category: str, facts: dict | None = None) -> None:
    """The error manifest of one format of a job whose other formats were written."""
    manifest = base_manifest(job, artifact) | {"status": "error", "category": category, "transient": False, "error": str(error)[:2000]}
    if facts:
        manifest["export"] = facts
    tmp = f"{artifact['dir']}.tmp-{os.getpid()}-error"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_json(os.path.join(tmp, "manifest.json"), manifest)
    publish(tmp, artifact["dir"])
    log(f"exporter:   {artifact['format']}: {category}: {str(error)[:300]}")


def record_not_needed(job: dict, artifact: dict) -> None:
    """The manifest of a fallback format whose preferred format was written and checked."""
    manifest = base_manifest(job, artifact) | {
        "status": "not-needed",
        "transient": False,
        "error": f"not built: this model's {artifact['fallback_for']} artifact was written and checked, and backends read that one",
    }
    tmp = f"{artifact['dir']}.tmp-{os.getpid()}-skip"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_json(os.path.join(tmp, "manifest.json"), manifest)
    publish(tmp, artifact["dir"])


def record_failure(job: dict, error: BaseException, category: str, transient: bool) -> str:
    """Writes the error manifest of every artifact of the job; returns the first error line."""
    lines = traceback.format_exception(error)
    detail = [line.strip() for line in str(error).splitlines() if line.strip()]
    prefix = "" if isinstance(error, Failure) else f"{type(error).__name__}: "
    first = f"{prefix}{detail[0]}" if detail else type(error).__name__
    if first.endswith(":") and len(detail) > 1:
        first = f"{first} {detail[1]}"
    for artifact in job["artifacts"]:
        if published(artifact):
            continue  # this job finished that format before it failed: the failure is not its
        manifest = base_manifest(job, artifact) | {
            "status": "error",
            "category": category,
            "transient": transient,
            "error": first[:2000],
            "traceback": "".join(lines)[-6000:],
        }
        tmp = f"{artifact['dir']}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        write_json(os.path.join(tmp, "manifest.json"), manifest)
        publish(tmp, artifact["dir"])
    return first


def published(artifact: dict) -> bool:
    """Whether the artifact already has a manifest: the runtime removes the manifests of every
    artifact it sends, so one present now was published by the running job (its file, a
    fallback's `not-needed`, or a route's own failure) and stands."""
    return os.path.isfile(os.path.join(artifact["dir"], "manifest.json"))


# A guard against exports that hang in native code, not a speed threshold: generous, because a
# time-out is a fact of the machine's load (recorded transient and retried), never a verdict.
# Fractions allowed (a test forces one).
JOB_SECONDS = float(os.environ.get("HFZOO_EXPORT_JOB_SECONDS", "300"))


class EnvironmentFault(Exception):
    """A job that failed for a reason of this machine (contract.environment_fault), recorded
    transient with that reason first in its message."""


class JobTimeout(BaseException):
    """A job ran past JOB_SECONDS. A BaseException, like KeyboardInterrupt: a format's route
    catches `Exception` to record its own failure, and must never turn a time-out (a fact of
    this machine's speed) into a permanent category of the model."""


def on_alarm(signum, frame):
    raise JobTimeout(f"export took longer than {JOB_SECONDS:g} s (HFZOO_EXPORT_JOB_SECONDS)")


def main() -> int:
    jobs = json.load(sys.stdin)["jobs"]
    # The runtime gives each of its exporter processes a share of the CPUs (HFZOO_EXPORT_THREADS):
    # two processes of two threads each would oversubscribe two cores.
    threads = int(os.environ.get("HFZOO_EXPORT_THREADS") or 0) or min(4, os.cpu_count() or 1)
    torch.set_num_threads(max(1, threads))
    summary = {"ok": 0, "error": 0}
    total = len(jobs)
    log(f"exporter: {total} model(s) to build (torch {torch.__version__}, transformers {transformers.__version__})")
    signal.signal(signal.SIGALRM, on_alarm)
    batch_started = time.perf_counter()
    for index, job in enumerate(jobs, start=1):
        started = time.perf_counter()
        name = job["request"].get("model_type", "?")
        # While the job runs, its markers name this process: if it dies in native code, the
        # runtime finds them and records the job as a crash (retried by the next run).
        markers = [f"{artifact['dir']}.started" for artifact in job["artifacts"]]
        for marker in markers:
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
        try:
            signal.setitimer(signal.ITIMER_REAL, JOB_SECONDS)
            try:
                export_job(job)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            summary["ok"] += 1
            status = "ok"
        except (Exception, JobTimeout) as error:  # every failure is recorded, none stops the batch
            if isinstance(error, JobTimeout):
                category, transient = "timeout", True
            elif isinstance(error, Failure):
                category, transient = error.category, False
            else:
                category, transient = "build", False
            work_dir = os.path.dirname(job["artifacts"][0]["dir"]) if job.get("artifacts") else None
            why = None if isinstance(error, (Failure, JobTimeout)) else contract.environment_fault(error, work_dir)
            if why is not None:
                # Kept in the category the runtime reads as the environment's (transient and
                # not `timeout` or `crash`), so no metadata expectation can ever match it.
                transient = True
                error = EnvironmentFault(f"{why}: a fault of this machine, not of the model; transient, the next run retries it ({type(error).__name__}: {error})")
            first = record_failure(job, error, category, transient)
            summary["error"] += 1
            status = f"{category}{' (transient)' if transient else ''}: {first[:200]}"
        for marker in markers:
            if os.path.exists(marker):
                os.remove(marker)
        elapsed = time.perf_counter() - batch_started
        remaining = elapsed / index * (total - index)
        log(f"exporter: [{index}/{total}] {name} on {job.get('device', 'cpu')}: {status} ({time.perf_counter() - started:.2f}s; {elapsed:.0f}s elapsed, ~{remaining:.0f}s left)")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
