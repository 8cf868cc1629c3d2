"""Input plans: which tensors a model's forward gets, from its signature and configuration.

Rules, by forward parameter (the model's `main_input_name` always included):
  * `input_ids` [batch, seq]: token ids clear of special tokens; `attention_mask` alongside
    ([batch, seq, 1 + codebooks] for a model that reads a text stream and its audio codebooks'
    streams together, Kyutai speech-to-text);
  * `decoder_input_ids` [batch, dec_seq] for encoder-decoders ([batch * codebooks, dec_seq] of audio
    codes for MusicGen's multi-codebook decoder, [batch, dec_seq, channels] for Dia's);
  * `pixel_values` [batch, channels, height, width] from the (vision) config's image size; fed
    to multimodal models too, with the image token written `count` times at the start of
    `input_ids` (the count is found by the probe from the model's own mismatch message);
  * NaViT-packed images for a tower that takes `target_sizes` (MiniCPM-V): [1, channels, patch,
    patch * 16 * batch] with each image's 4 x 4 patch grid as a row constant (batch static);
  * patchified images [batch, patches, channels * patch^2] for a tower whose first layer is a
    linear patch embedding (Molmo 2), when the model says so;
  * `pixel_values_videos` / video models: [batch, frames, channels, height, width] (also images
    per sample, IDEFICS, with `image_attention_mask` [batch, seq, images]); a vision tower
    that takes every frame as an image row (X-CLIP) gets [batch * frames, channels, height, width];
  * `input_values` [batch, samples] (raw audio), or [batch, 1, samples] for codecs that take a
    channel axis (the probe tries it when the model complains); `input_features` [batch, mel, frames] or
    [batch, frames, mel] (the probe tries both layouts);
  * `inputs`: raw audio like `input_values`, or [batch, seq, d_model] embeddings when the model
    says its inputs must be `d_model` wide (Perceiver without a preprocessor);
  * embeddings a tower takes when used on its own (`*_embeds`, `hidden_states`): [batch, seq,
    hidden size] (`encoder_hidden_size` for cross-attention inputs), or the width the model's
    error names ([batch, width, frames] when a convolution names it);
  * `audio_mel` [batch, frames, bins] with `audio_mel_mask` all False (no padding) for Gemma 3n's
    audio encoder used on its own;
  * `audio_input_ids` [batch, frames, bins] of quantised mel values (Inkling's audio tower);
  * OneFormer's `task_inputs` [batch, task_seq_len], a tokenised task prompt;
  * `latents` of an audio codec's decoder used on its own: [batch, width, frames];
  * a trajectory (Decision Transformer): `states`, `actions`, `rewards`, `returns_to_go`
    [batch, steps, width from the config], `timesteps` [batch, steps] below `max_ep_len`, and a
    step mask;
  * `bbox` [batch, seq, 4] well-formed boxes (integers, or page fractions for a model that
    averages them: UDOP); fed to every model whose forward takes it;
  * time series: `past_values` [batch, past] or [batch, past, channels], where past is the context
    length plus the largest lag; `past_time_features` [batch, past, time features]; observed
    masks and paddings alongside; TimesFM's `freq` [batch, 1];
  * `image_sizes` [batch, 2] (any-resolution models): the square image's size, a constant;
  * patch-flattened vision (a forward that takes `image_grid_thw` / `grid_thw`, Qwen-VL style):
    one image per row on a grid of t=1 x (2*merge) x (2*merge) patches; `pixel_values` (or a
    tower's `hidden_states`) is [batch * patches, channels * temporal_patch * patch^2] (or
    [batch * patches, channels, patch, patch] for a convolutional patch embedding, or those packed
    into one sequence [1, batch * patches, channels, patch, patch]), the grid
    is a row constant [1, h, w], `input_ids` start with the image token once per merged patch and
    `mm_token_type_ids` marks them (batch is static: the grid fixes the number of images); a
    per-image merge size (`merge_sizes`, VideoLLaMA 3) is the config's;
  * positioned patches (a forward that takes `pixel_position_ids` / `image_position_ids`,
    Gemma 4): `pixel_values` [batch, patches, channels * patch^2] on a square grid of 2 x the
    pooling kernel per side, and the (x, y) of each patch as `grid_positions`;
  * `flattened_patches` [batch, patches, 2 + patch features] (Pix2Struct, Kosmos-2.5): a row and a
    column index then the patch; Kosmos-2.5 also marks its latent queries' positions in
    `image_embeds_position_mask`;
  * a spectrogram as an image where the model asks for one more axis: `input_values` as
    [batch, max_length, bins] (Audio Spectrogram Transformer), `input_features` as
    [batch, 1, frames, bins] (CLAP's audio tower);
  * a frame mask [batch, frames] with `input_features` where the forward takes one;
  * any other required tensor parameter is reported as a model-specific input the rules do not know.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
import re

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
    `retry_rules.RULES` or by the probe's first attempts); the defaults are the generic plan."""

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


