"""What the Python side shares with the Rust contract crate (request/src), read from
`contract.json`, which the generator writes from it: the failure categories and the rule that
makes a dimension dynamic. Nothing here is a second copy: a category that is not in the
document, or a rule that differs, fails (runtime/tests/contract.rs runs `--self-test`)."""

from __future__ import annotations

import errno
import json
import os
import sys

_DOCUMENT = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "contract.json")))

# The version of the exporter request document (request/src/lib.rs, VERSION).
REQUEST_VERSION: int = _DOCUMENT["version"]
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


# OS errors that say something about this machine (its disk, memory, file table), never the model.
_MACHINE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is spent", errno.ENOMEM: "out of memory",
                   errno.EIO: "an I/O error", errno.EMFILE: "too many open files", errno.ENFILE: "too many open files",
                   errno.EROFS: "a read-only file system"}
# Messages of allocation failures that native code raises as plain RuntimeErrors.
_ALLOCATION_MESSAGES = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc", "failed to allocate")


def environment_fault(error: BaseException, work_dir: str | None = None) -> str | None:
    """Why `error` is a fault of this machine rather than of the model (a full disk, memory
    running out, an allocation failure, a file of the exporter's own work vanishing under it
    in a rename race), or None. Such a failure is recorded transient: the next run retries it,
    instead of the model failing until `--retry-failed`."""
    if isinstance(error, MemoryError):
        return "out of memory (MemoryError)"
    if isinstance(error, OSError) and error.errno in _MACHINE_ERRNOS:
        return _MACHINE_ERRNOS[error.errno]
    if isinstance(error, (FileNotFoundError, FileExistsError)) and work_dir:
        names = [str(n) for n in (error.filename, getattr(error, "filename2", None)) if n]
        if any(os.path.abspath(n).startswith(os.path.abspath(work_dir)) for n in names):
            return "a file of the export's own work changed under it (a rename race with another process)"
    if isinstance(error, RuntimeError) and any(m in str(error).lower() for m in _ALLOCATION_MESSAGES):
        return "an allocation failed in native code"
    return None


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
    """Prints one JSON line: the request version, the categories and what `is_dynamic` says of each case."""
    print(json.dumps({"request_version": REQUEST_VERSION, "categories": list(CATEGORIES), "stage_order": list(STAGE_ORDER), "final": sorted(FINAL), "dynamic": [is_dynamic(d) for d in cases]}))


if __name__ == "__main__" and sys.argv[1:2] == ["--self-test"]:
    _self_test(json.loads(sys.argv[2]))
