"""Input plans: which tensors a model's forward gets, from its signature and configuration.

A plan is built in three steps, each rule a row of a table (`test_inputs.py` checks every row on
its case in `input_cases.json`; removing a row makes its case fail):
  * `first_inputs`: the model's main input(s), its required parameters, the optional inputs
    the probe's options ask for, and the media input of every tower the config has;
  * `COMPANIONS`, in order: the inputs that come with those (a mask with its ids, a patch grid
    with its pixels, ...); a row may also set a layout on the plan (tiles, patch grid, ...);
  * `INPUT_RULES`: the spec (kind, shape, dtype, range) of each wanted input, from the first row
    that builds it; any other required tensor is reported as a model-specific input the rules
    do not know (`UnknownInput`).
The probe then adjusts counts and layouts from the model's own errors (`retry_rules.RULES`).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

TEXT_DIMS = {"batch": {"size": 2, "varied": 3}, "seq": {"size": 7, "varied": 5}}
VISION_FALLBACK_SIZE = 64
AUDIO_SAMPLES = 1600  # raw audio samples per row in set a (set b has 1.5x)


class UnknownInput(Exception):
    """A required forward parameter the input rules cannot fill."""


def sub(config, *names):
    for name in names:
        value = getattr(config, name, None)
        if value is not None and not isinstance(value, (int, float, str, bool, list, dict)):
            return value
    return None


def special_ids(config, found=None) -> set[int]:
    found = set() if found is None else found
    for key, value in vars(config).items():
        if hasattr(value, "to_dict") and hasattr(value, "model_type"):
            special_ids(value, found)
        elif "token" in key and (key.endswith("_id") or key.endswith("_index")) and isinstance(value, int) and not isinstance(value, bool):
            found.add(value)
        elif "token" in key and key.endswith("_ids") and isinstance(value, list):
            found.update(v for v in value if isinstance(v, int))
    return found


def text_vocab(config) -> int:
    try:
        text = config.get_text_config()
    except Exception:
        text = config
    # The text config, the config, then the nearest nested one that has a vocabulary (the
    # acoustic model inside a text-to-speech + vocoder pair).
    for cfg in [text, config] + configs_breadth_first(config):
        vocab = getattr(cfg, "vocab_size", None)
        if isinstance(vocab, int) and vocab > 1:
            return vocab
    return 128


def token_range(config) -> list[float]:
    vocab = text_vocab(config)
    specials = special_ids(config)
    high = min([vocab] + [s for s in specials if 8 <= s < vocab])
    low = max([1] + [s + 1 for s in specials if 0 <= s < 8])
    if high - low < 4:
        low, high = 1, max(2, vocab)
    return [float(low), float(high)]


def image_shape(config) -> tuple[int, int, int]:
    vision = sub(config, "vision_config", "vision_encoder_config", "image_config", "backbone_config") or config
    channels = getattr(vision, "num_channels", None) or getattr(config, "num_channels", None) or 3
    size = getattr(vision, "image_size", None) or getattr(config, "image_size", None) or VISION_FALLBACK_SIZE
    if isinstance(size, (list, tuple)):
        height, width = int(size[0]), int(size[-1])
    elif isinstance(size, dict):
        height, width = int(size.get("height", VISION_FALLBACK_SIZE)), int(size.get("width", VISION_FALLBACK_SIZE))
    else:
        height = width = int(size)
    return int(channels), height, width


MEL_NAMES = ("num_mel_bins", "feature_size", "input_feat_per_channel", "n_mels", "input_dim", "num_mel_filters", "input_feat_size")


def mel_bins(config) -> int:
    """Feature width of a spectrogram input: the audio tower's mel bins, searched through
    nested sub-configs (an ASR config inside the audio config), times the frames a model
    stacks into one input row when its config says so (`input_size` = bins x stacked frames)."""
    for cfg in configs_breadth_first(sub(config, "audio_config", "encoder_config") or config):
        stacked = getattr(cfg, "input_size", None) if getattr(cfg, "num_stacked_frames", None) else None
        if isinstance(stacked, int) and stacked > 0:
            return stacked
        for name in MEL_NAMES:
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
    for name in MEL_NAMES:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 80


def configs_breadth_first(config) -> list:
    """`config` and every configuration nested in it, nearest first."""
    found, queue = [], [config]
    while queue:
        cfg = queue.pop(0)
        found.append(cfg)
        queue += [v for v in vars(cfg).values() if hasattr(v, "to_dict") and hasattr(v, "model_type")]
    return found


def required(model) -> list[str]:
    params = inspect.signature(model.forward).parameters
    return [
        n for n, p in params.items()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


@dataclass(frozen=True)
class PlanOptions:
    """What the probe has learnt about a model's inputs (each field set by a rule of
    `retry_rules.RULES` or by the probe's first attempts); the defaults are the generic plan.
    `extra` names optional forward inputs the model's own error asked for."""

    image_tokens: int = 0
    features_layout: str = "mel_first"
    audio_frames: object = None
    video: bool = False
    audio_channels: bool = False
    audio_samples: int = AUDIO_SAMPLES
    frames: int | None = None
    feature_bins: int | None = None
    extra: tuple = ()
    float_boxes: bool = False
    patch_images: bool = False
    embedded_width: int | None = None
    spectrogram_image: bool = False
    embeds_only: bool = False
    aligned_seq: int | None = None
    channels_first: bool = False
    frames_in_batch: int | None = None
    image_scale: int = 1
    packed_patch_images: bool = False
    patch_features: int | None = None
    patchified: bool = False
    feed_media: bool = False
    media_only: bool = False
    token_streams: int | None = None


