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


def count_from_mismatch(message: str, batch: int, hidden: int) -> list[int]:
    """Candidate image-token counts (per row) from a 'tokens: X, features: Y' style message."""
    numbers = [int(n) for n in re.findall(r"\d+", message)]
    candidates = []
    for n in numbers:
        for d in (batch, 1, batch * hidden, hidden):
            if d and n % d == 0 and 0 < n // d <= 1024:
                candidates.append(n // d)
    return list(dict.fromkeys(candidates))


def retry_from_error(error, model, config, options: dict, dims: dict, specs: list[dict], params: set, attempts: list, errors: list) -> None:
    """Records a failed plan's error and queues the plans the model's own complaint calls for."""
    message = f"{type(error).__name__}: {error}"
    errors.append(message)
    if os.environ.get("HFZOO_PROBE_DEBUG"):
        print(f"probe: plan {options} failed: {message[:200]}", file=sys.stderr)
    names = [s["name"] for s in specs]
    mismatch = "token" in str(error).lower()
    audio = "pixel_values" not in names and bool({"input_features", "input_values"} & set(names))
    media = "pixel_values" in names or audio
    if mismatch and "input_ids" in names and media and not options.get("image_tokens") and input_rules.has_media_token(config, audio):
        hidden = getattr(config.get_text_config(), "hidden_size", 0) or 0
        for count in count_from_mismatch(str(error), 2, hidden)[:4]:
            attempts.append(dict(options, image_tokens=count))
    frames = (options.get("audio_frames") or {}).get("size") if options.get("fixed_audio") else None
    if audio and frames and "input_ids" in names and not options.get("image_tokens") and input_rules.has_media_token(config, True):
        # Fixed-length audio (30 s of mel frames): the encoder's downsampling sets the count.
        for factor in (4, 2, 8):
            attempts.insert(0, dict(options, image_tokens=frames // factor))
    channel_complaint = "too many indices for tensor of dimension 2" in str(error) or "expected 3, got 2" in str(error) or "to have 1 channels" in str(error) or "must be mono" in str(error)
    if "input_values" in names and channel_complaint and not options.get("audio_channels"):
        attempts.append(dict(options, audio_channels=True))
    too_short = "can't be greater than actual input size" in str(error) or "Output size is too small" in str(error)
    samples = options.get("audio_samples", input_rules.AUDIO_SAMPLES)
    if "input_values" in names and too_short and samples < 10 * input_rules.AUDIO_SAMPLES:
        attempts.insert(0, dict(options, audio_samples=samples * 10))
    if "5D tensor of shape (batch_size, 2," in str(error) and not options.get("video"):
        attempts.append(dict(options, video=True, frames=2))  # image pairs (keypoint matching)
    hop = re.search(r"`input_values` length \d+ is not a multiple of (\d+)", str(error))
    if "input_values" in names and hop and samples % int(hop.group(1)):
        step = int(hop.group(1))
        attempts.insert(0, dict(options, audio_samples=step * -(-samples // step) * 2))
    norm = re.search(r"normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], but got input of size\[\d+, \d+, \d+\]", str(error))
    if "input_features" in names and norm and not options.get("feature_bins"):
        attempts.insert(0, dict(options, features_layout="frames_first", feature_bins=int(norm.group(1))))
    if re.search(r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[\d+, \d+\]", str(error)) and not options.get("patch_images"):
        attempts.insert(0, dict(options, patch_images=True))  # flattened patches, embedded by a convolution
    embedded = re.search(r"Last dimension of the inputs: \d+ doesn't correspond to config.d_model: (\d+)", str(error))
    takes_embeddings = "latents" in names or any(input_rules.EMBEDDED.search(n) for n in names)
    hidden_values = re.search(r"normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], but got input of size\[\d+, \d+\]$", str(error))
    if hidden_values and "input_values" in names and not options.get("embedded_width"):
        embedded = hidden_values  # raw audio where the model wants hidden states (SpeechT5 without pre-nets)
    if not embedded and takes_embeddings:
        # The width the first layer wants: a projection's, a norm's, or a convolution's channels.
        embedded = re.search(r"mat1 and mat2 shapes cannot be multiplied \(\d+x\d+ and (\d+)x\d+\)|normalized_shape=\[(\d+)\]|to have (\d+) channels, but got|must match the size of tensor b \((\d+)\) at non-singleton dimension 2", str(error))
        convolution = bool(embedded and embedded.group(3))
        embedded = embedded and re.match(r"(\d+)", next(g for g in embedded.groups() if g))
        if embedded and convolution and not options.get("embedded_width"):
            attempts.insert(0, dict(options, embedded_width=int(embedded.group(1)), channels_first=True))
            embedded = None
    if ("inputs" in names or takes_embeddings or hidden_values) and embedded and not options.get("embedded_width"):
        attempts.insert(0, dict(options, embedded_width=int(embedded.group(1))))  # embeddings, not audio
    if "Dimension out of range (expected to be in range of [-3, 2], but got 3)" in str(error) and {"input_values", "input_features"} & set(names) and not options.get("spectrogram_image"):
        attempts.insert(0, dict(options, spectrogram_image=True))  # a spectrogram with an image axis
    aligned = re.search(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 1", str(error))
    seq = next((s for s in specs if s["name"] == "input_ids"), None)
    if aligned and seq and {"input_values", "input_features"} & set(names) and not options.get("aligned_seq") and int(aligned.group(1)) == dims["seq"]["size"]:
        # Text aligned with audio frames (one token per frame): the text takes the frames' length.
        attempts.insert(0, dict(options, aligned_seq=int(aligned.group(2))))
    too_small = any(m in str(error) for m in ("Output size is too small", "Kernel size can't be greater than actual input size", "is too small to be scaled"))
    if too_small and "pixel_values" in names and options.get("image_scale", 1) < 8:
        attempts.insert(0, dict(options, image_scale=options.get("image_scale", 1) * 2))  # a larger image
    unpack = re.search(r"not enough values to unpack \(expected 5, got ([23])\)", str(error))
    if "pixel_values" in names and unpack and any(isinstance(s["shape"][0], int) for s in specs if s["name"] == "pixel_values"):
        # Flattened patches as small images: packed into one sequence for a tower that
        # unpacks five sizes itself, or one per row for a model that adds that axis.
        option = "packed_patch_images" if unpack.group(1) == "2" else "patch_images"
        if not options.get(option):
            attempts.insert(0, dict(options, **{option: True}))
    if "pixel_values" in names and "not enough values to unpack (expected 4, got 3)" in str(error) and not options.get("video"):
        attempts.insert(0, dict(options, video=True, frames=1))  # images per sample: [batch, 1, C, H, W]
    linear_patches = re.search(r"mat1 and mat2 shapes cannot be multiplied \(\d+x\d+ and (\d+)x\d+\)", str(error))
    pixels = next((s for s in specs if s["name"] == "pixel_values"), None)
    if linear_patches and pixels and len(pixels["shape"]) == 4 and not options.get("patchified"):
        channels, patch_side = pixels["shape"][1], input_rules.vision_patch(config)
        if isinstance(channels, int) and int(linear_patches.group(1)) == channels * patch_side * patch_side:
            attempts.insert(0, dict(options, patchified=True))  # pixels already cut into patches
    per_frame = re.search(r"shape '\[0, (\d+), \d+\]' is invalid for input of size", str(error))
    if per_frame and "pixel_values" in names and not options.get("frames_in_batch"):
        attempts.insert(0, dict(options, frames_in_batch=int(per_frame.group(1))))  # frames as image rows
    widths = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 2", str(error))
    if widths and options.get("media_only") and "input_features" in names and not options.get("feature_bins") and int(widths.group(2)) == input_rules.mel_bins(config):
        # Features that are the encoder's input embeddings: as wide as the model.
        attempts.insert(0, dict(options, feature_bins=int(widths.group(1))))
    if "You cannot specify both input_ids and inputs_embeds" in str(error) and options.get("feed_media") and not options.get("media_only"):
        attempts.insert(0, dict(options, media_only=True))
    streams = re.search(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 1", str(error))
    codebooks = getattr(config, "num_codebooks", None)
    if streams and isinstance(codebooks, int) and int(streams.group(2)) == codebooks + 1 and "input_ids" in names and not options.get("token_streams"):
        attempts.insert(0, dict(options, token_streams=codebooks + 1))  # text plus audio codebook streams
    if "`input_ids` is expected to be `None`" in str(error) and not options.get("embeds_only"):
        attempts.insert(0, dict(options, embeds_only=True))
    if norm and {"pixel_position_ids", "image_position_ids"} & set(names) and not options.get("patch_features"):
        attempts.insert(0, dict(options, patch_features=int(norm.group(1))))  # wider positioned patches
    if "bbox" in names and "Got: Long" in str(error) and not options.get("float_boxes"):
        attempts.insert(0, dict(options, float_boxes=True))  # boxes as page fractions (UDOP)
    # Frames the feature extractor stacks into one row ([batch, frames, k * bins]): the
    # first projection's input width names k * bins.
    stacked = re.search(r"mat1 and mat2 shapes cannot be multiplied \(\d+x(\d+) and (\d+)x\d+\)", str(error))
    if "input_features" in names and stacked and not options.get("feature_bins"):
        fed, wants = int(stacked.group(1)), int(stacked.group(2))
        bins = input_rules.mel_bins(config)
        if wants % fed == 0 and wants > fed:
            attempts.insert(0, dict(options, features_layout="frames_first", feature_bins=wants))
        elif fed != wants and (bins * wants) % fed == 0:
            # A convolutional front end flattens (bins / stride) x channels: scale the bins.
            attempts.insert(0, dict(options, feature_bins=bins * wants // fed))
    asked = [n for n in re.findall(r"\w+", str(error)) if n in params and n not in names and n not in options.get("extra", ())]
    for name in list(dict.fromkeys(asked))[:3]:
        attempts.append(dict(options, extra=tuple(options.get("extra", ())) + (name,)))
    if "expected 5, got 4" in str(error) and not options.get("video"):
        attempts.append(dict(options, video=True))
    required_frames = re.search(r"features to be of length (\d+)|multiple of [^(]*\((\d+)\)", str(error))
    if "input_features" in names and required_frames and not options.get("audio_frames"):
        frames = int(required_frames.group(1) or required_frames.group(2))
        attempts.insert(0, dict(options, audio_frames={"size": frames}, fixed_audio=bool(required_frames.group(1))))
    if "input_features" in names and options.get("features_layout") != "frames_first":
        attempts.append(dict(options, features_layout="frames_first"))
        source = next((getattr(c, "max_source_positions", None) for c in (config, input_rules.sub(config, "audio_config", "encoder_config")) if isinstance(getattr(c, "max_source_positions", None), int)), None)
        if isinstance(source, int):
            attempts.append(dict(options, audio_frames={"size": 2 * source}))
            attempts.append(dict(options, features_layout="frames_first", audio_frames={"size": 2 * source}))


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
            dims, specs = input_rules.plan(model, config, **{k: v for k, v in options.items() if k != "fixed_audio"})
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
    itself unseeded; it is checked again with every checked run seeded (`run_seed`), which the
    exporter and the runtime then do too.
    """
    try:
        compare_runs(model, request)
    except Unsupported as error:
        if error.category != "nondeterministic":
            raise
        seeded = dict(request, run_seed=RUN_SEED)
        compare_runs(model, seeded)
        request["run_seed"] = RUN_SEED


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
        out.update(dims=request["dims"], outputs=request["outputs"], static_by_trace=static, expected="pass")
        if "run_seed" in request:
            out["run_seed"] = request["run_seed"]
    except Unsupported as error:
        out.update(expected="unsupported", category=error.category, reason=error.reason)
    except Exception as error:  # anything else: the stage is unknown, keep the first line
        out.update(expected="unsupported", category="build", reason=Unsupported("build", error).reason)
    return out
