"""What the Python side shares with the Rust contract crate (request/src), read from
`contract.json`, which the generator writes from it: the failure categories and the rule that
makes a dimension dynamic. Nothing here is a second copy: a category that is not in the
document, or a rule that differs, fails (runtime/tests/contract.rs runs `--self-test`)."""

from __future__ import annotations

import json
import os
import sys

_DOCUMENT = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "contract.json")))

CATEGORIES: tuple[str, ...] = tuple(c["id"] for c in _DOCUMENT["categories"])
# The probe's stages, earliest first: it keeps the furthest failure of its attempts.
STAGE_ORDER: tuple[str, ...] = tuple(c["id"] for c in sorted((c for c in _DOCUMENT["categories"] if c["probe_stage"] is not None), key=lambda c: c["probe_stage"]))
# Failures no other shrinking or repair of the probe can change.
FINAL: frozenset[str] = frozenset(c["id"] for c in _DOCUMENT["categories"] if c["final_for_probe"])
_DYNAMIC_FIELD: str = _DOCUMENT["dynamic_dimension_field"]


def category(name: str) -> str:
    """`name` when it is a category of the contract; otherwise a ValueError naming the list."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown failure category {name!r}: the contract (request/src/category.rs) has {', '.join(CATEGORIES)}")
    return name


def is_dynamic(dim: dict) -> bool:
    """Whether a request dimension is dynamic: it has a `varied` size (request/src/lib.rs, is_dynamic)."""
    return dim.get(_DYNAMIC_FIELD) is not None


def size_in_set(dim: dict, varied_set: bool) -> int:
    """The dimension's size in input set b (`varied_set`) or a."""
    return dim[_DYNAMIC_FIELD] if varied_set and is_dynamic(dim) else dim["size"]


def classify_build_error(error: BaseException) -> str:
    """`missing-package` for an absent optional package, else `build`."""
    text = str(error)
    if isinstance(error, ImportError) or ("requires the" in text and "library" in text) or "pip install" in text:
        return category("missing-package")
    return category("build")


def _self_test(cases: list) -> None:
    """Prints one JSON line: the categories and what `is_dynamic` says of each case."""
    print(json.dumps({"categories": list(CATEGORIES), "stage_order": list(STAGE_ORDER), "final": sorted(FINAL), "dynamic": [is_dynamic(d) for d in cases]}))


if __name__ == "__main__" and sys.argv[1:2] == ["--self-test"]:
    _self_test(json.loads(sys.argv[2]))