@dataclass
class Plan:
    """One model's inputs while they are planned: its forward's parameters and config, the
    options, the inputs wanted so far, their dimensions, and the layouts the rows found."""

    config: object
    options: PlanOptions
    params: Mapping
    main: object
    wanted: list[str]
    image_tokens: int
    # The patch-grid parameter of a Qwen-VL style forward (`image_grid_thw` / `grid_thw`).
    grid: str | None = None
    # Layouts, each set by its row of `COMPANIONS`: flattened patches on that grid, tiled
    # images, positioned patches (and their parameter), NaFlex patches, NaViT-packed images.
    flat: dict | None = None
    tiles: dict | None = None
    positions: str | None = None
    placed: dict | None = None
    naflex: dict | None = None
    packed: bool = False
    dims: dict = field(default_factory=dict)
    low: float = 0.0
    high: float = 0.0

    def add(self, *names: str) -> None:
        """Wants each named input the forward takes and the plan does not want yet, in order."""
        self.wanted += [n for n in names if n in self.params and n not in self.wanted]

    def rows(self, name: str, per_row: int) -> str:
        """A dimension of `per_row` items for each batch row, added to `dims` as `name`."""
        batch = self.dims["batch"]
        self.dims[name] = {"size": batch["size"] * per_row, **({"varied": batch["varied"] * per_row} if batch.get("varied") else {})}
        return name


@dataclass(frozen=True)
class Companion:
    """A row: an input that comes with others (when the plan wants what it reads), what it
    means, and how it adds it (a row may also set a layout on the plan)."""

    name: str
    means: str
    add: Callable[[Plan], None]


@dataclass(frozen=True)
class InputRule:
    """A row: the inputs it builds (when `builds` holds for the plan and the name), what it
    means, and the spec it builds."""

    name: str
    means: str
    builds: Callable[[Plan, str], bool]
    spec: Callable[[Plan, str], dict]


def plan(model, config, options: PlanOptions = PlanOptions()) -> tuple[dict, list[dict]]:
    """Dimensions and inputs for one model (before the probe adjusts counts and layouts): each
    wanted input of `planned` built by the first `INPUT_RULES` row that builds it."""
    p = planned(model, config, options)
    return p.dims, [build(p, name) for name in p.wanted]


def planned(model, config, options: PlanOptions = PlanOptions()) -> Plan:
    """The inputs a model is fed (`first_inputs`) and, in order, what each `COMPANIONS` row adds;
    the batch dimension and the token range, before any input is built."""
    p = first_inputs(model, config, options)
    for row in COMPANIONS:
        row.add(p)
    p.dims = {"batch": dict(TEXT_DIMS["batch"])}
    if p.packed or p.grid:
        p.dims["batch"].pop("varied")  # the packed row's length or the grid constant fixes the number of images
    p.low, p.high = token_range(config)
    return p


def build(p: Plan, name: str) -> dict:
    """The spec of one wanted input, from the first row that builds it."""
    row = rule_for(p, name)
    if row is None:
        raise UnknownInput(f"forward needs `{name}`, which the generic input rules do not build")
    return row.spec(p, name)


def rule_for(p: Plan, name: str) -> InputRule | None:
    """The first row of `INPUT_RULES` that builds `name` for this plan."""
    return next((row for row in INPUT_RULES if row.builds(p, name)), None)


# Every modality a composite model has a sub-config for is fed, not only its main input.
TOWERS = {
    "pixel_values": ("vision_config", "vision_encoder_config", "image_config"),
    "input_features": ("audio_config", "speech_config"),
    "input_values": ("audio_config", "speech_config"),
    "pixel_values_videos": ("video_config",),
}


def first_inputs(model, config, options: PlanOptions) -> Plan:
    """The plan's first inputs: the model's main input(s), its required parameters, the inputs
    the options ask for, and the media of every tower the config has."""
    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    mains = main if isinstance(main, (list, tuple)) else [main]  # (OneFormer names two)
    wanted = [m for m in mains if m in params] + [n for n in required(model) if n not in mains]
    if not wanted and "input_ids" in params:
        wanted.append("input_ids")  # a text tower whose class inherits another main input (SAM 3 Lite)
    if options.embeds_only and "inputs_embeds" in params:
        # A model that refuses ids (a talker's code predictor fed by another model's states).
        wanted = [n if n != "input_ids" else "inputs_embeds" for n in wanted]
    wanted += [n for n in options.extra if n in params and n not in wanted]
    if "lang_ids" in params and getattr(config, "languages", None):
        wanted.append("lang_ids")  # X-MOD: the adapter of each row's language
    media = [n for n, configs in TOWERS.items() if n in params and any(sub(config, c) for c in configs)]
    if options.feed_media and not media and "bbox" not in params:
        # A multimodal or speech model fed no media by its sub-configs (and no page layout): its
        # first media input, whatever its configs are called.
        media += [n for n in MEDIA if n in params and not (n == "input_values" and "input_features" in params)][:1]
    if media and "input_ids" in params and "input_ids" not in wanted:
        wanted.insert(0, "input_ids")
    for name in media:
        if name not in wanted and not (name == "input_values" and "input_features" in media):
            wanted.append(name)
    if options.media_only and set(media) & set(wanted):
        # The media input replaces the text (Pop2Piano embeds its features as the encoder input).
        wanted = [n for n in wanted if n != "input_ids"]
    grid = next((n for n in ("image_grid_thw", "grid_thw") if n in params), None)
    return Plan(config=config, options=options, params=params, main=main, wanted=wanted, image_tokens=options.image_tokens, grid=grid)


# --- Companions: inputs that come with the ones wanted -------------------------------------


def _append_if(p: Plan, name: str, when: bool) -> None:
    if when:
        p.wanted.append(name)


def _attention_mask(p: Plan) -> None:
    # (Grid models compute 3-D positions from the mask in Python: a trace would bake set a's
    # padding in, so they run unpadded.)
    _append_if(p, "attention_mask", "input_ids" in p.wanted and "attention_mask" in p.params and not p.grid)


def _latent_query_mask(p: Plan) -> None:
    if "image_embeds_position_mask" in p.params and {"flattened_patches", "pixel_values"} & set(p.wanted) and "input_ids" in p.wanted:
        p.wanted.append("image_embeds_position_mask")
        p.image_tokens = p.image_tokens or latent_queries(p.config)


