"""The probe: builds one model type tiny and runs it the way the runtime will, to fill metadata.

Stages, each a failure category when it fails (see docs/metadata-schema.md):
  config           the default configuration cannot be built on its own
  missing-package  transformers needs a package this environment does not have
  too-large        still over PARAMETER_CAP after both shrinking passes (counted on the meta device)
  build            the model cannot be built from the tiny configuration
  model-inputs     the forward needs inputs the generic rules cannot build, or rejects them
  torchscript      tracing, saving or loading TorchScript fails (a limit of the artifact format)
  trace-specialised the trace matches on the traced inputs but not on set b (baked shapes/routing)
  nondeterministic eager PyTorch differs from itself on identical inputs
  chaotic          float32 rounding alone moves an output by a share of its size (parity.py)
  no-signal        no output carries any signal: the check would accept anything
Comparisons follow the runtime's one rule (runtime/exporter/parity.py).
"""

from __future__ import annotations

import inspect
import io
import os
import re
import sys
import time

import torch
import transformers

import contract  # runtime/exporter/contract.py: the categories, from the Rust contract crate
import export  # runtime/exporter/export.py: the same code the runtime's exporter runs
import parity  # runtime/exporter/parity.py: the one comparison rule, shared with the runtime
import inputs as input_rules
import repair
import retry_rules
import scale
import shrink

PARAMETER_CAP = export.PARAMETER_CAP  # one cap, enforced again by the exporter

# Shrinking rules in the order the probe tries them: (name, rule, may re-apply to a built config).
# The first rule that builds, runs and matches wins; the generic rule gives the tiniest models.
RULES = [
    ("generic", lambda d: shrink.shrink(d), True),
    ("generic-keep-depth", lambda d: shrink.shrink(d, keep_depth=True), True),
    ("proportional", lambda d: scale.scale(d), False),
    ("proportional-keep-depth", lambda d: scale.scale(d, keep_depth=True), False),
]
# How far a failed attempt got: a later rule's failure is reported when it got further.
# The probe's stages and its final failures come from the contract (request/src/category.rs).
STAGE_ORDER = contract.STAGE_ORDER
FINAL = contract.FINAL
# Input failures that come from the forward's signature or output type, not from sizes.
SIGNATURE_FAILURES = ("forward needs", "forward returns no tensor outputs")


class Unsupported(Exception):
    """A stage failed: carries the category and the first error line."""

    def __init__(self, category: str, error: BaseException | str, test_config: dict | None = None):
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.category = contract.category(category)
        # The tiny configuration that failed, so the metadata (and the runtime) reproduce it.
        self.test_config = test_config or {}
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or [type(error).__name__]
        # A first line that only introduces the detail ("...error for validator 'x':") gets it.
        first = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
        self.reason = first[:300]
        super().__init__(f"{category}: {self.reason}")


def default_config(desc: dict) -> dict:
    """The config class's defaults as a dict; a config that cannot be built is `config`.

    A vision tower the class declares but leaves unset by default (Gemma 4) gets its
    own class's defaults, so the multimodal model is probed with its media, not as text only.
    """
    try:
        config_class = getattr(transformers, desc["config_class"])
        defaults = config_class().to_dict()
    except Exception as error:
        raise Unsupported("config", error)
    for key, sub_class in (getattr(config_class, "sub_configs", None) or {}).items():
        if key in TOWERS and key in defaults and defaults[key] is None and isinstance(sub_class, type) and sub_class is not transformers.AutoConfig:
            try:
                defaults[key] = sub_class().to_dict()
            except Exception:
                pass  # a tower class that needs arguments stays unset
    return defaults


def built_towers(desc: dict, defaults: dict) -> list[str]:
    """Towers `default_config` filled in that the config class leaves unset by default."""
    keys = [k for k in TOWERS if isinstance(defaults.get(k), dict)]
    if not keys:
        return []
    unset = getattr(transformers, desc["config_class"])().to_dict()
    return [k for k in keys if unset.get(k) is None]


# Media towers a default config may leave unset and the probe builds (an unset audio tower
# stays unset: the input rules write either image or audio token slots into the text, not both).
TOWERS = ("vision_config",)