def plan(model, config, options: PlanOptions = PlanOptions()) -> tuple[dict, list[dict]]:
    """Dimensions and inputs for one model (before the probe adjusts counts and layouts).

    `extra` names optional forward inputs the model's own error asked for."""
    image_tokens = options.image_tokens
    features_layout = options.features_layout
    audio_frames = options.audio_frames
    video = options.video
    audio_channels = options.audio_channels
    audio_samples = options.audio_samples
    frames = options.frames
    feature_bins = options.feature_bins
    extra = options.extra
    float_boxes = options.float_boxes
    patch_images = options.patch_images
    embedded_width = options.embedded_width
    spectrogram_image = options.spectrogram_image
    embeds_only = options.embeds_only
    aligned_seq = options.aligned_seq
    channels_first = options.channels_first
    frames_in_batch = options.frames_in_batch
    image_scale = options.image_scale
    packed_patch_images = options.packed_patch_images
    patch_features = options.patch_features
    patchified = options.patchified
    feed_media = options.feed_media
    media_only = options.media_only
    token_streams = options.token_streams
    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    mains = main if isinstance(main, (list, tuple)) else [main]  # (OneFormer names two)
    wanted = [m for m in mains if m in params] + [n for n in required(model) if n not in mains]
    if not wanted and "input_ids" in params:
        wanted.append("input_ids")  # a text tower whose class inherits another main input (SAM 3 Lite)
    if embeds_only and "inputs_embeds" in params:
        # A model that refuses ids (a talker's code predictor fed by another model's states).
        wanted = [n if n != "input_ids" else "inputs_embeds" for n in wanted]
    wanted += [n for n in extra if n in params and n not in wanted]
    if "lang_ids" in params and getattr(config, "languages", None):
        wanted.append("lang_ids")  # X-MOD: the adapter of each row's language
    # Every modality a composite model has a sub-config for is fed, not only its main input.
    towers = {
        "pixel_values": ("vision_config", "vision_encoder_config", "image_config"),
        "input_features": ("audio_config", "speech_config"),
        "input_values": ("audio_config", "speech_config"),
        "pixel_values_videos": ("video_config",),
    }
    fed = [n for n, configs in towers.items() if n in params and any(sub(config, c) for c in configs)]
    if feed_media and not fed and "bbox" not in params:
        # A multimodal or speech model fed no media by its sub-configs (and no page layout): its
        # first media input, whatever its configs are called.
        fed += [n for n in MEDIA if n in params and not (n == "input_values" and "input_features" in params)][:1]
    if fed and "input_ids" in params and "input_ids" not in wanted:
        wanted.insert(0, "input_ids")
    for name in fed:
        if name not in wanted and not (name == "input_values" and "input_features" in fed):
            wanted.append(name)
    if "protein_input_ids" in wanted and "protein_attention_mask" in params:
        wanted.append("protein_attention_mask")
    if media_only and set(fed) & set(wanted):
        # The media input replaces the text (Pop2Piano embeds its features as the encoder input).
        wanted = [n for n in wanted if n != "input_ids"]
    grid = next((n for n in ("image_grid_thw", "grid_thw") if n in params), None)
    if "input_ids" in wanted and "attention_mask" in params and not grid:
        # (Grid models compute 3-D positions from the mask in Python: a trace would bake set a's
        # padding in, so they run unpadded.)
        wanted.append("attention_mask")
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params and "decoder_input_ids" not in wanted:
        wanted.append("decoder_input_ids")
    if embedded_width and "input_values" in wanted and "decoder_input_values" in params and "decoder_input_values" not in wanted:
        wanted.append("decoder_input_values")

    if "states" in wanted:  # Decision Transformer: one trajectory per row, every part of it
        wanted += [n for n in TRAJECTORY if n in params and n not in wanted]
    if "image_attention_mask" in params and video and "pixel_values" in wanted and "input_ids" in wanted:
        wanted.append("image_attention_mask")  # IDEFICS: which images each token attends to
    if "bbox" in params and "input_ids" in wanted and "bbox" not in wanted:
        wanted.append("bbox")  # document models: each token's box on the page is their layout modality
    if "pixel_values" in params and getattr(config, "visual_embed", False) and "input_ids" in wanted and "pixel_values" not in wanted:
        wanted.append("pixel_values")  # LayoutLMv3: page patches embedded next to the tokens
    if "chunk_sample_lengths" in params and "input_features" in wanted and "chunk_sample_lengths" not in wanted:
        wanted.append("chunk_sample_lengths")  # dots.3 audio: each chunk's length in raw samples
    if "input_features" in wanted:
        # Audio towers that read a frame mask take it under one of these names.
        wanted += [n for n in FEATURE_MASKS if n in params and n not in wanted][:1]
    if "past_values" in wanted:
        wanted += [n for n in SERIES if n in params and n not in wanted and n != "past_values_padding"]
    if "image_sizes" in params and "pixel_values" in wanted and "image_sizes" not in wanted and not grid:
        wanted.append("image_sizes")
    if "visual_feats" in params and getattr(config, "visual_feat_dim", None):
        wanted += [n for n in ("visual_feats", "visual_pos") if n in params and n not in wanted]  # region features (LXMERT)
    if "flattened_patches" in params and "flattened_patches" not in wanted:
        wanted.append("flattened_patches")  # Pix2Struct-style pages: the only pixel input these take
    if "image_embeds_position_mask" in params and {"flattened_patches", "pixel_values"} & set(wanted) and "input_ids" in wanted:
        wanted.append("image_embeds_position_mask")  # Kosmos-2(.5): where the image's latent queries go
        image_tokens = image_tokens or latent_queries(config)
    if "high_res_pixel_values" in params and "pixel_values" in wanted and "high_res_pixel_values" not in wanted:
        wanted.append("high_res_pixel_values")  # the high-resolution tower always runs with the low one
    tiles = tiled_images(config) if "aspect_ratio_ids" in params and "pixel_values" in wanted else None
    if tiles:
        wanted += [n for n in ("aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask") if n in params and n not in wanted and (n != "cross_attention_mask" or "input_ids" in wanted)]
    positions = next((n for n in ("pixel_position_ids", "image_position_ids") if n in params), None) if "pixel_values" in wanted else None
    placed = positioned_patches(config) if positions else None
    if placed and positions not in wanted:
        wanted.append(positions)
    naflex = naflex_patches(config) if "spatial_shapes" in params and "pixel_values" in wanted else None
    if naflex:
        wanted += [n for n in ("pixel_attention_mask", "spatial_shapes") if n in params and n not in wanted]
    flat = None
    if grid:
        flat = flat_patches(config)
        image_tokens = image_tokens or flat["tokens"]
        for name in (grid, "mm_token_type_ids", "merge_sizes", "image_merge_sizes"):
            if name in params and name not in wanted and ("input_ids" in wanted or name in (grid, "merge_sizes", "image_merge_sizes")):
                wanted.append(name)
    # NaViT-packed images (MiniCPM-V's vision towers): every image's patches side by side in one
    # row, and each image's patch grid as `target_sizes`.
    packed = "target_sizes" in params and main == "pixel_values" and "pixel_values" in wanted
    if packed and "target_sizes" not in wanted:
        wanted.append("target_sizes")
    dims = {"batch": dict(TEXT_DIMS["batch"])}
    if packed:
        dims["batch"].pop("varied")  # the packed row's length fixes the number of images
    if grid:
        dims["batch"].pop("varied")  # the grid constant fixes the number of images
    inputs = []
    low, high = token_range(config)
    for name in wanted:
        if flat and name in ("pixel_values", "hidden_states"):
            rows = dims["batch"]["size"] * flat["patches"]
            # (`patch_images`: each patch as a small image for a convolutional embedding, Kimi K2.5.)
            features = [flat["channels"], flat["patch"], flat["patch"]] if patch_images or packed_patch_images else [flat["features"]]
            if packed_patch_images:  # (PaddleOCR-VL: every image's patches packed into one sequence)
                inputs.append({"name": name, "kind": "uniform", "shape": [1, rows] + features, "dtype": "float32", "range": [-1.0, 1.0]})
                continue
            inputs.append({"name": name, "kind": "uniform", "shape": [rows] + features, "dtype": "float32", "range": [-1.0, 1.0]})
        elif tiles and name == "pixel_values":
            channels, height, width = image_shape(config)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", 1, tiles["tiles"], channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif tiles and name == "aspect_ratio_ids":
            inputs.append({"name": name, "kind": "constant", "shape": ["batch", 1], "dtype": "int64", "value": [tiles["aspect_ratio_id"]]})
        elif tiles and name == "aspect_ratio_mask":
            # Every tile is real (ids drawn from [1, 2)).
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", 1, tiles["tiles"]], "dtype": "int64", "range": [1.0, 2.0]})
        elif tiles and name == "cross_attention_mask":
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "seq", 1, tiles["tiles"]], "dtype": "int64", "range": [1.0, 2.0]})
        elif placed and name == "pixel_values":
            # (`patch_features`: the width the model's first norm names, Gemma 4 Unified's pooled patches.)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", placed["patches"], patch_features or placed["features"]], "dtype": "float32", "range": [0.0, 1.0]})
        elif placed and name == positions:
            inputs.append({"name": name, "kind": "grid_positions", "shape": ["batch", placed["patches"], 2], "dtype": "int64", "value": placed["grid"]})
        elif naflex and name == "pixel_values":
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", naflex["patches"], naflex["features"]], "dtype": "float32", "range": [-1.0, 1.0]})
        elif naflex and name == "pixel_attention_mask":
            # All patches real (ids drawn from [1, 2)): padding would change the image token count.
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", naflex["patches"]], "dtype": "int64", "range": [1.0, 2.0]})
        elif naflex and name == "spatial_shapes":
            inputs.append({"name": name, "kind": "constant", "shape": ["batch", 2], "dtype": "int64", "value": naflex["grid"]})
        elif flat and name == grid:
            inputs.append({"name": name, "kind": "constant", "shape": ["batch", 3], "dtype": "int64", "value": flat["grid"]})
        elif flat and name in ("merge_sizes", "image_merge_sizes"):
            # VideoLLaMA 3: each image's spatial merge size, the config's.
            # (A tensor, not a constant: constants reach the model as Python lists.)
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch"], "dtype": "int64", "range": [float(flat["merge"]), float(flat["merge"] + 1)]})
        elif flat and name == "mm_token_type_ids":
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "seq"], "dtype": "int64", "range": [0.0, 1.0], "prefix": {"token": 1, "count": image_tokens}})
        elif name == "input_ids":
            seq = dict(TEXT_DIMS["seq"])
            if image_tokens:  # the probe finds the count from the model's own mismatch message
                seq = {"size": image_tokens + 7, "varied": image_tokens + 5}
            if aligned_seq:  # one text token per audio frame (streaming speech models): both static
                seq = {"size": aligned_seq}
            dims["seq"] = seq
            spec = {"name": name, "kind": "token_ids", "shape": ["batch", "seq"], "dtype": "int64", "range": [low, high]}
            if image_tokens and "image_embeds_position_mask" not in wanted:  # (the mask places Kosmos-2.5's)
                audio = bool({"input_features", "input_values"} & set(wanted)) and not {"pixel_values", "pixel_values_videos"} & set(wanted)
                token = media_token_id(config, audio=audio)
                spec["prefix"] = {"token": token, "count": image_tokens}
            if token_streams:
                # Kyutai speech-to-text: a text stream and every audio codebook's stream per step.
                vocab = min(int(getattr(config, "vocab_size", None) or high), int(getattr(config, "codebook_vocab_size", None) or high))
                spec.update(shape=["batch", "seq", token_streams], range=[0.0, float(vocab)])
            codebooks = getattr(config, "num_codebooks", None)
            if isinstance(codebooks, int) and codebooks > 1 and sub(config, "decoder") is not None and "decoder_input_ids" not in params:
                # MusicGen's decoder as the model: audio codes, one row per codebook and sample.
                batch = dims["batch"]
                dims["code_rows"] = {"size": batch["size"] * codebooks, **({"varied": batch["varied"] * codebooks} if batch.get("varied") else {})}
                spec.update(shape=["code_rows", "seq"], range=[0.0, float(getattr(config, "vocab_size", None) or high)])
            inputs.append(spec)
        elif name == "attention_mask":
            inputs.append({"name": name, "kind": "mask", "shape": ["batch", "steps" if "states" in wanted else "seq"], "dtype": "int64"})
        elif name == "decoder_input_ids":
            dims["dec_seq"] = {"size": 4, "varied": 6}
            decoder = sub(config, "decoder", "decoder_config") or config
            channels = getattr(sub(config, "decoder_config"), "num_channels", None)
            if isinstance(channels, int) and channels > 1 and getattr(sub(config, "decoder_config"), "vocab_size", None):
                # An audio-code decoder (Dia): one code per channel and step, [batch, dec_seq, channels].
                codes = int(getattr(decoder, "vocab_size", None) or high)
                inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "dec_seq", channels], "dtype": "int64", "range": [0.0, float(codes)]})
                continue
            codebooks = getattr(decoder, "num_codebooks", None)
            if isinstance(codebooks, int) and codebooks > 1:
                # MusicGen: one row of audio codes per codebook and sample, [batch * codebooks, dec_seq].
                batch = dims["batch"]
                dims["code_rows"] = {"size": batch["size"] * codebooks, **({"varied": batch["varied"] * codebooks} if batch.get("varied") else {})}
                codes = int(getattr(decoder, "vocab_size", None) or high)
                inputs.append({"name": name, "kind": "token_ids", "shape": ["code_rows", "dec_seq"], "dtype": "int64", "range": [0.0, float(codes)]})
            else:
                inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "dec_seq"], "dtype": "int64", "range": [low, high]})
        elif name == "pixel_values_videos" or (name == "pixel_values" and video):
            channels, height, width = image_shape(config)
            count = frames or getattr(config, "num_frames", None) or getattr(sub(config, "vision_config"), "num_frames", None) or 8
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", count, channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name in ("pixel_values", "prompt_pixel_values", "prompt_masks"):
            # (SegGPT's prompt image and its mask are images of the input's size; the model stacks
            # prompt and input, so each is half the configured height.)
            channels, height, width = image_shape(config)
            height, width = height * image_scale, width * image_scale  # (larger when the model says too small)
            if "prompt_pixel_values" in wanted:
                height //= 2
            if packed and name == "pixel_values":
                patch = vision_patch(config)
                inputs.append({"name": name, "kind": "uniform", "shape": [1, channels, patch, patch * PACKED_SIDE * PACKED_SIDE * dims["batch"]["size"]], "dtype": "float32", "range": [-1.0, 1.0]})
                continue
            if patchified and name == "pixel_values":
                # Molmo 2's vision tower: the image already cut into patches, [batch, patches, C*p*p].
                patch = vision_patch(config)
                count = int(getattr(sub(config, "vision_config") or config, "num_position_embeddings", None) or (height // patch) * (width // patch))
                inputs.append({"name": name, "kind": "uniform", "shape": ["batch", count, channels * patch * patch], "dtype": "float32", "range": [-1.0, 1.0]})
                continue
            if frames_in_batch and name == "pixel_values":
                # X-CLIP's vision tower: every frame of every video as its own image row.
                batch = dims["batch"]
                dims["frame_rows"] = {"size": batch["size"] * frames_in_batch, **({"varied": batch["varied"] * frames_in_batch} if batch.get("varied") else {})}
                inputs.append({"name": name, "kind": "uniform", "shape": ["frame_rows", channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
                continue
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name in ("input_values", "decoder_input_values") and embedded_width:
            # SpeechT5 without pre-nets: hidden states in and out, [batch, seq, hidden].
            seq = "seq" if name == "input_values" else "dec_seq"
            dims.setdefault(seq, {"size": 7, "varied": 5} if seq == "seq" else {"size": 4, "varied": 6})
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", seq, embedded_width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "inputs" and embedded_width:
            # Perceiver without a preprocessor: already-embedded inputs [batch, seq, d_model].
            dims["seq"] = dict(TEXT_DIMS["seq"])
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "seq", embedded_width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "input_values" and spectrogram_image:
            # Audio Spectrogram Transformer: a fixed-length spectrogram [batch, max_length, bins].
            frames = int(getattr(config, "max_length", None) or 64)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", frames, mel_bins(config)], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name in ("input_values", "inputs"):
            dims["samples"] = {"size": audio_samples, "varied": audio_samples * 3 // 2}
            if (image_tokens or aligned_seq) and "pixel_values" not in wanted:
                dims["samples"].pop("varied")  # audio tokens in the text must match the samples
            shape = ["batch", 1, "samples"] if audio_channels else ["batch", "samples"]
            inputs.append({"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "input_features":
            dims["frames"] = dict(audio_frames or {"size": 64, "varied": 48})
            if (image_tokens or aligned_seq) and "pixel_values" not in wanted:
                dims["frames"].pop("varied", None)  # audio tokens in the text must match the frames
            bins = feature_bins or mel_bins(config)
            shape = ["batch", bins, "frames"] if features_layout == "mel_first" else ["batch", "frames", bins]
            if spectrogram_image:  # (one-channel spectrogram image [batch, 1, frames, bins]: CLAP's audio tower)
                shape = ["batch", 1, "frames", bins]
            inputs.append({"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "image_sizes":
            _, height, width = image_shape(config)
            if height != width:
                raise UnknownInput(f"forward needs `image_sizes` for a {height}x{width} image; the rule covers square images")
            inputs.append({"name": name, "kind": "constant", "shape": ["batch", 2], "dtype": "int64", "value": height})
        elif name in FEATURE_MASKS:
            # All ones in both sets (token ids drawn from [1, 2)): padded frames would change how
            # many audio features there are, and the audio tokens in the text must match them.
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "frames"], "dtype": "int64", "range": [1.0, 2.0]})
        elif name in SERIES:
            past, channels = series_shape(config)
            dims["past"] = {"size": past}
            inputs.append(series_input(name, config, past, channels))
        elif name == "flattened_patches":
            # [row, column, patch features...] per patch; the row and column are read as indices.
            dims["patches"] = {"size": 16, "varied": 12}
            vision = sub(config, "vision_config") or config
            width = 2 + int(getattr(vision, "patch_embed_hidden_size", None) or 3 * 16 * 16)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "patches", width], "dtype": "float32", "range": [0.0, 4.0]})
        elif name == "image_embeds_position_mask":
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "seq"], "dtype": "int64", "range": [0.0, 1.0], "prefix": {"token": 1, "count": image_tokens}})
        elif name == "high_res_pixel_values":
            high = sub(config, "high_res_vision_config") or config
            size = int(getattr(high, "image_size", None) or VISION_FALLBACK_SIZE)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", int(getattr(high, "num_channels", None) or 3), size, size], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name in ("visual_feats", "visual_pos"):
            dims["regions"] = {"size": 4, "varied": 6}
            width = config.visual_feat_dim if name == "visual_feats" else getattr(config, "visual_pos_dim", 4)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "regions", int(width)], "dtype": "float32", "range": [0.0, 1.0]})
        elif name == "qformer_input_ids":
            dims["qseq"] = {"size": 6, "varied": 4}
            qformer = sub(config, "qformer_config")
            vocab = getattr(qformer, "vocab_size", None) or text_vocab(config)
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "qseq"], "dtype": "int64", "range": [1.0, float(vocab)]})
        elif name == "lang_ids":
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch"], "dtype": "int64", "range": [0.0, float(len(config.languages))]})
        elif name == "bbox":
            if float_boxes:  # coordinates normalised to the page
                inputs.append({"name": name, "kind": "boxes", "shape": ["batch", "seq", 4], "dtype": "float32", "range": [0.0, 1.0]})
            else:
                inputs.append({"name": name, "kind": "boxes", "shape": ["batch", "seq", 4], "dtype": "int64", "range": [0.0, 1000.0]})
        elif name in ("states", "actions", "rewards", "returns_to_go"):
            dims.setdefault("steps", {"size": 5, "varied": 3})
            width = {"states": getattr(config, "state_dim", None), "actions": getattr(config, "act_dim", None)}.get(name) or 1
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "steps", int(width)], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "timesteps":
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "steps"], "dtype": "int64", "range": [0.0, float(getattr(config, "max_ep_len", None) or 16)]})
        elif packed and name == "target_sizes":
            inputs.append({"name": name, "kind": "constant", "shape": ["batch", 2], "dtype": "int64", "value": [PACKED_SIDE, PACKED_SIDE]})
        elif name == "chunk_sample_lengths":
            # Every frame valid: frames x hop samples per chunk (frames static, so the value holds).
            dims["frames"].pop("varied", None)
            samples = dims["frames"]["size"] * int(getattr(sub(config, "audio_config") or config, "hop_length", None) or 160)
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch"], "dtype": "int64", "range": [float(samples), float(samples + 1)]})
        elif name == "protein_input_ids":
            # Evolla: a protein sequence for its protein encoder, ids in that encoder's vocabulary.
            dims["protein_seq"] = {"size": 9, "varied": 6}
            protein = sub(config, "protein_encoder_config") or config
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "protein_seq"], "dtype": "int64", "range": [4.0, float(getattr(protein, "vocab_size", None) or 32)]})
        elif name == "protein_attention_mask":
            inputs.append({"name": name, "kind": "mask", "shape": ["batch", "protein_seq"], "dtype": "int64"})
        elif name == "task_inputs":
            # OneFormer: the tokenised task prompt ("the task is semantic"), task_seq_len long.
            length = int(getattr(config, "task_seq_len", None) or 16)
            vocab = int(getattr(config, "text_encoder_vocab_size", None) or 128)
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", length], "dtype": "int64", "range": [1.0, float(vocab)]})
        elif name == "audio_mel":
            # Gemma 3n's audio encoder on its own: a mel spectrogram [batch, frames, bins] ...
            dims.setdefault("frames", dict(audio_frames or {"size": 64, "varied": 48}))
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "frames", feature_bins or mel_bins(config)], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "audio_mel_mask":
            # ... and its padding mask, True where a frame is padding: none is.
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "frames"], "dtype": "bool", "range": [0.0, 1.0]})
        elif name == "audio_input_ids":
            # Inkling's audio tower: quantised mel frames, one id per bin [batch, frames, bins].
            dims.setdefault("frames", {"size": 16, "varied": 12})
            bins = int(getattr(config, "n_mel_bins", None) or mel_bins(config))
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "frames", bins], "dtype": "int64", "range": [0.0, float(getattr(config, "mel_vocab_size", None) or 256)]})
        elif name == "mask" and any(EMBEDDED.search(n) for n in wanted):
            # The frame mask of a tower fed embeddings (Phi-4 multimodal's audio encoder): all valid.
            inputs.append({"name": name, "kind": "mask", "shape": ["batch", "seq"], "dtype": "bool"})
        elif name == "image_attention_mask":
            inputs.append({"name": name, "kind": "mask", "shape": ["batch", "seq", frames or 1], "dtype": "int64"})
        elif name == "latents":
            # An audio codec's decoder on its own: continuous latents [batch, width, frames].
            dims.setdefault("frames", {"size": 16, "varied": 12})
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", embedded_width or hidden_width(config), "frames"], "dtype": "float32", "range": [-1.0, 1.0]})
        elif EMBEDDED.search(name):
            # Already-embedded inputs of a tower used on its own (a Q-Former's queries, a fusion
            # encoder's hidden states): [batch, seq, width], the width the model's error names
            # or else its hidden size.
            dims.setdefault("seq", dict(TEXT_DIMS["seq"]))
            encoder_width = getattr(config, "encoder_hidden_size", None) if name == "encoder_hidden_states" else None
            width = encoder_width or embedded_width or hidden_width(config)
            # (Channels first, [batch, width, frames], for a tower that starts with a convolution.)
            shape = ["batch", "seq", width]
            if channels_first:
                dims.setdefault("frames", {"size": 64, "varied": 48})
                shape = ["batch", width, "frames"]
            inputs.append({"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]})
        else:
            raise UnknownInput(f"forward needs `{name}`, which the generic input rules do not build")
    return dims, inputs


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