def _tiles(p: Plan) -> None:
    p.tiles = tiled_images(p.config) if "aspect_ratio_ids" in p.params and "pixel_values" in p.wanted else None
    if p.tiles:
        p.add("aspect_ratio_ids", "aspect_ratio_mask", *(("cross_attention_mask",) if "input_ids" in p.wanted else ()))


def _positioned(p: Plan) -> None:
    if "pixel_values" in p.wanted:
        p.positions = next((n for n in ("pixel_position_ids", "image_position_ids") if n in p.params), None)
    p.placed = positioned_patches(p.config) if p.positions else None
    if p.placed:
        p.add(p.positions)


def _naflex(p: Plan) -> None:
    p.naflex = naflex_patches(p.config) if "spatial_shapes" in p.params and "pixel_values" in p.wanted else None
    if p.naflex:
        p.add("pixel_attention_mask", "spatial_shapes")


def _grid(p: Plan) -> None:
    if not p.grid:
        return
    p.flat = flat_patches(p.config)
    p.image_tokens = p.image_tokens or p.flat["tokens"]
    for name in (p.grid, "mm_token_type_ids", "merge_sizes", "image_merge_sizes"):
        if name in p.params and name not in p.wanted and ("input_ids" in p.wanted or name in (p.grid, "merge_sizes", "image_merge_sizes")):
            p.wanted.append(name)


def _packed(p: Plan) -> None:
    p.packed = "target_sizes" in p.params and p.main == "pixel_values" and "pixel_values" in p.wanted
    if p.packed:
        p.add("target_sizes")


# In order: a row sees what the rows above it added.
COMPANIONS = [
    Companion("protein_attention_mask", "Evolla: the mask of its protein sequence",
              lambda p: _append_if(p, "protein_attention_mask", "protein_input_ids" in p.wanted and "protein_attention_mask" in p.params)),
    Companion("attention_mask", "the text's padding mask (none for grid models: they run unpadded)", _attention_mask),
    Companion("decoder_input_ids", "an encoder-decoder's decoder tokens",
              lambda p: p.add("decoder_input_ids") if getattr(p.config, "is_encoder_decoder", False) else None),
    Companion("decoder_input_values", "SpeechT5 without pre-nets: the decoder's hidden states beside the encoder's",
              lambda p: p.add("decoder_input_values") if bool(p.options.embedded_width) and "input_values" in p.wanted else None),
    Companion("trajectory", "Decision Transformer: one trajectory per row, every part of it",
              lambda p: p.add(*TRAJECTORY) if "states" in p.wanted else None),
    Companion("image_attention_mask", "IDEFICS: which images each token attends to",
              lambda p: _append_if(p, "image_attention_mask", "image_attention_mask" in p.params and p.options.video and "pixel_values" in p.wanted and "input_ids" in p.wanted)),
    Companion("bbox", "document models: each token's box on the page is their layout modality",
              lambda p: p.add("bbox") if "input_ids" in p.wanted else None),
    Companion("page_patches", "LayoutLMv3: page patches embedded next to the tokens",
              lambda p: p.add("pixel_values") if getattr(p.config, "visual_embed", False) and "input_ids" in p.wanted else None),
    Companion("chunk_sample_lengths", "dots.3 audio: each chunk's length in raw samples",
              lambda p: p.add("chunk_sample_lengths") if "input_features" in p.wanted else None),
    Companion("feature_mask", "audio towers that read a frame mask take it under one of these names",
              lambda p: p.add(*[n for n in FEATURE_MASKS if n in p.params and n not in p.wanted][:1]) if "input_features" in p.wanted else None),
    Companion("series", "time series: the past's time features, observed mask and frequency",
              lambda p: p.add(*[n for n in SERIES if n != "past_values_padding"]) if "past_values" in p.wanted else None),
    Companion("image_sizes", "any-resolution models: each image's size",
              lambda p: p.add("image_sizes") if "pixel_values" in p.wanted and not p.grid else None),
    Companion("region_features", "LXMERT: region features and their positions",
              lambda p: p.add("visual_feats", "visual_pos") if "visual_feats" in p.params and getattr(p.config, "visual_feat_dim", None) else None),
    Companion("flattened_patches", "Pix2Struct-style pages: the only pixel input these take",
              lambda p: p.add("flattened_patches")),
    Companion("image_embeds_position_mask", "Kosmos-2(.5): where the image's latent queries go", _latent_query_mask),
    Companion("high_res_pixel_values", "the high-resolution tower always runs with the low one",
              lambda p: p.add("high_res_pixel_values") if "pixel_values" in p.wanted else None),
    Companion("tiles", "Mllama: the aspect ratio of tiled images (and the tokens' tile mask)", _tiles),
    Companion("positioned_patches", "Gemma 4: each patch's position", _positioned),
    Companion("naflex", "SigLIP 2: the patch mask and grid of NaFlex images", _naflex),
    Companion("patch_grid", "Qwen-VL style: the patch grid, the image tokens' type ids and merge sizes", _grid),
    Companion("target_sizes", "MiniCPM-V's vision towers: each NaViT-packed image's patch grid", _packed),
]


# --- Input rules: the spec of each wanted input ---------------------------------------------


