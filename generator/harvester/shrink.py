"""The generic shrinking rule: a default configuration -> a tiny one with consistent sizes.

Works on `config.to_dict()`, recursively for every nested sub-config (a dict that has a
`model_type`, or a key ending in `_config`). Within one config dict:

  * anchors: the hidden width (first of HIDDEN), the head count (first of HEADS), the layer count
    (first of LAYERS) and the feed-forward width (first of FFN) are read first;
  * widths: every size-like integer equal to the hidden anchor becomes HIDDEN_NEW (32), equal to
    the FFN anchor becomes FFN_NEW (64), equal to another config's hidden width in the same tree
    becomes HIDDEN_NEW too (projections between towers stay consistent); `head_dim`-like fields become HEAD_DIM_NEW (16), so
    heads * head_dim == hidden stays true with HEADS_NEW (2); key/value heads become 1 (grouped)
    or 2 (when they equalled the head count);
  * depths: layer counts > 2 become 2; per-layer lists (length == layer count) are truncated;
    layer indices (`*indices*`, `*_layer(s)`) are clamped into the new range; per-stage depth
    lists become all 1; per-stage width lists are divided by 8 (min 8); per-stage head lists
    become all 1;
  * object queries (`num_queries`, `num_denoising`) at most 10: a tiny image has few tokens to pick;
    keypoints per image (`max_keypoints`, -1 for all) at most 64;
  * channel groups (`num_groups`, `n_groups`, `*_groups`) become 1, which divides any width;
  * experts: counts become 4, experts per token at most 2, expert widths 32;
  * vocabularies > 128 become 128 and special-token ids that no longer fit are moved to the top
    of the new vocabulary (distinct ids; pad stays where it fits);
  * timm backbones named by architecture (resnet*, convnext*, efficientnet*) become timm's own
    tiny test model of that family, and a timm backbone with no name gets `test_resnet`;
  * anything left that is size-like and > 64 is reduced only if the parameter count is still
    over the cap (`shrink_remaining`).

Positions, image sizes, patch/kernel/window sizes and strides are left alone: they change
shapes more than parameter counts, and most models constrain them against each other.
"""

from __future__ import annotations

import copy
import re

