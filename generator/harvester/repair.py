"""Repairs of a tiny configuration driven by the model's own error message.

Some sizes only exist in model code (a default filled in at run time), so no shrinking rule can
see them in the configuration. When a model's error names such a size, the probe applies the
matching repair to `test_config` and tries again, once per repair:

  * multimodal RoPE: "split_with_sizes expects split_sizes to sum exactly to N ... got
    split_sizes=[a, b, c]" -> `rope_parameters.mrope_section` rescaled to sum to N in every
    (sub-)config that has `rope_parameters`.
"""

from __future__ import annotations

import re

import export
import shrink

MROPE = re.compile(r"split_with_sizes expects split_sizes to sum exactly to (\d+).*split_sizes=\[([\d, ]+)\]")


def repair(message: str, test_config: dict, defaults: dict) -> dict | None:
    """A repaired test_config for the error `message`, or None when no repair applies."""
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
    patch = {}
    if isinstance(cfg.get("rope_parameters"), dict):
        patch["rope_parameters"] = {"mrope_section": sections}
    for key, value in cfg.items():
        if shrink.is_subconfig(key, value):
            sub = rope_patch(value, sections)
            if sub:
                patch[key] = sub
    return patch
