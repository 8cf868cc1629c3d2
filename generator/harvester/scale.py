"""The proportional shrinking rule: the fallback when the generic rule breaks a model's own checks.

The generic rule (shrink.py) maps widths to fixed small values, which breaks configurations that
tie sizes together in ways it does not know (`out_hidden_size` must equal the text width, a
condition width must equal another tower's, rotary sections must fill the head width). This
rule keeps every such relation instead:

  * one factor for the whole configuration tree: the largest hidden width divided down to about
    HIDDEN_TARGET (a power of two, so exact divisions stay exact);
  * every size-like integer (and per-stage width list) is divided by that factor, so equal
    sizes stay equal and multiples stay multiples; `head_dim` is kept and head counts are
    divided instead, so heads * head_dim == hidden and rotary layouts still hold;
  * vocabularies, channel groups, experts and depth are handled as in the generic rule (depth optionally kept).
"""

from __future__ import annotations

import copy
import math

import shrink
from shrink import first, is_int, is_subconfig

HIDDEN_TARGET = 128


def factor_for(cfg: dict) -> int:
    """Power-of-two divisor that brings the largest hidden width in the tree to about HIDDEN_TARGET."""
    widest = 0
    stack = [cfg]
    while stack:
        current = stack.pop()
        _, hidden = first(current, shrink.HIDDEN)
        widest = max(widest, hidden or 0)
        stack.extend(v for k, v in current.items() if is_subconfig(k, v))
    return 2 ** max(0, int(math.floor(math.log2(widest / HIDDEN_TARGET)))) if widest > HIDDEN_TARGET else 1


def divided(value: int, factor: int) -> int:
    return max(1, round(value / factor))


def scale_dict(cfg: dict, factor: int, keep_depth: bool) -> dict:
    """Divides the sizes of one config dict (and its sub-configs) in place; returns it."""
    # Layer counts that shrink: lists of those lengths (and index-keyed maps) are per-layer.
    counts = set() if keep_depth else {
        v for k, v in cfg.items() if is_int(v) and shrink.LAYER_LIKE.search(k) and not shrink.KEEP.search(k) and v > shrink.LAYERS_NEW
    }
    for key, value in list(cfg.items()):
        if isinstance(value, dict) and value and all(str(k).isdigit() for k in value) and counts:
            cfg[key] = {k: v for k, v in value.items() if int(k) < shrink.LAYERS_NEW}
        elif isinstance(value, list) and len(value) in counts and not shrink.STAGE_WIDTHS.search(key):
            cfg[key] = shrink.first_layers(value, shrink.LAYERS_NEW)
        elif is_subconfig(key, value):
            scale_dict(value, factor, keep_depth)
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "model_type" in v for v in value):
            for v in value:
                scale_dict(v, factor, keep_depth)
        elif is_int(value):
            cfg[key] = scale_int(key, value, factor, keep_depth)
        elif isinstance(value, list) and value and all(is_int(v) for v in value):
            if shrink.STAGE_WIDTHS.search(key) and not shrink.KEEP.search(key):
                cfg[key] = [divided(v, factor) if v >= factor else v for v in value]
            elif not keep_depth and shrink.STAGE_DEPTHS.search(key):
                cfg[key] = [min(v, 1) for v in value]
    shrink.fix_backbone_and_routing(cfg)
    shrink.fix_heads(cfg)
    return cfg


def scale_int(key: str, value: int, factor: int, keep_depth: bool) -> int:
    match shrink.key_kind(key):
        case "vocab":
            return min(value, shrink.VOCAB_NEW)
        case "groups":
            return min(value, 1)
        case "experts":
            return min(value, shrink.EXPERTS_NEW)
        case "experts_per_token":
            return min(value, 2)
        case "queries":
            return min(value, shrink.QUERIES_NEW)
        case "kv_heads" | "heads":
            return divided(value, factor) if value >= factor else 1
        case "layers":
            return value if keep_depth else min(value, shrink.LAYERS_NEW)
        case "size" | "expert_width":
            return divided(value, factor) if value >= factor else value
    # Token ids, head widths (rotary layouts depend on them), kept keys and the rest.
    return value


def scale(default: dict, keep_depth: bool = False) -> dict:
    """The proportional tiny configuration (a full dict) for a default configuration dict."""
    cfg = copy.deepcopy(default)
    scale_dict(cfg, factor_for(cfg), keep_depth)
    shrink.remap_token_ids(cfg)
    shrink.link_towers(cfg)
    return cfg