HIDDEN = ["hidden_size", "d_model", "n_embd", "embed_dim", "dim", "embedding_dim", "model_dim", "width", "hidden_dim", "d_embed"]
HEADS = ["num_attention_heads", "n_head", "num_heads", "n_heads", "encoder_attention_heads", "attention_heads", "num_head"]
LAYERS = ["num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "depth"]
FFN = ["intermediate_size", "ffn_dim", "encoder_ffn_dim", "n_inner", "d_ff", "mlp_dim", "dim_feedforward", "ffn_hidden_size", "encoder_ffn_size"]

HIDDEN_NEW, HEADS_NEW, HEAD_DIM_NEW, FFN_NEW, LAYERS_NEW = 32, 2, 16, 64, 2
VOCAB_NEW, EXPERTS_NEW, EXPERT_WIDTH_NEW = 128, 4, 32

KEEP = re.compile(r"position|image_size|patch|kernel|window|stride|sampl|bins|token|label|max_|seq_len|length|chunk|bucket|rope|theta|eps|scale|ratio|frames|freq|dropout|initializer|init_|num_channels|mel|rate|spatial_merge|temporal|grid")
SIZE_LIKE = re.compile(r"size|dim|embd|hidden|width|channel|d_model|inner|ff|proj|filters|pos_feats")
LAYER_LIKE = re.compile(r"(^|_)(layers|n_layer|layer_count|depth|num_blocks)$")
HEAD_LIKE = re.compile(r"heads?$|n_head$")
KV_LIKE = re.compile(r"key_value_heads|kv_heads")
HEAD_DIM_LIKE = re.compile(r"(^|_)head_dim$|(^|_)attention_head_size$|(^|_)qk_.*head_dim$|v_head_dim$|(^|_)d_head$|(^|_)kv_channels$")
EXPERT_COUNT = re.compile(r"(^|_)(num_experts|n_routed_experts|num_local_experts|n_experts|moe_num_experts|num_experts_total)$")
EXPERT_TOPK = re.compile(r"experts_per_tok|num_experts_per_token|moe_topk|(^|_)top_k$|experts_per_token|n_activated_experts|(^|_)moe_k$")
# Object queries (DETR family): a top-k over encoder tokens needs at most as many as a tiny image has.
QUERIES = re.compile(r"(^|_)num_(top_)?queries$|(^|_)num_denoising$")
QUERIES_NEW = 10
KEYPOINTS_NEW = 64
EXPERT_WIDTH = re.compile(r"moe_intermediate_size|expert_intermediate_size|shared_expert_intermediate_size|moe_ffn_hidden_size|expert_hidden_size")
VOCAB = re.compile(r"vocab_size($|_)|_vocab$")
# Channel groups (GroupNorm, grouped convolutions, SSM groups): 1 divides every shrunk width.
GROUPS = re.compile(r"(^|_)(num_groups|n_groups|ngroups|groups)$")
GROUPS_KEPT = re.compile(r"codevector|code_groups|codebook|key_value|hidden_groups|expert")
TOKEN_ID = re.compile(r"(_token_id|_token_index|_token_ids|^token_id|_id)$")
INDEX_LIST = re.compile(r"indices|(^|_)layers?$|feature_layers?$|layer_ids|layer_idx")
STAGE_DEPTHS = re.compile(r"^(depth|depths|num_layers|layers|stage_depths|block_repeats|num_blocks|blocks_per_stage)$|depths$")
STAGE_WIDTHS = re.compile(r"hidden_sizes|embed_dims?$|channels|dims$|widths|embedding_dims|stage_dims|hidden_dims")
STAGE_HEADS = re.compile(r"num_heads|heads$")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_subconfig(key: str, value) -> bool:
    return isinstance(value, dict) and ("model_type" in value or key.endswith("_config"))


def first(cfg: dict, names: list[str]):
    for name in names:
        if is_int(cfg.get(name)) and cfg[name] > 0:
            return name, cfg[name]
    return None, None


def shrink_dict(cfg: dict, keep_depth: bool = False) -> dict:
    """Shrinks one config dict (and its sub-configs) in place; returns it.

    `keep_depth` leaves every layer count, per-layer list and stage depth as it is (the rule
    the probe falls back on when a model ties its layer layout to named layer indices).
    """
    _, hidden = first(cfg, HIDDEN)
    _, heads = first(cfg, HEADS)
    staged = isinstance(cfg.get("depths"), list)
    _, layers = first(cfg, [n for n in LAYERS if not (staged and n in ("num_layers", "depth"))])
    if keep_depth:
        layers = None
    _, ffn = first(cfg, FFN)
    counts = {}  # original layer-like counts that shrink: lists of those lengths are per-layer
    for key, value in cfg.items() if not keep_depth else ():
        if is_int(value) and LAYER_LIKE.search(key) and not KEEP.search(key) and value > LAYERS_NEW:
            if not (staged and key in ("num_layers", "depth", "num_stages")):
                counts[value] = LAYERS_NEW
    for key, value in list(cfg.items()):
        if staged and key in ("num_layers", "depth", "num_stages"):
            continue
        if isinstance(value, dict) and value and all(str(k).isdigit() for k in value) and layers and layers > LAYERS_NEW:
            # Per-layer settings keyed by layer index: keep the layers that remain.
            cfg[key] = {k: v for k, v in value.items() if int(k) < LAYERS_NEW}
        elif is_subconfig(key, value):
            shrink_dict(value, keep_depth)
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "model_type" in v for v in value):
            for v in value:
                shrink_dict(v, keep_depth)
        elif is_int(value):
            if not (keep_depth and LAYER_LIKE.search(key)):
                cfg[key] = shrink_int(key, value, hidden, heads, layers, ffn)
        elif isinstance(value, list) and value:
            if len(value) in counts and not (STAGE_WIDTHS.search(key) and len(value) != layers):
                cfg[key] = first_layers(value, counts[len(value)])
                if KV_LIKE.search(key) and all(is_int(v) for v in value):
                    cfg[key] = [min(v, HEADS_NEW) for v in cfg[key]]  # per-layer KV heads: never more than the query heads
            elif not (keep_depth and STAGE_DEPTHS.search(key)):
                cfg[key] = shrink_list(key, value, layers)
    if layers and layers > LAYERS_NEW and isinstance(cfg.get("stage_names"), list):
        align_stages(cfg)
    fix_backbone_and_routing(cfg)
    patch = cfg.get("patch_size")
    if is_int(cfg.get("image_size")) and is_int(patch) and "window_size" not in cfg and cfg["image_size"] > 4 * patch:
        cfg["image_size"] = 4 * patch  # a 4x4 patch grid keeps token counts tiny
    if "prediction_length" in cfg and cfg["prediction_length"] is None:
        cfg["prediction_length"] = 4  # time series: a horizon is required to build the model
    if cfg.get("num_time_features") == 0:
        cfg["num_time_features"] = 1  # time features as a real input (a zero-width tensor is not)
        if is_int(cfg.get("feature_size")):
            cfg["feature_size"] += 1  # the derived input width counts them
    fix_heads(cfg)
    fix_latent_attention(cfg)
    fix_rope_sections(cfg)
    return cfg