def tiny_config(desc: dict, overrides: dict, defaults: dict, rule=shrink.shrink, reapply: bool = True) -> tuple[dict, int]:
    """test_config (a diff against the defaults) under the cap, and its parameter count."""
    model_class = getattr(transformers, desc["model_class"])
    tiny = rule(defaults)
    # Sub-configs some models only create in __init__ (a default backbone) appear once the
    # shrunk config is built: shrink what was materialised, until nothing changes.
    for _ in range(2 if reapply else 0):
        try:
            materialised = export.build_config({"config_class": desc["config_class"], "test_config": shrink.diff(defaults, tiny)}).to_dict()
        except Exception:
            break
        again = rule(materialised)
        if again == materialised:
            break
        tiny = again
    test_config = export.merge(shrink.diff(defaults, tiny), overrides)
    for key in built_towers(desc, defaults):
        test_config.setdefault(key, {})  # a tower the rule left at its defaults is still built
    for floor in (None, 64, 32, 16):
        if floor is not None:
            merged = export.merge(defaults, test_config)
            if not shrink.shrink_remaining(merged, floor):
                continue
            test_config = export.merge(shrink.diff(defaults, merged), overrides)
        try:
            config = export.build_config({"config_class": desc["config_class"], "test_config": test_config})
            total, largest = export.count_parameters(model_class, config)
        except Exception as error:
            raise Unsupported(contract.classify_build_error(error), error, test_config)
        if total <= PARAMETER_CAP:
            return test_config, total
    raise Unsupported("too-large", f"{total:,} parameters after shrinking (cap {PARAMETER_CAP:,}); largest part {largest}")


def tensor_outputs(result) -> list[str]:
    """Up to 4 tensor outputs by name; a tuple of tensors (backbone feature maps) gives `<field>_<i>`;
    a forward that returns a bare tensor (or a tuple of them) gives `output` (`output_<i>`)."""
    if isinstance(result, torch.Tensor):
        return ["output"]
    if isinstance(result, tuple) and result and all(isinstance(v, torch.Tensor) for v in result):
        return [f"output_{i}" for i in range(len(result))][:4]
    if not hasattr(result, "keys"):
        return []
    names = []
    for key in result.keys():
        value = result[key]
        if key == "loss":
            continue
        if isinstance(value, torch.Tensor):
            names.append(key)
        elif isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value) and "hidden_states" not in key and "attentions" not in key:
            names.extend(f"{key}_{i}" for i in range(len(value)))
    if not names:
        # Only nested outputs (InstructBLIP: vision, Q-Former and language model outputs).
        # (The language model's first: it is what the model answers with.)
        for key in sorted(result.keys(), key=lambda k: "language" not in k):
            value = result[key]
            if hasattr(value, "keys"):
                names.extend(f"{key}__{sub}" for sub in value.keys() if isinstance(value[sub], torch.Tensor))
    return names[:4]


def close(actual: torch.Tensor, reference: torch.Tensor, entry: dict) -> bool:
    """The runtime's comparison (parity.py) under one output's derived tolerance."""
    if actual.shape != reference.shape or actual.dtype != reference.dtype:
        return False
    return parity.within(actual, reference, entry)[0]


def run_eager(model, request: dict, varied: bool):
    named = export.make_inputs(request, varied)
    extra = export.forward_extras(model)
    with torch.no_grad():
        return model(**{n: export.baked_value(t, n in constant_names(request), False) for n, t in named.items()}, **extra)


# Forward parameters that carry media (images, audio, video) rather than text or settings.
MEDIA_PARAMETER = re.compile(r"pixel|image|audio|video|speech|input_features|input_values|protein")


def unfed_media(model, family: str, specs: list[dict]) -> str | None:
    """For a multimodal or speech model fed no media at all, the first media parameter its
    forward takes; else None."""
    if family not in ("multimodal", "speech-seq2seq"):
        return None
    names = {s["name"] for s in specs}
    if any(MEDIA_PARAMETER.search(n) for n in names) or "bbox" in names:
        return None
    return next((n for n in inspect.signature(model.forward).parameters if MEDIA_PARAMETER.search(n) and not n.endswith(("_mask", "_sizes", "_token_id"))), None)


def constant_names(request: dict) -> set[str]:
    """Scalar constants: the model gets them as Python lists (row constants stay tensors)."""
    return {spec["name"] for spec in request["inputs"] if spec["kind"] == "constant" and not isinstance(spec["value"], list)}


