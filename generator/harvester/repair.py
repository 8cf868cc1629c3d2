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
    sliding-window mask although the default leaves the window unset) -> `sliding_window: 4`.
"""

from __future__ import annotations

import re

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


NO_WINDOW = re.compile(r"Could not find a `sliding_window` argument in the config")
WINDOW = 4  # shorter than the test sequences, so the window is exercised


def repairable(message: str) -> bool:
    """Whether `message` is an error some repair addresses."""
    return any(p.search(message) for p in (MROPE, MISSING_ATTRIBUTE, NO_WINDOW))


def repair(message: str, test_config: dict, defaults: dict, config_class: str | None = None) -> dict | None:
    """A repaired test_config for the error `message`, or None when no repair applies."""
    if NO_WINDOW.search(message):
        patch = window_patch(export.merge(defaults, test_config))
        return export.merge(test_config, patch) if patch else None
    missing = MISSING_ATTRIBUTE.search(message)
    if missing and config_class:
        patch = attribute_patch(getattr(transformers, config_class).from_dict(export.merge(defaults, test_config)), missing.group(1), missing.group(2))
        return export.merge(test_config, patch) if patch else None
    found = MROPE.search(message)
    if found:
        total = int(found.group(1))
        sections = shrink.proportional_split([int(v) for v in found.group(2).split(",")], total)
        merged = export.merge(defaults, test_config)
        patch = rope_patch(merged, sections)
        return export.merge(test_config, patch) if patch else None
    return None


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
    """The value of `attribute` in the first config of the tree that sets it (a plain scalar)."""
    value = vars(config).get(attribute)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    for _, sub in sub_configs(config):
        found = tree_value(sub, attribute)
        if found is not None:
            return found
    return None


def window_patch(cfg: dict) -> dict:
    """`sliding_window: WINDOW` for every (sub-)config whose `sliding_window` is unset."""
    return tree_patch(cfg, lambda c: {"sliding_window": WINDOW} if "sliding_window" in c and c["sliding_window"] is None else {})