# timm builds a backbone from its architecture name alone, so no width in the config reaches it:
# a large architecture is swapped for timm's own tiny test model of the same family.
TIMM_TINY = [(re.compile(r"^resnet\d"), "test_resnet"), (re.compile(r"^convnext"), "test_convnext"), (re.compile(r"^efficientnet"), "test_efficientnet"), (re.compile(r"^vit_"), "test_vit")]


def fix_backbone_and_routing(cfg: dict) -> None:
    """Settings every shrinking rule needs: HF backbones without weights, tiny timm backbones,
    ungrouped routing."""
    if cfg.get("model_type") == "timm_backbone" and cfg.get("backbone") is None:
        cfg["backbone"] = "test_resnet"  # the config has no default architecture to shrink
    for key in ("backbone", "architecture"):
        name = cfg.get(key)
        if isinstance(name, str):
            cfg[key] = next((tiny for family, tiny in TIMM_TINY if family.search(name)), name)
    if cfg.get("use_timm_backbone") is True:
        cfg["use_timm_backbone"] = False  # timm backbones have fixed sizes; the HF backbone shrinks
    if cfg.get("use_pretrained_backbone") is True:
        cfg["use_pretrained_backbone"] = False  # never download weights
    for key in ("n_group", "topk_group", "num_expert_group", "topk_groups"):
        if is_int(cfg.get(key)) and cfg[key] > 1:
            cfg[key] = 1  # grouped routing needs experts per group >= experts chosen


def fix_latent_attention(cfg: dict) -> None:
    """Multi-head latent attention (DeepSeek-style): qk_head_dim = nope + rope, head_dim = rope
    (or nope + rope where the default config has it so)."""
    if not (is_int(cfg.get("qk_rope_head_dim")) and is_int(cfg.get("qk_nope_head_dim"))):
        return
    whole = cfg.get("head_dim") == cfg["qk_rope_head_dim"] + cfg["qk_nope_head_dim"]  # else head_dim = rope
    cfg["qk_rope_head_dim"], cfg["qk_nope_head_dim"] = 8, 8
    if is_int(cfg.get("v_head_dim")):
        cfg["v_head_dim"] = 16
    if is_int(cfg.get("qk_head_dim")):
        cfg["qk_head_dim"] = 16
    if is_int(cfg.get("head_dim")):
        cfg["head_dim"] = 16 if whole else 8
    for key in ("kv_lora_rank", "q_lora_rank"):
        if is_int(cfg.get(key)):
            cfg[key] = 16