def retry_from_error(error, model, config, options: dict, dims: dict, specs: list[dict], params: set, attempts: list, errors: list) -> None:
    """Records a failed plan's error and queues the plans the model's own complaint calls for
    (the rules are rows of `retry_rules.RULES`)."""
    message = f"{type(error).__name__}: {error}"
    errors.append(message)
    if os.environ.get("HFZOO_PROBE_DEBUG"):
        print(f"probe: plan {options} failed: {message[:200]}", file=sys.stderr)
    seen = retry_rules.Seen(text=str(error), names=[s["name"] for s in specs], options=options, dims=dims, specs=specs, params=params, config=config)
    retry_rules.queue(retry_rules.propose(seen), attempts)


def choose_inputs(model, config, request: dict, family: str) -> tuple[dict, object]:
    """Finds an input plan the eager model accepts; returns the request and the set-a result."""
    attempts = [{}]
    if family == "video":
        attempts = [{"video": True}, {}]
    if family in ("multimodal", "speech-seq2seq"):
        attempts = [dict(a, feed_media=True) for a in attempts]  # a text-only pass does not count
    errors = []
    tried = 0
    params = model_params(model)  # inputs an error message may name
    while attempts and tried < 8:
        options = attempts.pop(0)
        tried += 1
        try:
            # (`fixed_audio` only steers the retries: the mel length is fixed, not a multiple.)
            dims, specs = input_rules.plan(model, config, input_rules.PlanOptions(**{k: v for k, v in options.items() if k != "fixed_audio"}))
        except input_rules.UnknownInput as error:
            if options.get("extra"):  # an input the error named that no rule builds: other plans remain
                errors.append(str(error))
                continue
            raise Unsupported("model-inputs", str(error))
        candidate = dict(request, dims=dims, inputs=specs, outputs=[])
        try:
            result = run_eager(model, candidate, varied=False)
            run_eager(model, candidate, varied=True)
        except Exception as error:  # adjust the plan from the model's own complaint
            retry_from_error(error, model, config, options, dims, specs, params, attempts, errors)
            continue
        unfed = unfed_media(model, family, specs)
        if unfed:
            # A multimodal or speech model that ran on text alone has not run as such.
            raise Unsupported("model-inputs", f"runs on text alone; the input rules do not build its media input `{unfed}`")
        return candidate, result
    # The first error, unless a later plan hit one a repair of the config addresses.
    raise Unsupported("model-inputs", next((e for e in errors if repair.repairable(e)), errors[0]) if errors else "no input plan")


def model_params(model) -> set[str]:
    """Names the forward takes (inputs an error message may ask for)."""
    return {n for n in inspect.signature(model.forward).parameters if n not in ("kwargs", "args", "return_dict", "output_attentions", "output_hidden_states", "use_cache", "labels", "past_key_values")}


def symbolic_shape(a: torch.Tensor, b: torch.Tensor, dims: dict) -> list:
    shape = []
    for size_a, size_b in zip(a.shape, b.shape):
        if size_a == size_b:
            shape.append(int(size_a))
            continue
        names = [n for n, d in dims.items() if d["size"] == size_a and d.get("varied") == size_b]
        shape.append(names[0] if len(names) == 1 else "_")
    return shape


def trace_and_compare(model, request: dict) -> None:
    """Eager must repeat itself; the saved trace must match eager on both input sets.

    A model that draws random numbers in its forward (masking, sampling, noise) differs from
    itself unseeded. Where the forward accepts the draw as an input (`RANDOMNESS_INPUTS`), the
    input is added to the request; otherwise it is checked again with every checked run seeded
    (`run_seed`), which the exporter and the runtime then do too.
    """
    fed = randomness_as_input(model, request)
    if fed is not None:
        request["inputs"] = fed["inputs"]
    try:
        compare_runs(model, request)
    except Unsupported as error:
        if error.category != "nondeterministic":
            raise
        seeded = dict(request, run_seed=RUN_SEED)
        compare_runs(model, seeded)
        request["run_seed"] = RUN_SEED


