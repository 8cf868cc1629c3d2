"""What a model's own error says about the inputs it needs: one row per rule.

When eager PyTorch rejects an input plan, the probe reads the error and queues the plans the
error calls for. Each rule is a row of `RULES`: its name, the error text it reads (a regular
expression), what that means, the plan option it sets, and the function that proposes the new
plans (it may also look at the inputs, the options already tried and the config). Rules run
in table order, and a rule adds its plans at the front (tried next) or at the back of the
queue, so the order of the rows is part of the behaviour. `test_rules.py` checks every row on
recorded error text (`rule_cases.json`); removing a row makes its cases fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import inputs as input_rules


@dataclass
class Seen:
    """One rejected plan: the error text, the plan's inputs and options, the model's config."""

    text: str
    names: list[str]
    options: dict
    dims: dict
    specs: list[dict]
    params: set
    config: object
    # Proposed plans: (at_front, options), in the order the rules proposed them.
    proposals: list = field(default_factory=list)

    def front(self, **changes) -> None:
        """Queues a plan to try next."""
        self.proposals.append((True, dict(self.options, **changes)))

    def back(self, **changes) -> None:
        """Queues a plan after the others."""
        self.proposals.append((False, dict(self.options, **changes)))

    @property
    def audio(self) -> bool:
        return "pixel_values" not in self.names and bool({"input_features", "input_values"} & set(self.names))

    @property
    def samples(self) -> int:
        return self.options.get("audio_samples", input_rules.AUDIO_SAMPLES)


@dataclass(frozen=True)
class Rule:
    """A row: the error text it reads, what it means, the option it sets, how it proposes plans."""

    name: str
    reads: re.Pattern | None
    means: str
    sets: str
    propose: Callable[[Seen, re.Match | None], None]


def count_from_mismatch(message: str, batch: int, hidden: int) -> list[int]:
    """Candidate image-token counts (per row) from a 'tokens: X, features: Y' style message."""
    numbers = [int(n) for n in re.findall(r"\d+", message)]
    candidates = []
    for n in numbers:
        for d in (batch, 1, batch * hidden, hidden):
            if d and n % d == 0 and 0 < n // d <= 1024:
                candidates.append(n // d)
    return list(dict.fromkeys(candidates))


def _media_tokens(s: Seen, m) -> None:
    media = "pixel_values" in s.names or s.audio
    if m and "input_ids" in s.names and media and not s.options.get("image_tokens") and input_rules.has_media_token(s.config, s.audio):
        hidden = getattr(s.config.get_text_config(), "hidden_size", 0) or 0
        for count in count_from_mismatch(s.text, 2, hidden)[:4]:
            s.back(image_tokens=count)


def _fixed_audio_tokens(s: Seen, m) -> None:
    frames = (s.options.get("audio_frames") or {}).get("size") if s.options.get("fixed_audio") else None
    if s.audio and frames and "input_ids" in s.names and not s.options.get("image_tokens") and input_rules.has_media_token(s.config, True):
        # Fixed-length audio (30 s of mel frames): the encoder's downsampling sets the count.
        for factor in (4, 2, 8):  # each goes to the front: tried as 8, 2, 4
            s.front(image_tokens=frames // factor)


def _audio_channels(s: Seen, m) -> None:
    if m and "input_values" in s.names and not s.options.get("audio_channels"):
        s.back(audio_channels=True)


def _audio_too_short(s: Seen, m) -> None:
    if m and "input_values" in s.names and s.samples < 10 * input_rules.AUDIO_SAMPLES:
        s.front(audio_samples=s.samples * 10)


def _image_pairs(s: Seen, m) -> None:
    if m and not s.options.get("video"):
        s.back(video=True, frames=2)  # image pairs (keypoint matching)


def _audio_hop(s: Seen, m) -> None:
    if m and "input_values" in s.names and s.samples % int(m.group(1)):
        step = int(m.group(1))
        s.front(audio_samples=step * -(-s.samples // step) * 2)


NORM_3D = re.compile(r"normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], but got input of size\[\d+, \d+, \d+\]")


def _feature_bins_from_norm(s: Seen, m) -> None:
    if m and "input_features" in s.names and not s.options.get("feature_bins"):
        s.front(features_layout="frames_first", feature_bins=int(m.group(1)))


def _patch_images(s: Seen, m) -> None:
    if m and not s.options.get("patch_images"):
        s.front(patch_images=True)  # flattened patches, embedded by a convolution


HIDDEN_VALUES = re.compile(r"normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], but got input of size\[\d+, \d+\]$")
FIRST_LAYER_WIDTH = re.compile(r"mat1 and mat2 shapes cannot be multiplied \(\d+x\d+ and (\d+)x\d+\)|normalized_shape=\[(\d+)\]|to have (\d+) channels, but got|must match the size of tensor b \((\d+)\) at non-singleton dimension 2")


def _embedded_width(s: Seen, m) -> None:
    embedded = m
    takes_embeddings = "latents" in s.names or any(input_rules.EMBEDDED.search(n) for n in s.names)
    hidden_values = HIDDEN_VALUES.search(s.text)
    if hidden_values and "input_values" in s.names and not s.options.get("embedded_width"):
        embedded = hidden_values  # raw audio where the model wants hidden states (SpeechT5 without pre-nets)
    if not embedded and takes_embeddings:
        # The width the first layer wants: a projection's, a norm's, or a convolution's channels.
        embedded = FIRST_LAYER_WIDTH.search(s.text)
        convolution = bool(embedded and embedded.group(3))
        embedded = embedded and re.match(r"(\d+)", next(g for g in embedded.groups() if g))
        if embedded and convolution and not s.options.get("embedded_width"):
            s.front(embedded_width=int(embedded.group(1)), channels_first=True)
            embedded = None
    if ("inputs" in s.names or takes_embeddings or hidden_values) and embedded and not s.options.get("embedded_width"):
        s.front(embedded_width=int(embedded.group(1)))  # embeddings, not audio


def _spectrogram_image(s: Seen, m) -> None:
    if m and {"input_values", "input_features"} & set(s.names) and not s.options.get("spectrogram_image"):
        s.front(spectrogram_image=True)  # a spectrogram with an image axis


SIZES_DIM_1 = re.compile(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 1")


def _aligned_seq(s: Seen, m) -> None:
    seq = next((x for x in s.specs if x["name"] == "input_ids"), None)
    if m and seq and {"input_values", "input_features"} & set(s.names) and not s.options.get("aligned_seq") and int(m.group(1)) == s.dims["seq"]["size"]:
        # Text aligned with audio frames (one token per frame): the text takes the frames' length.
        s.front(aligned_seq=int(m.group(2)))


def _image_scale(s: Seen, m) -> None:
    if m and "pixel_values" in s.names and s.options.get("image_scale", 1) < 8:
        s.front(image_scale=s.options.get("image_scale", 1) * 2)  # a larger image


def _unpack_five(s: Seen, m) -> None:
    if "pixel_values" in s.names and m and any(isinstance(x["shape"][0], int) for x in s.specs if x["name"] == "pixel_values"):
        # Flattened patches as small images: packed into one sequence for a tower that
        # unpacks five sizes itself, or one per row for a model that adds that axis.
        option = "packed_patch_images" if m.group(1) == "2" else "patch_images"
        if not s.options.get(option):
            s.front(**{option: True})


def _images_per_sample(s: Seen, m) -> None:
    if "pixel_values" in s.names and m and not s.options.get("video"):
        s.front(video=True, frames=1)  # images per sample: [batch, 1, C, H, W]


def _patchified(s: Seen, m) -> None:
    pixels = next((x for x in s.specs if x["name"] == "pixel_values"), None)
    if m and pixels and len(pixels["shape"]) == 4 and not s.options.get("patchified"):
        channels, patch_side = pixels["shape"][1], input_rules.vision_patch(s.config)
        if isinstance(channels, int) and int(m.group(1)) == channels * patch_side * patch_side:
            s.front(patchified=True)  # pixels already cut into patches


def _frames_in_batch(s: Seen, m) -> None:
    if m and "pixel_values" in s.names and not s.options.get("frames_in_batch"):
        s.front(frames_in_batch=int(m.group(1)))  # frames as image rows


def _feature_width(s: Seen, m) -> None:
    if m and s.options.get("media_only") and "input_features" in s.names and not s.options.get("feature_bins") and int(m.group(2)) == input_rules.mel_bins(s.config):
        # Features that are the encoder's input embeddings: as wide as the model.
        s.front(feature_bins=int(m.group(1)))


def _media_only(s: Seen, m) -> None:
    if m and s.options.get("feed_media") and not s.options.get("media_only"):
        s.front(media_only=True)


def _token_streams(s: Seen, m) -> None:
    codebooks = getattr(s.config, "num_codebooks", None)
    if m and isinstance(codebooks, int) and int(m.group(2)) == codebooks + 1 and "input_ids" in s.names and not s.options.get("token_streams"):
        s.front(token_streams=codebooks + 1)  # text plus audio codebook streams


def _embeds_only(s: Seen, m) -> None:
    if m and not s.options.get("embeds_only"):
        s.front(embeds_only=True)


def _patch_features(s: Seen, m) -> None:
    if m and {"pixel_position_ids", "image_position_ids"} & set(s.names) and not s.options.get("patch_features"):
        s.front(patch_features=int(m.group(1)))  # wider positioned patches


def _float_boxes(s: Seen, m) -> None:
    if "bbox" in s.names and m and not s.options.get("float_boxes"):
        s.front(float_boxes=True)  # boxes as page fractions (UDOP)


def _stacked_features(s: Seen, m) -> None:
    # Frames the feature extractor stacks into one row ([batch, frames, k * bins]): the
    # first projection's input width names k * bins.
    if "input_features" in s.names and m and not s.options.get("feature_bins"):
        fed, wants = int(m.group(1)), int(m.group(2))
        bins = input_rules.mel_bins(s.config)
        if wants % fed == 0 and wants > fed:
            s.front(features_layout="frames_first", feature_bins=wants)
        elif fed != wants and (bins * wants) % fed == 0:
            # A convolutional front end flattens (bins / stride) x channels: scale the bins.
            s.front(feature_bins=bins * wants // fed)


def _extra_inputs(s: Seen, m) -> None:
    asked = [n for n in re.findall(r"\w+", s.text) if n in s.params and n not in s.names and n not in s.options.get("extra", ())]
    for name in list(dict.fromkeys(asked))[:3]:
        s.back(extra=tuple(s.options.get("extra", ())) + (name,))


def _video(s: Seen, m) -> None:
    if m and not s.options.get("video"):
        s.back(video=True)


def _audio_frames(s: Seen, m) -> None:
    if "input_features" in s.names and m and not s.options.get("audio_frames"):
        frames = int(m.group(1) or m.group(2))
        s.front(audio_frames={"size": frames}, fixed_audio=bool(m.group(1)))


def _features_layout(s: Seen, m) -> None:
    if "input_features" in s.names and s.options.get("features_layout") != "frames_first":
        s.back(features_layout="frames_first")
        source = next((getattr(c, "max_source_positions", None) for c in (s.config, input_rules.sub(s.config, "audio_config", "encoder_config")) if isinstance(getattr(c, "max_source_positions", None), int)), None)
        if isinstance(source, int):
            s.back(audio_frames={"size": 2 * source})
            s.back(features_layout="frames_first", audio_frames={"size": 2 * source})


def _phrases(*phrases: str) -> re.Pattern:
    """A pattern that finds any of `phrases` literally."""
    return re.compile("|".join(re.escape(p) for p in phrases))


RULES: list[Rule] = [
    Rule("media-tokens", re.compile(r"(?i)token"), "the text and the media disagree on how many media tokens there are", "image_tokens", _media_tokens),
    Rule("fixed-audio-tokens", None, "fixed-length audio: the encoder's downsampling sets the number of audio tokens", "image_tokens", _fixed_audio_tokens),
    Rule("audio-channels", _phrases("too many indices for tensor of dimension 2", "expected 3, got 2", "to have 1 channels", "must be mono"), "the waveform needs a channel axis", "audio_channels", _audio_channels),
    Rule("audio-too-short", _phrases("can't be greater than actual input size", "Output size is too small"), "the waveform is shorter than the front end's kernels", "audio_samples", _audio_too_short),
    Rule("image-pairs", _phrases("5D tensor of shape (batch_size, 2,"), "the model matches pairs of images", "video", _image_pairs),
    Rule("audio-hop", re.compile(r"`input_values` length \d+ is not a multiple of (\d+)"), "the waveform must be a multiple of the hop", "audio_samples", _audio_hop),
    Rule("feature-bins", NORM_3D, "the features are as wide as the norm, frames first", "feature_bins", _feature_bins_from_norm),
    Rule("patch-images", re.compile(r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[\d+, \d+\]"), "pixels are flattened patches a convolution embeds", "patch_images", _patch_images),
    Rule("embedded-width", re.compile(r"Last dimension of the inputs: \d+ doesn't correspond to config.d_model: (\d+)"), "the input is embeddings as wide as the first layer", "embedded_width", _embedded_width),
    Rule("spectrogram-image", _phrases("Dimension out of range (expected to be in range of [-3, 2], but got 3)"), "the spectrogram has an image axis", "spectrogram_image", _spectrogram_image),
    Rule("aligned-seq", SIZES_DIM_1, "one token per audio frame", "aligned_seq", _aligned_seq),
    Rule("image-scale", _phrases("Output size is too small", "Kernel size can't be greater than actual input size", "is too small to be scaled"), "the image is smaller than the kernels", "image_scale", _image_scale),
    Rule("unpack-five", re.compile(r"not enough values to unpack \(expected 5, got ([23])\)"), "patches as small images, packed or one per row", "patch_images", _unpack_five),
    Rule("images-per-sample", _phrases("not enough values to unpack (expected 4, got 3)"), "images per sample: [batch, 1, C, H, W]", "video", _images_per_sample),
    Rule("patchified", re.compile(r"mat1 and mat2 shapes cannot be multiplied \(\d+x\d+ and (\d+)x\d+\)"), "pixels already cut into patches", "patchified", _patchified),
    Rule("frames-in-batch", re.compile(r"shape '\[0, (\d+), \d+\]' is invalid for input of size"), "video frames as image rows", "frames_in_batch", _frames_in_batch),
    Rule("feature-width", re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 2"), "features are the encoder's input embeddings", "feature_bins", _feature_width),
    Rule("media-only", _phrases("You cannot specify both input_ids and inputs_embeds"), "the media replace the text", "media_only", _media_only),
    Rule("token-streams", SIZES_DIM_1, "text plus audio codebook streams", "token_streams", _token_streams),
    Rule("embeds-only", _phrases("`input_ids` is expected to be `None`"), "the model refuses ids", "embeds_only", _embeds_only),
    Rule("patch-features", NORM_3D, "positioned patches as wide as the norm", "patch_features", _patch_features),
    Rule("float-boxes", _phrases("Got: Long"), "boxes as page fractions", "float_boxes", _float_boxes),
    Rule("stacked-features", re.compile(r"mat1 and mat2 shapes cannot be multiplied \(\d+x(\d+) and (\d+)x\d+\)"), "frames stacked into one row of features", "feature_bins", _stacked_features),
    Rule("extra-inputs", None, "the error names a forward input the plan does not feed", "extra", _extra_inputs),
    Rule("video", _phrases("expected 5, got 4"), "the input is a video", "video", _video),
    Rule("audio-frames", re.compile(r"features to be of length (\d+)|multiple of [^(]*\((\d+)\)"), "the features need a given number of frames", "audio_frames", _audio_frames),
    Rule("features-layout", None, "features frames first (and as long as the encoder's positions)", "features_layout", _features_layout),
]


def propose(seen: Seen) -> list:
    """Runs every rule in table order; returns the proposals as (at_front, options)."""
    for rule in RULES:
        rule.propose(seen, rule.reads.search(seen.text) if rule.reads else None)
    return seen.proposals


def queue(proposals: list, attempts: list) -> None:
    """Adds proposals to the probe's queue as the rules asked (front: tried next)."""
    for at_front, options in proposals:
        if at_front:
            attempts.insert(0, options)
        else:
            attempts.append(options)