def head_dim_of(cfg: dict):
    """The attention head width a config ends up with: explicit, or hidden / heads."""
    if is_int(cfg.get("head_dim")) and cfg["head_dim"] > 0:
        return cfg["head_dim"]
    _, hidden = first(cfg, HIDDEN)
    _, heads = first(cfg, HEADS)
    return hidden // heads if hidden and heads else None


def fix_rope_sections(cfg: dict) -> None:
    """Multimodal RoPE splits half the head width into sections: rescale them to the new width."""
    half = (head_dim_of(cfg) or 0) // 2
    for holder in (cfg, cfg.get("rope_parameters"), cfg.get("rope_scaling")):
        if not isinstance(holder, dict):
            continue
        sections = holder.get("mrope_section")
        if half and isinstance(sections, list) and sections and all(is_int(v) for v in sections) and sum(sections) != half:
            holder["mrope_section"] = proportional_split(sections, half)


def proportional_split(parts: list[int], total: int) -> list[int]:
    """`parts` rescaled to sum exactly to `total`, each at least 1 where total allows."""
    old = sum(parts) or 1
    new = [max(1, part * total // old) for part in parts]
    new[-1] += total - sum(new)
    return new


# One classifier of config keys for both shrinking rules (`shrink_int` here, `scale.scale_int`):
# the first row whose pattern matches, unless its exclusion does too, names the key's kind.
KEY_KINDS = [
    ("vocab", VOCAB, None),
    ("groups", GROUPS, GROUPS_KEPT),
    ("token_id", TOKEN_ID, None),
    ("experts", EXPERT_COUNT, None),
    ("experts_per_token", EXPERT_TOPK, None),
    ("queries", QUERIES, None),
    ("keypoints", re.compile(r"^max_keypoints$"), None),
    ("expert_width", EXPERT_WIDTH, None),
    ("kv_heads", KV_LIKE, KEEP),
    ("head_dim", HEAD_DIM_LIKE, None),
    ("heads", HEAD_LIKE, KEEP),
    ("layers", LAYER_LIKE, KEEP),
    ("kept", KEEP, None),
    ("size", SIZE_LIKE, None),
]


def key_kind(key: str) -> str:
    """The kind of an integer config key (`other` when no row names it)."""
    return next((kind for kind, pattern, unless in KEY_KINDS if pattern.search(key) and not (unless and unless.search(key))), "other")


def shrink_int(key: str, value: int, hidden, heads, layers, ffn) -> int:
    match key_kind(key):
        case "vocab":
            return min(value, VOCAB_NEW)
        case "groups":
            return min(value, 1)
        case "experts":
            return min(value, EXPERTS_NEW)
        case "experts_per_token":
            return min(value, 2)
        case "queries":
            return min(value, QUERIES_NEW)
        case "keypoints" if value < 0 or value > KEYPOINTS_NEW:
            return KEYPOINTS_NEW  # -1 (every detected keypoint) makes matching quadratic in the image
        case "expert_width":
            return min(value, EXPERT_WIDTH_NEW)
        case "kv_heads":
            return HEADS_NEW if heads and value == heads else min(value, 1)
        case "head_dim":
            return min(value, HEAD_DIM_NEW)
        case "heads":
            return min(value, HEADS_NEW)
        case "layers":
            return min(value, LAYERS_NEW)
        case "size":
            if hidden and value == hidden:
                return HIDDEN_NEW
            if ffn and value == ffn:
                return FFN_NEW
            if hidden and value == 2 * hidden:
                return 2 * HIDDEN_NEW
            if hidden and value == 4 * hidden:
                return 4 * HIDDEN_NEW
            if value in TREE_WIDTHS:
                return TREE_WIDTHS[value]  # another config's width (a projection into the text tower)
    # Token ids (remapped afterwards, once the vocabulary is known), kept keys and the rest.
    return value


# Hidden widths of every config in the tree being shrunk (original -> new), so a size in one
# config that names another config's width (`out_hidden_size`, `text_hidden_size`) follows it.
TREE_WIDTHS: dict[int, int] = {}


def tree_widths(cfg: dict, found: dict[int, int]) -> dict[int, int]:
    """Every hidden width in the tree -> HIDDEN_NEW, then 4x each -> 4x HIDDEN_NEW (a 2x2 patch
    merge feeds four patches' features into one projection) and half of each -> half of
    HIDDEN_NEW (2-D sine position features give each axis half the width)."""
    hidden_widths(cfg, found)
    for width in list(found):
        found.setdefault(4 * width, 4 * HIDDEN_NEW)
        found.setdefault(width // 2, HIDDEN_NEW // 2)  # sine position features: half each axis
    return found


def hidden_widths(cfg: dict, found: dict[int, int]) -> None:
    _, hidden = first(cfg, HIDDEN)
    if hidden and hidden > HIDDEN_NEW:
        found.setdefault(hidden, HIDDEN_NEW)
    for key, value in cfg.items():
        if is_subconfig(key, value):
            hidden_widths(value, found)


def shrink_list(key: str, value: list, layers) -> list:
    ints = all(is_int(v) for v in value)
    if layers and len(value) == layers and layers > LAYERS_NEW and not (ints and STAGE_WIDTHS.search(key)):
        kept = first_layers(value, LAYERS_NEW)
        return [min(v, HEADS_NEW) for v in kept] if ints and KV_LIKE.search(key) else kept
    if not ints:
        return value
    if INDEX_LIST.search(key) and not STAGE_DEPTHS.search(key) and layers and all(-layers <= v < layers + 1 for v in value):
        new = [min(v, LAYERS_NEW) if v >= 0 else max(v, -LAYERS_NEW) for v in value]
        return new
    if STAGE_DEPTHS.search(key):
        return [min(v, 1) for v in value]
    if STAGE_HEADS.search(key):
        return [1 for _ in value]
    if STAGE_WIDTHS.search(key) and not KEEP.search(key):
        return [max(8, (v // 8) // 8 * 8) if v >= 64 else v for v in value]
    return value


def first_layers(value: list, count: int) -> list:
    """The per-layer settings of the first `count` layers; a list of layer kinds (`layer_types`)
    instead keeps the first layer of each kind, so a hybrid model stays hybrid when it shrinks."""
    kinds = list(dict.fromkeys(value)) if all(isinstance(v, str) for v in value) else []
    if len(kinds) < 2 or set(value[:count]) == set(kinds):
        return value[:count]
    chosen = sorted(value.index(kind) for kind in kinds[:count])
    return [value[i] for i in chosen]


def align_stages(cfg: dict) -> None:
    """Backbone configs name one stage per layer: keep as many layers as features taken out."""
    wanted = len(cfg.get("out_features") or cfg.get("out_indices") or [1])
    layer_key, _ = first(cfg, LAYERS)
    count = max(LAYERS_NEW, wanted)
    if layer_key:
        cfg[layer_key] = count
    cfg["stage_names"] = ["stem"] + [f"stage{i}" for i in range(1, count + 1)]
    if cfg.get("out_features") is not None or cfg.get("out_indices") is not None:
        cfg["out_indices"] = list(range(count - wanted + 1, count + 1))
        cfg["out_features"] = [f"stage{i}" for i in cfg["out_indices"]]


def fix_ssm_heads(cfg: dict, hidden) -> None:
    """State-space blocks: heads * head_dim == expand * hidden (mamba2-style checks)."""
    for expand_key, heads_key, dim_key in (
        ("expand", "num_heads", "head_dim"),
        ("mamba_expand", "mamba_n_heads", "mamba_d_head"),
        ("ssm_expand", "ssm_num_heads", "ssm_head_dim"),
        ("mamba_expand", "mamba_num_heads", "mamba_head_dim"),
    ):
        expand, dim = cfg.get(expand_key), cfg.get(dim_key)
        if hidden and is_int(cfg.get(heads_key)) and isinstance(expand, (int, float)) and is_int(dim) and dim > 0:
            width = int(expand * hidden)
            if width % dim == 0:
                cfg[heads_key] = width // dim
            for key in ("n_groups", "mamba_n_groups", "ssm_n_groups"):
                if is_int(cfg.get(key)) and cfg[heads_key] % cfg[key]:
                    cfg[key] = 1


def fix_heads(cfg: dict) -> None:
    """Keeps hidden % heads == 0 for every hidden/heads pair the rules produced."""
    hidden_key, hidden = first(cfg, HIDDEN)
    fix_ssm_heads(cfg, hidden)
    heads_key, heads = first(cfg, HEADS)
    if hidden and heads and hidden % heads:
        cfg[heads_key] = 1
        heads = 1
    if "head_dim" in cfg and cfg["head_dim"] is None and hidden and heads:
        cfg["head_dim"] = hidden // heads  # some model code reads head_dim without a fallback
    for key in ("num_key_value_heads", "n_kv_heads", "num_kv_heads"):
        if key in cfg and cfg[key] is None and heads and heads_key == "num_attention_heads":
            cfg[key] = heads  # some model code divides by it without a fallback
        if is_int(cfg.get(key)) and heads and cfg[key] and heads % cfg[key]:
            cfg[key] = 1
    if "vocab_size" in cfg and cfg["vocab_size"] is None and hidden:
        cfg["vocab_size"] = VOCAB_NEW  # a token model with no default vocabulary (and no pad id)
        for key in ("pad_token_id", "mask_token_id"):
            if key in cfg and cfg[key] is None:
                cfg[key] = 1 if key == "pad_token_id" else 2
    _, layers = first(cfg, LAYERS)
    if layers and is_int(cfg.get("num_kv_shared_layers")) and cfg["num_kv_shared_layers"] >= layers:
        cfg["num_kv_shared_layers"] = 0  # cache-sharing layers need producing layers before them


def remap_token_ids(cfg: dict, taken: dict | None = None) -> None:
    """Special-token ids beyond the new vocabulary move to distinct ids at its top."""
    vocab = cfg.get("vocab_size") if is_int(cfg.get("vocab_size")) else None
    taken = {} if taken is None else taken
    for key, value in list(cfg.items()):
        if is_subconfig(key, value):
            remap_token_ids(value, taken)
            continue
        limit = vocab or VOCAB_NEW
        if TOKEN_ID.search(key) and "token" in key:
            if is_int(value) and value >= limit:
                cfg[key] = taken.setdefault(value, limit - 1 - len(taken))
            elif isinstance(value, list) and all(is_int(v) for v in value):
                cfg[key] = [taken.setdefault(v, limit - 1 - len(taken)) if v >= limit else v for v in value]


def shrink(default: dict, keep_depth: bool = False) -> dict:
    TREE_WIDTHS.clear()
    TREE_WIDTHS.update(tree_widths(default, {}))
    cfg = shrink_dict(copy.deepcopy(default), keep_depth)
    remap_token_ids(cfg)
    link_towers(cfg)
    return cfg


# Sizes in a tower's config that name the width of the text tower it projects into.
INTO_TEXT = ("out_hidden_size", "text_hidden_size", "adapter_out_dim")


def link_towers(cfg: dict) -> None:
    """A tower projecting into the text tower gets its width, even where the default config
    disagrees with itself (some defaults pair a 3584-wide projection with a 4096-wide text model);
    image tokens pooled from the patch grid are at most one per patch of the smaller image."""
    vision = cfg.get("vision_config")
    tokens = cfg.get("mm_tokens_per_image")
    if isinstance(vision, dict) and is_int(tokens) and is_int(vision.get("image_size")) and is_int(vision.get("patch_size")):
        side = vision["image_size"] // vision["patch_size"]
        if side and tokens > side * side:
            cfg["mm_tokens_per_image"] = side * side
    text = cfg.get("text_config")
    placeholders = [("image_token_id", is_int(cfg.get("num_query_tokens"))), ("audio_token_id", "audio_token_id" in cfg and isinstance(cfg.get("audio_config"), dict))]
    for key, media in placeholders:
        if media and cfg.get(key) is None and isinstance(text, dict) and is_int(text.get("vocab_size")):
            # Media features replace placeholder tokens; a default without one cannot run, so the
            # highest id no other special token uses becomes the placeholder.
            used = {v for k, v in cfg.items() if TOKEN_ID.search(k) and is_int(v)} | {v for k, v in text.items() if TOKEN_ID.search(k) and is_int(v)}
            cfg[key] = max(i for i in range(text["vocab_size"]) if i not in used)
    width = first(text, HIDDEN)[1] if isinstance(text, dict) else None
    if not width:
        return
    for key, value in cfg.items():
        if key != "text_config" and is_subconfig(key, value):
            for name in INTO_TEXT:
                if is_int(value.get(name)):
                    value[name] = width


# A vocoder's first upsampling width (HiFi-GAN): a width, though its name says "sample".
VOCODER_WIDTH = re.compile(r"upsample_initial_channel$")


def shrink_remaining(cfg: dict, floor: int = 64) -> bool:
    """Second pass when still over the cap: every size-like integer > floor becomes floor."""
    changed = False
    for key, value in list(cfg.items()):
        if is_subconfig(key, value):
            changed |= shrink_remaining(value, floor)
        elif is_int(value) and value > floor and (VOCODER_WIDTH.search(key) or SIZE_LIKE.search(key) and not KEEP.search(key) and not TOKEN_ID.search(key) and not VOCAB.search(key)):
            cfg[key] = floor
            changed = True
        elif isinstance(value, list) and value and all(is_int(v) for v in value) and STAGE_WIDTHS.search(key) and not KEEP.search(key):
            new = [min(v, floor) for v in value]
            changed |= new != value
            cfg[key] = new
    return changed


def diff(default, tiny):
    """The part of `tiny` that differs from `default` (nested dicts diffed recursively)."""
    out = {}
    for key, value in tiny.items():
        if key not in default:
            out[key] = value
        elif isinstance(value, dict) and isinstance(default[key], dict):
            if not value and default[key]:
                out[key] = None  # per-layer settings for none of the remaining layers (a merge cannot delete keys)
                continue
            sub = diff(default[key], value)
            if sub:
                out[key] = sub
        elif value != default[key]:
            out[key] = value
    return out


IMAGE_SIDE_LIMIT = 256  # larger images are what make a tiny vision model slow
FRAMES_LIMIT = 8


def smaller_inputs(cfg: dict) -> bool:
    """Quarter every image side over IMAGE_SIDE_LIMIT (kept a multiple of the patch size) and cap
    frame counts, in place; True when something changed. The probe keeps the result only when the
    model still builds, runs and matches with it."""
    changed = False
    patch = cfg.get("patch_size") if is_int(cfg.get("patch_size")) else None
    for key, value in list(cfg.items()):
        if is_subconfig(key, value):
            changed |= smaller_inputs(value)
        elif key in ("image_size", "img_size", "input_size") and is_int(value) and value > IMAGE_SIDE_LIMIT:
            cfg[key] = quarter(value, patch)
            changed = True
        elif key in ("image_size", "img_size") and isinstance(value, list) and value and all(is_int(v) and v > IMAGE_SIDE_LIMIT for v in value):
            cfg[key] = [quarter(v, patch) for v in value]
            changed = True
        elif key in ("num_frames", "frames") and is_int(value) and value > FRAMES_LIMIT:
            cfg[key] = FRAMES_LIMIT
            changed = True
    return changed


def quarter(side: int, patch) -> int:
    if patch:
        return patch * max(4, (side // patch) // 4)
    return max(32, side // 4 // 32 * 32)