# Forward parameters through which a model takes the random numbers it would otherwise draw
# itself (ViTMAE's and Hiera's masking `noise`). Fed as an input, the draw is part of the input
# set and every engine computes the same thing; a seeded generator (`run_seed`) only makes
# eager PyTorch repeat itself, since each engine has its own generator.
# The draws a forward makes that it also accepts as an input: (forward parameter, the torch
# function it draws with). A `rand` draw (ViTMAE's masking noise) is fed as a uniform float input;
# a `randint` draw (DiffusionGemma's canvas of random tokens when `decoder_input_ids` is unset)
# as token ids over the same range.
RANDOMNESS_INPUTS = (("noise", "rand"), ("decoder_input_ids", "randint"))


def randomness_as_input(model, request: dict) -> dict | None:
    """The request with the model's own draw fed as an input (`RANDOMNESS_INPUTS`): named when
    its forward takes one and makes exactly one such draw on each input set, shaped by the
    request's dimensions; None otherwise."""
    params = inspect.signature(model.forward).parameters
    fed = {spec["name"] for spec in request["inputs"]}
    for name, function in RANDOMNESS_INPUTS:
        if name not in params or name in fed:
            continue
        draws = {s: recorded_draws(model, request, function, varied=(s == "b")) for s in ("a", "b")}
        if any(len(found) != 1 for found in draws.values()):
            continue
        (shape_a, low, high), (shape_b, _, _) = draws["a"][0], draws["b"][0]
        shape = symbolic_shape(torch.empty(shape_a), torch.empty(shape_b), request["dims"])
        if "_" in shape:
            continue
        if function == "rand":
            spec = {"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [0.0, 1.0]}
        else:
            spec = {"name": name, "kind": "token_ids", "shape": shape, "dtype": "int64", "range": [float(low), float(high)]}
        return dict(request, inputs=request["inputs"] + [spec])
    return None


def randint_bounds(args: tuple, kwargs: dict) -> tuple[int, int]:
    """`torch.randint`'s [low, high) from its call: `(high, size)`, `(low, high, size)` or keywords."""
    if "high" in kwargs:
        return int(kwargs.get("low", 0)), int(kwargs["high"])
    bounds = [int(a) for a in args if isinstance(a, int)]
    return (0, bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])


def recorded_draws(model, request: dict, function: str, varied: bool) -> list[tuple]:
    """The draws of `torch.<function>` (`rand` or `randint`) one forward makes on an input set:
    (shape, low, high) each, the bounds of a uniform draw being [0, 1)."""
    draws = []
    original = getattr(torch, function)

    def recording(*args, **kwargs):
        drawn = original(*args, **kwargs)
        low, high = randint_bounds(args, kwargs) if function == "randint" else (0, 1)
        draws.append((tuple(drawn.shape), low, high))
        return drawn

    names = [o["name"] for o in request["outputs"]]
    wrapper = export.NamedForward(model, request["inputs"], names, export.forward_extras(model)).eval()
    inputs = export.make_inputs(request, varied=varied)
    setattr(torch, function, recording)
    try:
        with torch.no_grad():
            wrapper(*inputs.values())
    finally:
        setattr(torch, function, original)
    return draws


# Seed of torch's global generator before each checked forward of a model that draws random numbers.
RUN_SEED = 0


