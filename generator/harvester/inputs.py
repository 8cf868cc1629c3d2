"""Input plans: which tensors a model's forward gets, from its signature and configuration.

Rules, by forward parameter (the model's `main_input_name` always included):
  * `input_ids` [batch, seq]: token ids clear of special tokens; `attention_mask` alongside;
  * `decoder_input_ids` [batch, dec_seq] for encoder-decoders;
  * `pixel_values` [batch, channels, height, width] from the (vision) config's image size; fed
    to multimodal models too, with the image token written `count` times at the start of
    `input_ids` (the count is found by the probe from the model's own mismatch message);
  * `pixel_values_videos` / video models: [batch, frames, channels, height, width];
  * `input_values` [batch, samples] (raw audio); `input_features` [batch, mel, frames] or
    [batch, frames, mel] (the probe tries both layouts);
  * `bbox` [batch, seq, 4] well-formed boxes;
  * any other required tensor parameter is reported as a model-specific input the rules do not know.
"""

from __future__ import annotations

import inspect

TEXT_DIMS = {"batch": {"size": 2, "varied": 3}, "seq": {"size": 7, "varied": 5}}
VISION_FALLBACK_SIZE = 64


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
    for cfg in (text, config):
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


def mel_bins(config) -> int:
    for cfg in (sub(config, "audio_config", "encoder_config") or config, config):
        for name in ("num_mel_bins", "feature_size", "input_feat_per_channel", "n_mels", "input_dim", "num_mel_filters"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return 80


def required(model) -> list[str]:
    params = inspect.signature(model.forward).parameters
    return [
        n for n, p in params.items()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def plan(model, config, *, image_tokens: int = 0, features_layout: str = "mel_first", audio_frames=None, video: bool = False) -> tuple[dict, list[dict]]:
    """Dimensions and inputs for one model (before the probe adjusts counts and layouts)."""
    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    wanted = [main] + [n for n in required(model) if n != main]
    # Every modality a composite model has a sub-config for is fed, not only its main input.
    towers = {
        "pixel_values": ("vision_config", "vision_encoder_config", "image_config"),
        "input_features": ("audio_config", "speech_config"),
        "input_values": ("audio_config", "speech_config"),
        "pixel_values_videos": ("video_config",),
    }
    fed = [n for n, configs in towers.items() if n in params and any(sub(config, c) for c in configs)]
    if fed and "input_ids" in params and "input_ids" not in wanted:
        wanted.insert(0, "input_ids")
    for name in fed:
        if name not in wanted and not (name == "input_values" and "input_features" in fed):
            wanted.append(name)
    if "input_ids" in wanted and "attention_mask" in params:
        wanted.append("attention_mask")
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params and "decoder_input_ids" not in wanted:
        wanted.append("decoder_input_ids")

    dims = {"batch": dict(TEXT_DIMS["batch"])}
    inputs = []
    low, high = token_range(config)
    for name in wanted:
        if name == "input_ids":
            seq = dict(TEXT_DIMS["seq"])
            if image_tokens:  # the probe finds the count from the model's own mismatch message
                seq = {"size": image_tokens + 7, "varied": image_tokens + 5}
            dims["seq"] = seq
            spec = {"name": name, "kind": "token_ids", "shape": ["batch", "seq"], "dtype": "int64", "range": [low, high]}
            if image_tokens:
                token = image_token_id(config)
                spec["prefix"] = {"token": token, "count": image_tokens}
            inputs.append(spec)
        elif name == "attention_mask":
            inputs.append({"name": name, "kind": "mask", "shape": ["batch", "seq"], "dtype": "int64"})
        elif name == "decoder_input_ids":
            dims["dec_seq"] = {"size": 4, "varied": 6}
            inputs.append({"name": name, "kind": "token_ids", "shape": ["batch", "dec_seq"], "dtype": "int64", "range": [low, high]})
        elif name == "pixel_values_videos" or (name == "pixel_values" and video):
            channels, height, width = image_shape(config)
            frames = getattr(config, "num_frames", None) or 8
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", frames, channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "pixel_values":
            channels, height, width = image_shape(config)
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", channels, height, width], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "input_values":
            dims["samples"] = {"size": 1600, "varied": 2400}
            inputs.append({"name": name, "kind": "uniform", "shape": ["batch", "samples"], "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "input_features":
            dims["frames"] = audio_frames or {"size": 64, "varied": 48}
            bins = mel_bins(config)
            shape = ["batch", bins, "frames"] if features_layout == "mel_first" else ["batch", "frames", bins]
            inputs.append({"name": name, "kind": "uniform", "shape": shape, "dtype": "float32", "range": [-1.0, 1.0]})
        elif name == "bbox":
            inputs.append({"name": name, "kind": "boxes", "shape": ["batch", "seq", 4], "dtype": "int64", "range": [0.0, 1000.0]})
        else:
            raise UnknownInput(f"forward needs `{name}`, which the generic input rules do not build")
    return dims, inputs


def has_image_token(config) -> bool:
    try:
        image_token_id(config)
        return True
    except UnknownInput:
        return False


def image_token_id(config) -> int:
    for name in ("image_token_id", "image_token_index", "image_token"):
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise UnknownInput("multimodal config names no image token id")
