"""Publishing an artifact directory so that a reader never finds it absent or half written:
a new directory is renamed into place; an existing one is swapped with the new one in one
step (Linux renameat2 with RENAME_EXCHANGE), then removed from the temporary name."""

from __future__ import annotations

import ctypes
import os
import shutil

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: str, b: str) -> bool:
    """Swaps two existing paths atomically; False where the system cannot (no renameat2)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: this file system cannot exchange
        return False
    raise OSError(error, os.strerror(error), b)


def replace_dir(tmp: str, final: str) -> None:
    """Moves the complete directory `tmp` to `final`, replacing what is there without a moment
    where `final` is missing (where the system can exchange; else remove, then rename)."""
    if not os.path.isdir(final):
        os.rename(tmp, final)
        return
    if exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # `tmp` now holds the old directory
        return
    shutil.rmtree(final)
    os.rename(tmp, final)