def compare_runs(model, request: dict) -> None:
    names = [o["name"] for o in request["outputs"]]
    wrapper = export.NamedForward(model, request["inputs"], names, export.forward_extras(model)).eval()
    sets = {s: export.make_inputs(request, varied=(s == "b")) for s in ("a", "b")}
    eager = {}
    for s in sets:
        with export.seeded(request):
            eager[s] = wrapper(*sets[s].values())
    with export.seeded(request):
        again = wrapper(*sets["a"].values())
    broken = [n for n, x in zip(names, eager["a"]) if x.is_floating_point() and not torch.isfinite(x).all()]
    if broken:
        raise Unsupported("model-inputs", f"eager PyTorch returns NaN or infinite values in `{broken[0]}` on these inputs")
    # The runtime's order of stages: trace (the exporter), then the float64 run that derives
    # the tolerances (last, so nothing it leaves in model code reaches a float32 result), then
    # determinism, then chaotic or silent outputs, then the loaded module on set a and set b.
    try:
        with torch.no_grad(), export.TraceShims(model):
            traced = torch.jit.trace(wrapper, tuple(sets["a"].values()), strict=False, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
    except Exception as error:
        raise Unsupported("torchscript", error)
    references = {s: dict(zip(names, eager[s])) for s in sets}
    wide, why_not = export.float64_references(model, request, sets, names)
    tolerances = parity.derive(references, wide, why_not)["outputs"]
    if not all(close(y, x, tolerances[n]) for n, x, y in zip(names, eager["a"], again)):
        raise Unsupported("nondeterministic", "eager PyTorch gives different outputs for identical inputs" + (", even seeded" if "run_seed" in request else ""))
    category, why = parity.verdict({"outputs": tolerances})
    if category:
        raise Unsupported(category, why)
    for name in ("a", "b"):
        try:
            with export.seeded(request):
                got = loaded(*sets[name].values())
        except Exception as error:
            raise Unsupported("trace-specialised" if name == "b" else "torchscript", error)
        for output, want, have in zip(names, eager[name], got):
            if not close(have, want, tolerances[output]):
                detail = f"output `{output}` on set {name} differs from eager"
                if want.shape == have.shape and want.is_floating_point():
                    detail += f" (max abs diff {(want - have).abs().max().item():.3e})"
                raise Unsupported("trace-specialised" if name == "b" else "torchscript", detail)


def refine_family(desc: dict, config, model) -> str:
    family = desc["family"]
    attrs = vars(config)
    if family in ("decoder-only", "other"):
        if any(isinstance(attrs.get(k), int) and attrs[k] > 1 for k in ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")):
            return "mixture-of-experts"
        if any(k in attrs for k in ("ssm_state_size", "state_size", "d_state", "mamba_d_state")):
            return "state-space"
    if family == "other":
        main = getattr(model, "main_input_name", "input_ids")
        return {"pixel_values": "vision", "input_values": "audio", "input_features": "audio", "past_values": "time-series"}.get(main, "other")
    return family


def modality(specs: list[dict], task: str = "") -> list[str]:
    """The modalities the chosen inputs feed, from their names and ranks.

    Pixels of any layout count as vision: NCHW, patch-flattened (`[patches, C*p*p]` with a
    grid), NaFlex, tiles, image pairs, several images per sample. Five-dimensional pixels are
    video only when the task is a video task; raw-audio `inputs` count as audio.
    """
    names = {s["name"] for s in specs}
    ranks = {s["name"]: len(s["shape"]) for s in specs}
    video_task = "video" in task
    found = []
    if names & {"input_ids", "decoder_input_ids"}:
        found.append("text")
    pixels_are_video = ranks.get("pixel_values") == 5 and video_task
    if ("pixel_values" in names and not pixels_are_video) or names & IMAGE_INPUTS or ("hidden_states" in names and "grid_thw" in names):
        found.append("vision")
    if "pixel_values_videos" in names or pixels_are_video:
        found.append("video")
    if names & {"input_values", "input_features", "inputs"}:
        found.append("audio")
    if "past_values" in names:
        found.append("time-series")
    return found or ["text"]


# Inputs besides `pixel_values` that carry image content.
IMAGE_INPUTS = {"high_res_pixel_values", "flattened_patches", "visual_feats", "image_grid_thw"}


def probe(desc: dict, overrides: dict) -> dict:
    """Everything the metadata needs for one model type that has a model class.

    Tries each shrinking rule in RULES order and keeps the first that passes; when none does,
    the failure that got furthest (earliest rule on a tie) is what the metadata records.
    """
    started = time.perf_counter()
    try:
        defaults = default_config(desc)
    except Unsupported as error:
        return {"test_config": {}, "parameters": None, "expected": "unsupported", "category": error.category, "reason": error.reason, "shrink_rule": RULES[0][0], "seconds": round(time.perf_counter() - started, 2)}
    best = None
    for name, rule, reapply in RULES:
        out = attempt(desc, overrides, defaults, rule, reapply)
        out["shrink_rule"] = name
        if out["expected"] == "pass":
            best = with_smaller_inputs(desc, defaults, out)
            break
        if best is None or STAGE_ORDER.index(out["category"]) > STAGE_ORDER.index(best["category"]):
            best = out
        if out["category"] in FINAL or out["reason"].startswith(SIGNATURE_FAILURES):
            break
    best["seconds"] = round(time.perf_counter() - started, 2)
    return best


def with_smaller_inputs(desc: dict, defaults: dict, passed: dict) -> dict:
    """The passing result again with smaller images and fewer frames, when that passes too."""
    merged = export.merge(defaults, passed["test_config"])
    if not shrink.smaller_inputs(merged):
        return passed
    smaller = shrink.diff(defaults, merged)
    try:
        total, _ = export.count_parameters(getattr(transformers, desc["model_class"]), export.build_config({"config_class": desc["config_class"], "test_config": smaller}))
    except Exception:
        return passed
    out = attempt_config(desc, smaller, total)
    if out["expected"] != "pass":
        return passed
    out["shrink_rule"] = passed["shrink_rule"] + "+smaller-inputs"
    return out


REPAIRS = 16  # repairs in a row for one rule (a config class may lack several settings)


def safe_repair(reason: str, test_config: dict, defaults: dict, desc: dict) -> dict | None:
    """repair.repair, where a repair that cannot even be computed counts as no repair."""
    try:
        return repair.repair(reason, test_config, defaults, desc["config_class"])
    except Exception:
        return None


def attempt(desc: dict, overrides: dict, defaults: dict, rule, reapply: bool) -> dict:
    """One probe of a model type with one shrinking rule (and the repairs its errors call for)."""
    for _ in range(REPAIRS):
        try:
            test_config, total = tiny_config(desc, overrides, defaults, rule, reapply)
            break
        except Unsupported as error:
            failed = {"test_config": error.test_config, "parameters": None, "expected": "unsupported", "category": error.category, "reason": error.reason}
            # Values a repair copies come from the shrunk tree, not from the full-size defaults.
            repaired = safe_repair(error.reason, overrides, rule(defaults), desc) if error.category == "build" else None
            if repaired is None or repaired == overrides:
                return failed
            overrides = repaired
    else:
        return failed
    for _ in range(REPAIRS):
        out = attempt_config(desc, test_config, total)
        repaired = None if out["expected"] == "pass" else safe_repair(out["reason"], test_config, defaults, desc)
        if repaired is None and out.get("category") == "trace-specialised":
            repaired = repair.every_expert(test_config, defaults)
        if repaired is None or repaired == test_config:
            return out
        test_config = repaired
    return out


def attempt_config(desc: dict, test_config: dict, total: int) -> dict:
    """Builds, feeds, traces and compares one tiny configuration."""
    out = {"test_config": test_config, "parameters": total}
    try:
        request = {"model_type": desc["model_type"], "config_class": desc["config_class"], "model_class": desc["model_class"], "seed": 0, "test_config": test_config}
        try:
            model = export.build_model(request)
        except Exception as error:
            raise Unsupported(contract.classify_build_error(error), error)
        out["family"] = refine_family(desc, model.config, model)
        request, result = choose_inputs(model, model.config, request, out["family"])
        out.update(dims=request["dims"], inputs=request["inputs"], modality=modality(request["inputs"], desc.get("task") or ""))
        names = tensor_outputs(result)
        if not names:
            raise Unsupported("model-inputs", f"forward returns no tensor outputs ({type(result).__name__})")
        with torch.no_grad():
            result_b = run_eager(model, request, varied=True)
        request["outputs"] = [{"name": n, "shape": symbolic_shape(export.pick_output(result, n), export.pick_output(result_b, n), request["dims"])} for n in names]
        out["outputs"] = request["outputs"]
        static = []
        for retry in range(5):
            try:
                trace_and_compare(model, request)
                break
            except Unsupported as error:
                dynamic = [d for d, spec in request["dims"].items() if spec.get("varied")]
                if error.category != "trace-specialised" or retry == 4 or not dynamic:
                    raise
                # Declare one more dimension static (batch first) and check again.
                dim = "batch" if "batch" in dynamic else dynamic[0]
                request["dims"][dim].pop("varied")
                static.append(dim)
        out.update(dims=request["dims"], inputs=request["inputs"], outputs=request["outputs"], static_by_trace=static, expected="pass")
        if "run_seed" in request:
            out["run_seed"] = request["run_seed"]
    except Unsupported as error:
        out.update(expected="unsupported", category=error.category, reason=error.reason)
    except Exception as error:  # anything else: the stage is unknown, keep the first line
        out.update(expected="unsupported", category="build", reason=Unsupported("build", error).reason)
    return out