def _uniform(name: str, shape: list, low: float = -1.0, high: float = 1.0) -> dict:
    return {"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [low, high]}


def _ids(name: str, shape: list, low: float, high: float, dtype: str = "int64") -> dict:
    return {"name": name, "kind": "token_ids", "shape": shape, "dtype": dtype, "range": [low, high]}


def _constant(name: str, shape: list, value) -> dict:
    return {"name": name, "kind": "constant", "shape": shape, "dtype": "int64", "value": value}


def _mask(name: str, shape: list, dtype: str = "int64") -> dict:
    return {"name": name, "kind": "mask", "shape": shape, "dtype": dtype}


def _flat_pixels(p: Plan, name: str) -> dict:
    rows = p.dims["batch"]["size"] * p.flat["patches"]
    # (`patch_images`: each patch as a small image for a convolutional embedding, Kimi K2.5.)
    as_images = p.options.patch_images or p.options.packed_patch_images
    features = [p.flat["channels"], p.flat["patch"], p.flat["patch"]] if as_images else [p.flat["features"]]
    if p.options.packed_patch_images:  # (PaddleOCR-VL: every image's patches packed into one sequence)
        return _uniform(name, [1, rows] + features)
    return _uniform(name, [rows] + features)


def _tiled_pixels(p: Plan, name: str) -> dict:
    channels, height, width = image_shape(p.config)
    return _uniform(name, ["batch", 1, p.tiles["tiles"], channels, height, width])


def _input_ids(p: Plan, name: str) -> dict:
    o = p.options
    seq = dict(TEXT_DIMS["seq"])
    if p.image_tokens:  # the probe finds the count from the model's own mismatch message
        seq = {"size": p.image_tokens + 7, "varied": p.image_tokens + 5}
    if o.aligned_seq:  # one text token per audio frame (streaming speech models): both static
        seq = {"size": o.aligned_seq}
    p.dims["seq"] = seq
    spec = _ids(name, ["batch", "seq"], p.low, p.high)
    if p.image_tokens and "image_embeds_position_mask" not in p.wanted:  # (the mask places Kosmos-2.5's)
        audio = bool({"input_features", "input_values"} & set(p.wanted)) and not {"pixel_values", "pixel_values_videos"} & set(p.wanted)
        spec["prefix"] = {"token": media_token_id(p.config, audio=audio), "count": p.image_tokens}
    if o.token_streams:
        # Kyutai speech-to-text: a text stream and every audio codebook's stream per step.
        vocab = min(int(getattr(p.config, "vocab_size", None) or p.high), int(getattr(p.config, "codebook_vocab_size", None) or p.high))
        spec.update(shape=["batch", "seq", o.token_streams], range=[0.0, float(vocab)])
    codebooks = getattr(p.config, "num_codebooks", None)
    if isinstance(codebooks, int) and codebooks > 1 and sub(p.config, "decoder") is not None and "decoder_input_ids" not in p.params:
        # MusicGen's decoder as the model: audio codes, one row per codebook and sample.
        spec.update(shape=[p.rows("code_rows", codebooks), "seq"], range=[0.0, float(getattr(p.config, "vocab_size", None) or p.high)])
    return spec


def _decoder_input_ids(p: Plan, name: str) -> dict:
    p.dims["dec_seq"] = {"size": 4, "varied": 6}
    decoder = sub(p.config, "decoder", "decoder_config") or p.config
    channels = getattr(sub(p.config, "decoder_config"), "num_channels", None)
    codes = float(int(getattr(decoder, "vocab_size", None) or p.high))
    if isinstance(channels, int) and channels > 1 and getattr(sub(p.config, "decoder_config"), "vocab_size", None):
        # An audio-code decoder (Dia): one code per channel and step, [batch, dec_seq, channels].
        return _ids(name, ["batch", "dec_seq", channels], 0.0, codes)
    codebooks = getattr(decoder, "num_codebooks", None)
    if isinstance(codebooks, int) and codebooks > 1:
        # MusicGen: one row of audio codes per codebook and sample, [batch * codebooks, dec_seq].
        return _ids(name, [p.rows("code_rows", codebooks), "dec_seq"], 0.0, codes)
    return _ids(name, ["batch", "dec_seq"], p.low, p.high)


def _video(p: Plan, name: str) -> dict:
    channels, height, width = image_shape(p.config)
    count = p.options.frames or getattr(p.config, "num_frames", None) or getattr(sub(p.config, "vision_config"), "num_frames", None) or 8
    return _uniform(name, ["batch", count, channels, height, width])


def _image_size(p: Plan) -> tuple[int, int, int]:
    """Channels, height and width of an image input: the config's, larger when the model says
    too small. (SegGPT's prompt image and its mask are images of the input's size; the model
    stacks prompt and input, so each is half the configured height.)"""
    channels, height, width = image_shape(p.config)
    height, width = height * p.options.image_scale, width * p.options.image_scale
    if "prompt_pixel_values" in p.wanted:
        height //= 2
    return channels, height, width


def _image(p: Plan, name: str) -> dict:
    channels, height, width = _image_size(p)
    return _uniform(name, ["batch", channels, height, width])


def _packed_pixels(p: Plan, name: str) -> dict:
    channels, _, _ = image_shape(p.config)
    patch = vision_patch(p.config)
    return _uniform(name, [1, channels, patch, patch * PACKED_SIDE * PACKED_SIDE * p.dims["batch"]["size"]])


def _patchified_pixels(p: Plan, name: str) -> dict:
    channels, height, width = _image_size(p)
    patch = vision_patch(p.config)
    count = int(getattr(sub(p.config, "vision_config") or p.config, "num_position_embeddings", None) or (height // patch) * (width // patch))
    return _uniform(name, ["batch", count, channels * patch * patch])


def _frame_row_pixels(p: Plan, name: str) -> dict:
    channels, height, width = _image_size(p)
    return _uniform(name, [p.rows("frame_rows", p.options.frames_in_batch), channels, height, width])


def _embedded_values(p: Plan, name: str) -> dict:
    seq = "seq" if name == "input_values" else "dec_seq"
    p.dims.setdefault(seq, {"size": 7, "varied": 5} if seq == "seq" else {"size": 4, "varied": 6})
    return _uniform(name, ["batch", seq, p.options.embedded_width])


def _embedded_inputs(p: Plan, name: str) -> dict:
    p.dims["seq"] = dict(TEXT_DIMS["seq"])
    return _uniform(name, ["batch", "seq", p.options.embedded_width])


def _media_tokens_fixed(p: Plan) -> bool:
    """Whether audio tokens in the text must match the audio's length (which then cannot vary)."""
    return bool(p.image_tokens or p.options.aligned_seq) and "pixel_values" not in p.wanted


def _raw_audio(p: Plan, name: str) -> dict:
    samples = p.options.audio_samples
    p.dims["samples"] = {"size": samples, "varied": samples * 3 // 2}
    if _media_tokens_fixed(p):
        p.dims["samples"].pop("varied")
    return _uniform(name, ["batch", 1, "samples"] if p.options.audio_channels else ["batch", "samples"])


def _features(p: Plan, name: str) -> dict:
    o = p.options
    p.dims["frames"] = dict(o.audio_frames or {"size": 64, "varied": 48})
    if _media_tokens_fixed(p):
        p.dims["frames"].pop("varied", None)
    bins = o.feature_bins or mel_bins(p.config)
    shape = ["batch", bins, "frames"] if o.features_layout == "mel_first" else ["batch", "frames", bins]
    if o.spectrogram_image:  # (one-channel spectrogram image [batch, 1, frames, bins]: CLAP's audio tower)
        shape = ["batch", 1, "frames", bins]
    return _uniform(name, shape)


def _image_sizes(p: Plan, name: str) -> dict:
    _, height, width = image_shape(p.config)
    if height != width:
        raise UnknownInput(f"forward needs `image_sizes` for a {height}x{width} image; the rule covers square images")
    return _constant(name, ["batch", 2], height)


def _series(p: Plan, name: str) -> dict:
    past, channels = series_shape(p.config)
    p.dims["past"] = {"size": past}
    return series_input(name, p.config, past, channels)


def _flattened_patches(p: Plan, name: str) -> dict:
    p.dims["patches"] = {"size": 16, "varied": 12}
    vision = sub(p.config, "vision_config") or p.config
    width = 2 + int(getattr(vision, "patch_embed_hidden_size", None) or 3 * 16 * 16)
    return _uniform(name, ["batch", "patches", width], 0.0, 4.0)


def _high_res_pixels(p: Plan, name: str) -> dict:
    tower = sub(p.config, "high_res_vision_config") or p.config
    size = int(getattr(tower, "image_size", None) or VISION_FALLBACK_SIZE)
    return _uniform(name, ["batch", int(getattr(tower, "num_channels", None) or 3), size, size])


def _regions(p: Plan, name: str) -> dict:
    p.dims["regions"] = {"size": 4, "varied": 6}
    width = p.config.visual_feat_dim if name == "visual_feats" else getattr(p.config, "visual_pos_dim", 4)
    return _uniform(name, ["batch", "regions", int(width)], 0.0, 1.0)


def _qformer_ids(p: Plan, name: str) -> dict:
    p.dims["qseq"] = {"size": 6, "varied": 4}
    vocab = getattr(sub(p.config, "qformer_config"), "vocab_size", None) or text_vocab(p.config)
    return _ids(name, ["batch", "qseq"], 1.0, float(vocab))


def _boxes(p: Plan, name: str) -> dict:
    if p.options.float_boxes:  # coordinates normalised to the page
        return {"name": name, "kind": "boxes", "shape": ["batch", "seq", 4], "dtype": "float32", "range": [0.0, 1.0]}
    return {"name": name, "kind": "boxes", "shape": ["batch", "seq", 4], "dtype": "int64", "range": [0.0, 1000.0]}


def _trajectory_part(p: Plan, name: str) -> dict:
    p.dims.setdefault("steps", {"size": 5, "varied": 3})
    width = {"states": getattr(p.config, "state_dim", None), "actions": getattr(p.config, "act_dim", None)}.get(name) or 1
    return _uniform(name, ["batch", "steps", int(width)])


def _chunk_lengths(p: Plan, name: str) -> dict:
    # Every frame valid: frames x hop samples per chunk (frames static, so the value holds).
    p.dims["frames"].pop("varied", None)
    samples = p.dims["frames"]["size"] * int(getattr(sub(p.config, "audio_config") or p.config, "hop_length", None) or 160)
    return _ids(name, ["batch"], float(samples), float(samples + 1))


def _protein_ids(p: Plan, name: str) -> dict:
    p.dims["protein_seq"] = {"size": 9, "varied": 6}
    protein = sub(p.config, "protein_encoder_config") or p.config
    return _ids(name, ["batch", "protein_seq"], 4.0, float(getattr(protein, "vocab_size", None) or 32))


def _task_inputs(p: Plan, name: str) -> dict:
    length = int(getattr(p.config, "task_seq_len", None) or 16)
    vocab = int(getattr(p.config, "text_encoder_vocab_size", None) or 128)
    return _ids(name, ["batch", length], 1.0, float(vocab))


def _audio_mel(p: Plan, name: str) -> dict:
    p.dims.setdefault("frames", dict(p.options.audio_frames or {"size": 64, "varied": 48}))
    return _uniform(name, ["batch", "frames", p.options.feature_bins or mel_bins(p.config)])


def _audio_ids(p: Plan, name: str) -> dict:
    p.dims.setdefault("frames", {"size": 16, "varied": 12})
    bins = int(getattr(p.config, "n_mel_bins", None) or mel_bins(p.config))
    return _ids(name, ["batch", "frames", bins], 0.0, float(getattr(p.config, "mel_vocab_size", None) or 256))


def _latents(p: Plan, name: str) -> dict:
    p.dims.setdefault("frames", {"size": 16, "varied": 12})
    return _uniform(name, ["batch", p.options.embedded_width or hidden_width(p.config), "frames"])


def _embeddings(p: Plan, name: str) -> dict:
    p.dims.setdefault("seq", dict(TEXT_DIMS["seq"]))
    encoder_width = getattr(p.config, "encoder_hidden_size", None) if name == "encoder_hidden_states" else None
    width = encoder_width or p.options.embedded_width or hidden_width(p.config)
    if p.options.channels_first:  # a tower that starts with a convolution: [batch, width, frames]
        p.dims.setdefault("frames", {"size": 64, "varied": 48})
        return _uniform(name, ["batch", width, "frames"])
    return _uniform(name, ["batch", "seq", width])


def _named(*names: str) -> Callable[[Plan, str], bool]:
    return lambda p, name: name in names


# In order: the first row that builds a name builds it.
INPUT_RULES = [
    InputRule("flat_patches", "patch-flattened vision (Qwen-VL style): [batch * patches, channels * temporal_patch * patch^2], each patch as a small image for a convolutional patch embedding, or those packed into one sequence",
              lambda p, n: bool(p.flat) and n in ("pixel_values", "hidden_states"), _flat_pixels),
    InputRule("tiled_pixels", "Mllama: one image per row cut into every tile",
              lambda p, n: bool(p.tiles) and n == "pixel_values", _tiled_pixels),
    InputRule("aspect_ratio_ids", "Mllama: the aspect ratio id whose tile grid uses every tile",
              lambda p, n: bool(p.tiles) and n == "aspect_ratio_ids", lambda p, n: _constant(n, ["batch", 1], [p.tiles["aspect_ratio_id"]])),
    InputRule("aspect_ratio_mask", "Mllama: every tile is real (ids drawn from [1, 2))",
              lambda p, n: bool(p.tiles) and n == "aspect_ratio_mask", lambda p, n: _ids(n, ["batch", 1, p.tiles["tiles"]], 1.0, 2.0)),
    InputRule("tile_attention_mask", "Mllama: every token attends to every tile",
              lambda p, n: bool(p.tiles) and n == "cross_attention_mask", lambda p, n: _ids(n, ["batch", "seq", 1, p.tiles["tiles"]], 1.0, 2.0)),
    InputRule("positioned_pixels", "Gemma 4: patches on a square grid of twice the pooling kernel per side (`patch_features`: the width the model's first norm names)",
              lambda p, n: bool(p.placed) and n == "pixel_values",
              lambda p, n: _uniform(n, ["batch", p.placed["patches"], p.options.patch_features or p.placed["features"]], 0.0, 1.0)),
    InputRule("patch_positions", "Gemma 4: the (x, y) of each patch",
              lambda p, n: bool(p.placed) and n == p.positions,
              lambda p, n: {"name": n, "kind": "grid_positions", "shape": ["batch", p.placed["patches"], 2], "dtype": "int64", "value": p.placed["grid"]}),
    InputRule("naflex_pixels", "SigLIP 2: NaFlex patches [batch, patches, features]",
              lambda p, n: bool(p.naflex) and n == "pixel_values", lambda p, n: _uniform(n, ["batch", p.naflex["patches"], p.naflex["features"]])),
    InputRule("naflex_mask", "SigLIP 2: all patches real (padding would change the image token count)",
              lambda p, n: bool(p.naflex) and n == "pixel_attention_mask", lambda p, n: _ids(n, ["batch", p.naflex["patches"]], 1.0, 2.0)),
    InputRule("spatial_shapes", "SigLIP 2: the patch grid, a constant",
              lambda p, n: bool(p.naflex) and n == "spatial_shapes", lambda p, n: _constant(n, ["batch", 2], p.naflex["grid"])),
    InputRule("patch_grid", "Qwen-VL style: t=1 x (2*merge) x (2*merge) patches per image, a row constant",
              lambda p, n: bool(p.flat) and n == p.grid, lambda p, n: _constant(n, ["batch", 3], p.flat["grid"])),
    InputRule("merge_sizes", "VideoLLaMA 3: each image's spatial merge size, the config's (a tensor: constants reach the model as lists)",
              lambda p, n: bool(p.flat) and n in ("merge_sizes", "image_merge_sizes"),
              lambda p, n: _ids(n, ["batch"], float(p.flat["merge"]), float(p.flat["merge"] + 1))),
    InputRule("mm_token_type_ids", "Qwen-VL style: the image tokens at the start of the text marked",
              lambda p, n: bool(p.flat) and n == "mm_token_type_ids",
              lambda p, n: dict(_ids(n, ["batch", "seq"], 0.0, 1.0), prefix={"token": 1, "count": p.image_tokens})),
    InputRule("input_ids", "token ids clear of special tokens, the media token written once per media token at the start ([batch, seq, streams] for Kyutai's text and codebook streams, [batch * codebooks, seq] of audio codes for MusicGen's decoder)",
              _named("input_ids"), _input_ids),
    InputRule("attention_mask", "the padding mask ([batch, steps] of a trajectory)",
              _named("attention_mask"), lambda p, n: _mask(n, ["batch", "steps" if "states" in p.wanted else "seq"])),
    InputRule("decoder_input_ids", "an encoder-decoder's decoder tokens ([batch * codebooks, dec_seq] for MusicGen, [batch, dec_seq, channels] for Dia)",
              _named("decoder_input_ids"), _decoder_input_ids),
    InputRule("video", "videos [batch, frames, channels, height, width] (also images per sample when the probe says video: IDEFICS)",
              lambda p, n: n == "pixel_values_videos" or (n == "pixel_values" and p.options.video), _video),
    InputRule("packed_pixels", "MiniCPM-V's vision towers: every image's 4 x 4 patch grid side by side in one row",
              lambda p, n: p.packed and n == "pixel_values", _packed_pixels),
    InputRule("patchified_pixels", "Molmo 2's vision tower: the image already cut into patches [batch, patches, C*p*p]",
              lambda p, n: p.options.patchified and n == "pixel_values", _patchified_pixels),
    InputRule("frame_row_pixels", "X-CLIP's vision tower: every frame of every video as its own image row",
              lambda p, n: bool(p.options.frames_in_batch) and n == "pixel_values", _frame_row_pixels),
    InputRule("image", "images [batch, channels, height, width] from the (vision) config's size; SegGPT's prompt image and mask each half the height",
              _named("pixel_values", "prompt_pixel_values", "prompt_masks"), _image),
    InputRule("embedded_values", "SpeechT5 without pre-nets: hidden states in and out, [batch, seq, hidden]",
              lambda p, n: n in ("input_values", "decoder_input_values") and bool(p.options.embedded_width), _embedded_values),
    InputRule("embedded_inputs", "Perceiver without a preprocessor: already-embedded inputs [batch, seq, d_model]",
              lambda p, n: n == "inputs" and bool(p.options.embedded_width), _embedded_inputs),
    InputRule("spectrogram_values", "Audio Spectrogram Transformer: a fixed-length spectrogram [batch, max_length, bins]",
              lambda p, n: n == "input_values" and p.options.spectrogram_image,
              lambda p, n: _uniform(n, ["batch", int(getattr(p.config, "max_length", None) or 64), mel_bins(p.config)])),
    InputRule("raw_audio", "raw audio [batch, samples], or [batch, 1, samples] for codecs that take a channel axis",
              _named("input_values", "inputs"), _raw_audio),
    InputRule("input_features", "spectrograms [batch, mel, frames] or [batch, frames, mel] ([batch, 1, frames, bins] as an image: CLAP's audio tower)",
              _named("input_features"), _features),
    InputRule("image_sizes", "any-resolution models: the square image's size, a constant",
              _named("image_sizes"), _image_sizes),
    InputRule("feature_mask", "a frame mask, all ones: padded frames would change how many audio features there are",
              lambda p, n: n in FEATURE_MASKS, lambda p, n: _ids(n, ["batch", "frames"], 1.0, 2.0)),
    InputRule("series", "time series: past values (context + largest lag), time features, observed masks, TimesFM's frequency",
              lambda p, n: n in SERIES, _series),
    InputRule("flattened_patches", "Pix2Struct, Kosmos-2.5: a row and a column index then the patch",
              _named("flattened_patches"), _flattened_patches),
    InputRule("image_embeds_position_mask", "Kosmos-2(.5): the latent queries' positions at the start of the text",
              _named("image_embeds_position_mask"),
              lambda p, n: dict(_ids(n, ["batch", "seq"], 0.0, 1.0), prefix={"token": 1, "count": p.image_tokens})),
    InputRule("high_res_pixel_values", "the high-resolution tower's images, its config's size",
              _named("high_res_pixel_values"), _high_res_pixels),
    InputRule("region_features", "LXMERT: region features and positions [batch, regions, width]",
              _named("visual_feats", "visual_pos"), _regions),
    InputRule("qformer_input_ids", "InstructBLIP: the Q-Former's text, ids in its vocabulary",
              _named("qformer_input_ids"), _qformer_ids),
    InputRule("lang_ids", "X-MOD: each row's language",
              _named("lang_ids"), lambda p, n: _ids(n, ["batch"], 0.0, float(len(p.config.languages)))),
    InputRule("bbox", "well-formed boxes [batch, seq, 4] (integers, or page fractions for a model that averages them: UDOP)",
              _named("bbox"), _boxes),
    InputRule("trajectory", "Decision Transformer: states, actions, rewards, returns [batch, steps, width from the config]",
              _named("states", "actions", "rewards", "returns_to_go"), _trajectory_part),
    InputRule("timesteps", "Decision Transformer: steps below `max_ep_len`",
              _named("timesteps"), lambda p, n: _ids(n, ["batch", "steps"], 0.0, float(getattr(p.config, "max_ep_len", None) or 16))),
    InputRule("target_sizes", "MiniCPM-V: each packed image's patch grid",
              lambda p, n: p.packed and n == "target_sizes", lambda p, n: _constant(n, ["batch", 2], [PACKED_SIDE, PACKED_SIDE])),
    InputRule("chunk_sample_lengths", "dots.3 audio: every frame valid, frames x hop samples per chunk",
              _named("chunk_sample_lengths"), _chunk_lengths),
    InputRule("protein_input_ids", "Evolla: a protein sequence, ids in its protein encoder's vocabulary",
              _named("protein_input_ids"), _protein_ids),
    InputRule("protein_attention_mask", "Evolla: the protein sequence's padding mask",
              _named("protein_attention_mask"), lambda p, n: _mask(n, ["batch", "protein_seq"])),
    InputRule("task_inputs", "OneFormer: the tokenised task prompt, task_seq_len long",
              _named("task_inputs"), _task_inputs),
    InputRule("audio_mel", "Gemma 3n's audio encoder on its own: a mel spectrogram [batch, frames, bins]",
              _named("audio_mel"), _audio_mel),
    InputRule("audio_mel_mask", "Gemma 3n: True where a frame is padding; none is",
              _named("audio_mel_mask"), lambda p, n: _ids(n, ["batch", "frames"], 0.0, 1.0, dtype="bool")),
    InputRule("audio_input_ids", "Inkling's audio tower: quantised mel frames, one id per bin [batch, frames, bins]",
              _named("audio_input_ids"), _audio_ids),
    InputRule("embedded_frame_mask", "the frame mask of a tower fed embeddings (Phi-4 multimodal's audio encoder): all valid",
              lambda p, n: n == "mask" and any(EMBEDDED.search(w) for w in p.wanted), lambda p, n: _mask(n, ["batch", "seq"], dtype="bool")),
    InputRule("image_attention_mask", "IDEFICS: each token attends to every image of its row",
              _named("image_attention_mask"), lambda p, n: _mask(n, ["batch", "seq", p.options.frames or 1])),
    InputRule("latents", "an audio codec's decoder on its own: continuous latents [batch, width, frames]",
              _named("latents"), _latents),
    InputRule("embeddings", "already-embedded inputs of a tower used on its own (`*_embeds`, `hidden_states`): [batch, seq, width], the width the model's error names or its hidden size (`encoder_hidden_size` for cross-attention); [batch, width, frames] when it starts with a convolution",
              lambda p, n: bool(EMBEDDED.search(n)), _embeddings),
]


FEATURE_MASKS = ("input_features_mask", "feature_attention_mask", "audio_attention_mask", "input_features_attention_mask")
SERIES = ("past_values", "past_time_features", "past_observed_mask", "observed_mask", "past_values_padding", "freq")


def series_shape(config) -> tuple[int, int]:
    """Past length (context + largest lag) and channels of a time-series model."""
    context = getattr(config, "context_length", None) or getattr(config, "prediction_length", None) or 32
    lags = getattr(config, "lags_sequence", None)
    past = int(context) + (max(lags) if lags else 0)
    channels = getattr(config, "input_size", None) or getattr(config, "num_input_channels", None) or 1
    return past, int(channels)


def series_input(name: str, config, past: int, channels: int) -> dict:
    lagged = getattr(config, "lags_sequence", None) is not None  # Time Series Transformer family
    values = ["batch", "past"] if lagged and channels == 1 else ["batch", "past", channels]
    if not lagged and not hasattr(config, "num_input_channels"):
        values = ["batch", "past"]  # TimesFM: one series per row
    if name == "past_values":
        return {"name": name, "kind": "normal", "shape": values, "dtype": "float32"}
    if name == "past_time_features":
        features = getattr(config, "num_time_features", None) or 1
        return {"name": name, "kind": "uniform", "shape": ["batch", "past", int(features)], "dtype": "float32", "range": [-0.5, 0.5]}
    if name in ("past_observed_mask", "observed_mask"):
        return {"name": name, "kind": "mask", "shape": values, "dtype": "float32"}
    if name == "past_values_padding":
        return {"name": name, "kind": "token_ids", "shape": ["batch", "past"], "dtype": "int64", "range": [0.0, 1.0]}
    return {"name": name, "kind": "token_ids", "shape": ["batch", 1], "dtype": "int64", "range": [0.0, 3.0]}


def flat_patches(config) -> dict:
    """Sizes of the patch-flattened layout: patches per image, features per patch, grid, image tokens."""
    vision = sub(config, "vision_config") or config
    patch = vision_patch(config)
    temporal = getattr(vision, "temporal_patch_size", None) or getattr(vision, "patch_temporal", None) or 1
    channels = getattr(vision, "in_channels", None) or getattr(vision, "num_channels", None) or getattr(vision, "in_chans", None) or 3
    merge = getattr(vision, "spatial_merge_size", None) or getattr(config, "spatial_merge_size", None) or 1
    side = 2 * merge
    return {
        "patches": side * side,
        "channels": int(channels) * int(temporal),
        "patch": int(patch),
        "features": int(channels) * int(temporal) * int(patch) * int(patch),
        "grid": [1, side, side],
        "merge": int(merge),
        "tokens": (side * side) // (merge * merge),
    }


def tiled_images(config) -> dict:
    """Tiled images (Mllama): one image per row cut into every tile, and the aspect ratio id
    whose tile grid uses all of them (ids start at 1; 0 means no image)."""
    vision = sub(config, "vision_config") or config
    tiles = int(getattr(vision, "max_num_tiles", None) or 4)
    ratios = getattr(vision, "supported_aspect_ratios", None) or []
    ratio_id = next((i + 1 for i, (h, w) in enumerate(ratios) if h * w == tiles), 1)
    return {"tiles": tiles, "aspect_ratio_id": ratio_id}


NAFLEX_SIDE = 4  # patches per side of the one image shape a NaFlex model is fed


def naflex_patches(config) -> dict:
    """Sizes of the NaFlex layout (SigLIP 2): patches per image, features per patch, patch grid."""
    vision = sub(config, "vision_config") or config
    patch = getattr(vision, "patch_size", None) or 16
    channels = getattr(vision, "num_channels", None) or 3
    return {"patches": NAFLEX_SIDE * NAFLEX_SIDE, "features": int(channels) * int(patch) * int(patch), "grid": [NAFLEX_SIDE, NAFLEX_SIDE]}


# Media inputs a multimodal or speech model's forward may take.
MEDIA = ("pixel_values", "input_features", "input_values", "protein_input_ids")

# Patches per side of each NaViT-packed image.
PACKED_SIDE = 4

# A trajectory's parts (Decision Transformer), after `states`.
TRAJECTORY = ("actions", "rewards", "returns_to_go", "timesteps", "attention_mask")

# Forward inputs that are embeddings rather than ids or media.
EMBEDDED = re.compile(r"(^|_)(embeds|hidden_states)$")


def hidden_width(config) -> int:
    """The model's hidden width (its own, else its text config's)."""
    for cfg in (config, sub(config, "text_config")):
        value = getattr(cfg, "hidden_size", None) if cfg is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return 32


def vision_patch(config) -> int:
    """The vision tower's patch side."""
    vision = sub(config, "vision_config") or config
    return int(getattr(vision, "patch_size", None) or 14)


def latent_queries(config) -> int:
    """Image embeddings a resampler writes into the text (Kosmos-2.5's latent queries)."""
    return int(getattr(config, "latent_query_num", None) or 64)


def positioned_patches(config) -> dict:
    """Sizes of the positioned-patch layout (Gemma 4): a square grid of twice the pooling kernel
    per side, so pooling leaves 2 x 2 soft tokens per image."""
    vision = sub(config, "vision_config") or config
    patch = int(getattr(vision, "patch_size", None) or 16)
    side = 2 * int(getattr(vision, "pooling_kernel_size", None) or 1)
    channels = int(getattr(vision, "num_channels", None) or 3)
    return {"patches": side * side, "features": channels * patch * patch, "grid": [side, side]}


def has_media_token(config, audio: bool = False) -> bool:
    try:
        media_token_id(config, audio)
        return True
    except UnknownInput:
        return False


def media_token_id(config, audio: bool = False) -> int:
    """The token id whose positions receive image features (audio features for audio-text models)."""
    names = ("audio_token_id", "audio_token_index", "audio_token") if audio else ("image_token_id", "image_token_index", "image_token")
    for cfg in [config] + [v for v in vars(config).values() if hasattr(v, "to_dict") and hasattr(v, "model_type")]:
        for name in names:
            value = getattr(cfg, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    raise UnknownInput(f"multimodal config names no {'audio' if audio else 'image'} token id")
