"""Repairs of a tiny configuration driven by the model's own error message.

Some sizes only exist in model code (a default filled in at run time), so no shrinking rule can
see them in the configuration. When a model's error names such a size, the probe applies the
matching repair to `test_config` and tries again, once per repair:

  * multimodal RoPE: "split_with_sizes expects split_sizes to sum exactly to N ... got
    split_sizes=[a, b, c]" -> `rope_parameters.mrope_section` rescaled to sum to N in every
    (sub-)config that has `rope_parameters`;
  * a setting the model reads but its config class never defines ("'XConfig' object has no
    attribute 'y'", a gap in transformers itself) -> `y` added to that (sub-)config, with the
    value another config in the same tree has, else the neutral value for its kind (dropout 0,
    initializer range 0.02, RoPE theta 10000, norm epsilon 1e-6, no embedding scale; an
    expert's `*_intermediate_size` is the config's own `intermediate_size`);
  * "Could not find a `sliding_window` argument in the config" (model code that builds a
    sliding-window mask although the default leaves the window unset) -> `sliding_window: 4`;
  * "topk(): argument 'k' must be int, not NoneType" (a router whose default leaves top-k
    unset) -> top-k 2 in every (sub-)config with experts and an unset top-k;
  * a size that is None when a weight is allocated ("empty() takes 1 positional argument",
    "must be tuple of ints, but found element of type NoneType") -> unset expert settings
    filled in: 4 experts, 2 per token, 1 shared, experts as wide as the dense MLP.

One repair answers a failure category instead of a message: a mixture-of-experts model whose
trace is specialised (the trace records which experts the traced tokens reached and how many
went to each) routes every token to every expert (top-k = the expert count, no zero-compute
experts), so every input reaches the same experts; the gates still weigh them per token. A
top-1 router with expert capacity (Switch Transformers) keeps one expert instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import transformers

import export
import shrink

MROPE = re.compile(r"split_with_sizes expects split_sizes to sum exactly to (\d+).*split_sizes=\[([\d, ]+)\]")


MISSING_ATTRIBUTE = re.compile(r"AttributeError: '(\w+Config)' object has no attribute '(\w+)'")
NEUTRAL = [
    (re.compile(r"dropout"), 0.0),
    (re.compile(r"initializer_range|init_std"), 0.02),
    (re.compile(r"rope_theta"), 10000.0),
    (re.compile(r"eps(ilon)?$"), 1e-6),
    (re.compile(r"^scale_embedding$"), False),
]


NO_TOP_K = re.compile(r"topk\(\): argument 'k' must be int, not NoneType")
UNSET_SIZE = re.compile(r"empty\(\) takes 1 positional argument but \d+ were given|must be tuple of ints, but found element of type NoneType")
NO_WINDOW = re.compile(r"Could not find a `sliding_window` argument in the config")
WINDOW = 4  # shorter than the test sequences, so the window is exercised


@dataclass(frozen=True)
class Repair:
    """A row: the error text it reads, what it means, and the patch of `test_config` it makes."""

    name: str
    reads: re.Pattern
    means: str
    # (match, test_config, defaults, config_class) -> the repaired test_config, or None.
    patch: Callable
    # Whether it needs the config class (to find the sub-config the error names).
    needs_config_class: bool = False


def _top_k(found, test_config: dict, defaults: dict, config_class):
    patch = tree_patch(export.merge(defaults, test_config), top_k_patch)
    return export.merge(test_config, patch) if patch else None


def _unset_experts(found, test_config: dict, defaults: dict, config_class):
    patch = tree_patch(export.merge(defaults, test_config), unset_experts_patch)
    return export.merge(test_config, patch) if patch else None


def _window(found, test_config: dict, defaults: dict, config_class):
    patch = window_patch(export.merge(defaults, test_config))
    return export.merge(test_config, patch) if patch else None


def _missing_attribute(found, test_config: dict, defaults: dict, config_class):
    patch = attribute_patch(getattr(transformers, config_class).from_dict(export.merge(defaults, test_config)), found.group(1), found.group(2))
    return export.merge(test_config, patch) if patch else None


def _mrope(found, test_config: dict, defaults: dict, config_class):
    total = int(found.group(1))
    sections = shrink.proportional_split([int(v) for v in found.group(2).split(",")], total)
    patch = rope_patch(export.merge(defaults, test_config), sections)
    return export.merge(test_config, patch) if patch else None


# In the order they are tried: the first row whose pattern the error matches decides.
REPAIRS: list[Repair] = [
    Repair("top-k", NO_TOP_K, "a router whose default leaves top-k unset", _top_k),
    Repair("unset-experts", UNSET_SIZE, "an expert setting is None when a weight is allocated", _unset_experts),
    Repair("sliding-window", NO_WINDOW, "model code builds a sliding-window mask although the default leaves the window unset", _window),
    Repair("missing-attribute", MISSING_ATTRIBUTE, "the model reads a setting its config class never defines", _missing_attribute, needs_config_class=True),
    Repair("mrope", MROPE, "multimodal RoPE sections must sum to the head's rotary width", _mrope),
]


def repairable(message: str) -> bool:
    """Whether `message` is an error some repair addresses."""
    return any(r.reads.search(message) for r in REPAIRS)


def repair(message: str, test_config: dict, defaults: dict, config_class: str | None = None) -> dict | None:
    """A repaired test_config for the error `message`, or None when no repair applies."""
    for row in REPAIRS:
        found = row.reads.search(message)
        if found and (config_class or not row.needs_config_class):
            return row.patch(found, test_config, defaults, config_class)
    return None


# Config keys of an MoE router's top-k and of its expert count.
TOP_K = ("num_experts_per_tok", "moe_topk", "top_k", "num_selected_experts", "moe_k", "num_experts_per_token")
EXPERT_COUNT = ("num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts")


def every_expert(test_config: dict, defaults: dict) -> dict | None:
    """A test_config whose MoE routers send every token to every expert, or None (no router)."""
    patch = tree_patch(export.merge(defaults, test_config), routing_patch)
    return export.merge(test_config, patch) if patch else None


def routing_patch(cfg: dict) -> dict:
    """top-k = expert count (and no zero-compute experts) for one config with a top-k router."""
    top_k = next((k for k in TOP_K if isinstance(cfg.get(k), int)), None)
    count_key = next((k for k in EXPERT_COUNT if isinstance(cfg.get(k), int) and cfg[k] > 0), None)
    if count_key is None:
        return {}
    count = cfg[count_key]
    if top_k is None:
        # A top-1 router with expert capacity (Switch Transformers): one expert takes every token.
        return {count_key: 1} if "expert_capacity" in cfg and count > 1 else {}
    patch = {top_k: count} if cfg[top_k] != count else {}
    if cfg.get("zero_expert_num"):
        patch["zero_expert_num"] = 0
    return patch


def top_k_patch(cfg: dict) -> dict:
    """A router's unset top-k (DeepSeek-V2's default) set to 2 of its experts."""
    count = next((cfg[k] for k in EXPERT_COUNT if isinstance(cfg.get(k), int) and cfg[k] > 0), None)
    unset = [k for k in TOP_K if k in cfg and cfg[k] is None]
    return {unset[0]: min(2, count)} if count and unset else {}


# Values for expert settings a default leaves unset: experts, experts per token, shared experts.
UNSET_EXPERTS = {**{k: 4 for k in EXPERT_COUNT}, **{k: 2 for k in TOP_K + ("top_k_experts",)}, "n_shared_experts": 1}


def unset_experts_patch(cfg: dict) -> dict:
    """Unset expert counts, top-k and expert widths of one MoE config filled in (Dots1,
    DiffusionGemma); only a config with at least one expert setting changes."""
    patch = {k: v for k, v in UNSET_EXPERTS.items() if k in cfg and cfg[k] is None}
    for key in ("moe_intermediate_size", "expert_intermediate_size"):
        if key in cfg and cfg[key] is None and isinstance(cfg.get("intermediate_size"), int):
            patch[key] = cfg["intermediate_size"]
    return patch


def rope_patch(cfg: dict, sections: list[int]) -> dict:
    """`mrope_section: sections` for every (sub-)config in `cfg` that has `rope_parameters`."""
    return tree_patch(cfg, lambda c: {"rope_parameters": {"mrope_section": sections}} if isinstance(c.get("rope_parameters"), dict) else {})


def tree_patch(cfg: dict, patch_for) -> dict:
    """`patch_for(config)` for `cfg` and every nested sub-config, as one nested patch."""
    patch = patch_for(cfg)
    for key, value in cfg.items():
        if shrink.is_subconfig(key, value):
            sub = tree_patch(value, patch_for)
            if sub:
                patch[key] = sub
    return patch


def attribute_patch(config, class_name: str, attribute: str) -> dict | None:
    """`{path...: {attribute: value}}` for the (sub-)config of class `class_name` in `config`."""
    path = config_path(config, class_name, [])
    if path is None:
        return None
    value = tree_value(config, attribute)
    if value is None and attribute.endswith("_intermediate_size"):
        value = tree_value(config_at(config, path), "intermediate_size")  # a shared expert as wide as the others
    if value is None:
        value = next((v for pattern, v in NEUTRAL if pattern.search(attribute)), None)
    if value is None:
        return None
    patch = {attribute: value}
    for key in reversed(path):
        patch = {key: patch}
    return patch


def sub_configs(config):
    """(key, sub-config) for every configuration nested directly in `config`."""
    for key, value in vars(config).items():
        if isinstance(value, transformers.PretrainedConfig):
            yield key, value


def config_at(config, path: list):
    for key in path:
        config = getattr(config, key)
    return config


def config_path(config, class_name: str, path: list):
    if type(config).__name__ == class_name:
        return path
    for key, sub in sub_configs(config):
        found = config_path(sub, class_name, path + [key])
        if found is not None:
            return found
    return None


def tree_value(config, attribute: str):
    """The value of `attribute` in the first config of the tree that sets it (a number or a name)."""
    value = vars(config).get(attribute)
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    for _, sub in sub_configs(config):
        found = tree_value(sub, attribute)
        if found is not None:
            return found
    return None


def window_patch(cfg: dict) -> dict:
    """`sliding_window: WINDOW` for every (sub-)config whose `sliding_window` is unset."""
    return tree_patch(cfg, lambda c: {"sliding_window": WINDOW} if "sliding_window" in c and c["sliding_window"] is None else {})
