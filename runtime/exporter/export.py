"""Batch exporter: builds tiny HuggingFace models and writes TorchScript artifacts.

Part of the runtime. The runtime starts ONE process of this script for every artifact a run
is missing (importing transformers costs seconds) and sends the jobs as JSON on stdin:

    {"jobs": [{"key": "...", "dir": "/abs/cache/<key>", "device": "cpu", "request": {...}}]}

`request` is the model's exporter request, emitted by the generator into the model's SPEC.
For every job the exporter builds the model from its tiny configuration with a fixed seed
(no hub access), makes two deterministic input sets (set `a` at the declared sizes, set `b`
with every dynamic dimension varied), runs eager PyTorch on CPU for the reference outputs of
both, traces to TorchScript on the requested device, and writes into the job's directory:

    model.pt  inputs_a.safetensors  reference_a.safetensors
              inputs_b.safetensors  reference_b.safetensors  manifest.json

A job that fails writes only manifest.json with status "error" and the error, so the runtime
can report the concrete reason. Directories appear atomically (written to a temporary sibling,
then renamed). Progress goes to stderr, one line per job; stdout carries one JSON summary line.
"""

from __future__ import annotations

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

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

transformers.logging.set_verbosity_error()

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
        dim = dims[entry]
        sizes.append(dim.get("varied") or dim["size"] if varied else dim["size"])
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


def build_model(request: dict) -> torch.nn.Module:
    """Tiny model from its configuration, random weights with a fixed seed, eval mode, eager attention."""
    model_class = getattr(transformers, request["model_class"])
    config = build_config(request)
    # Enforce the tiny-model cap before allocating anything real.
    parameters, _ = count_parameters(model_class, config)
    if parameters > PARAMETER_CAP:
        raise ValueError(f"{parameters:,} parameters exceed the tiny-model cap of {PARAMETER_CAP:,}: shrink test_config")
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


def export_one(job: dict) -> dict:
    """Builds, references and traces one model; returns its manifest."""
    request = job["request"]
    device = torch.device(job.get("device", "cpu"))
    timings = {}
    started = time.perf_counter()
    model = build_model(request)
    timings["build_ms"] = (time.perf_counter() - started) * 1e3
    parameters = sum(p.numel() for p in model.parameters())
    output_names = [spec["name"] for spec in request["outputs"]]
    wrapper = NamedForward(model, request["inputs"], output_names, forward_extras(model)).eval()

    sets = {"a": make_inputs(request, varied=False), "b": make_inputs(request, varied=True)}
    references = {}
    started = time.perf_counter()
    for name, inputs in sets.items():
        with seeded(request):
            outputs = wrapper(*inputs.values())
            references[name] = {n: t.detach().contiguous() for n, t in zip(output_names, outputs)}
    timings["reference_ms"] = (time.perf_counter() - started) * 1e3

    started = time.perf_counter()
    wrapper.to(device)
    example = tuple(t.to(device) for t in sets["a"].values())
    with torch.no_grad(), TraceShims(model):
        traced = torch.jit.trace(wrapper, example, strict=False, check_trace=False)
    timings["trace_ms"] = (time.perf_counter() - started) * 1e3

    tmp = f"{job['dir']}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    started = time.perf_counter()
    traced.save(os.path.join(tmp, "model.pt"))
    for name in sets:
        save_file({n: t.contiguous() for n, t in sets[name].items()}, os.path.join(tmp, f"inputs_{name}.safetensors"))
        # Outputs may be views of one another (pooler_output of last_hidden_state): stored apart.
        save_file({n: t.contiguous().clone() for n, t in references[name].items()}, os.path.join(tmp, f"reference_{name}.safetensors"))
    timings["save_ms"] = (time.perf_counter() - started) * 1e3
    manifest = base_manifest(job) | {"status": "ok", "parameters": parameters, "timings": timings}
    write_json(os.path.join(tmp, "manifest.json"), manifest)
    publish(tmp, job["dir"])
    return manifest


def base_manifest(job: dict) -> dict:
    return {
        "key": job["key"],
        "model_type": job["request"]["model_type"],
        "device": job.get("device", "cpu"),
        "format": "torchscript",
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
    """Atomic publish: the final directory either does not exist or is complete."""
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def record_failure(job: dict, error: BaseException) -> dict:
    lines = traceback.format_exception(error)
    detail = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = f"{type(error).__name__}: {detail[0]}" if detail else type(error).__name__
    manifest = base_manifest(job) | {
        "status": "error",
        "error": first[:2000],
        "traceback": "".join(lines)[-6000:],
    }
    tmp = f"{job['dir']}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_json(os.path.join(tmp, "manifest.json"), manifest)
    publish(tmp, job["dir"])
    return manifest


JOB_SECONDS = int(os.environ.get("HFZOO_EXPORT_JOB_SECONDS", "120"))


class JobTimeout(Exception):
    """A job ran past JOB_SECONDS."""


def on_alarm(signum, frame):
    raise JobTimeout(f"export took longer than {JOB_SECONDS} s (HFZOO_EXPORT_JOB_SECONDS)")


def main() -> int:
    jobs = json.load(sys.stdin)["jobs"]
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    summary = {"ok": 0, "error": 0}
    total = len(jobs)
    log(f"exporter: {total} artifact(s) to build (torch {torch.__version__}, transformers {transformers.__version__})")
    signal.signal(signal.SIGALRM, on_alarm)
    batch_started = time.perf_counter()
    for index, job in enumerate(jobs, start=1):
        started = time.perf_counter()
        name = job["request"]["model_type"]
        # A marker left by an earlier process means that process died inside this job (a crash
        # in native code): record it as the job's error instead of crashing again.
        marker = f"{job['dir']}.started"
        try:
            if os.path.exists(marker):
                raise RuntimeError("the previous exporter process died while exporting this model (crash in native code)")
            with open(marker, "w", encoding="utf-8"):
                pass
            signal.alarm(JOB_SECONDS)
            try:
                export_one(job)
            finally:
                signal.alarm(0)
            summary["ok"] += 1
            status = "ok"
        except Exception as error:  # every failure is recorded, none stops the batch
            manifest = record_failure(job, error)
            summary["error"] += 1
            status = f"error: {manifest['error'][:200]}"
        if os.path.exists(marker):
            os.remove(marker)
        elapsed = time.perf_counter() - batch_started
        remaining = elapsed / index * (total - index)
        log(f"exporter: [{index}/{total}] {name} on {job.get('device', 'cpu')}: {status} ({time.perf_counter() - started:.2f}s; {elapsed:.0f}s elapsed, ~{remaining:.0f}s left)")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
