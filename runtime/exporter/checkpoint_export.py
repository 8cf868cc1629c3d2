"""Batch exporter for local checkpoints: export.py, with each model loaded from the checkpoint
directory its request names instead of built from a tiny configuration.

The runtime sends the same jobs as to export.py; a checkpoint request carries
`"checkpoint": {"digest": "<sha256 of config.json and the weights>"}` (the digest keys the
artifact: an edited checkpoint exports again, the same one in another folder does not), and the
environment variable HFZOO_CHECKPOINT_DIRS maps each digest to the directory holding it. Everything else (input
sets, eager references in float32 and float64, tolerances, the formats and their checks) is
export.py's. Nothing is downloaded: `from_pretrained` runs with `local_files_only`.
"""

from __future__ import annotations

import json
import os
import sys

import export  # noqa: E402  (beside this file)
import torch  # noqa: E402
import transformers  # noqa: E402

build_tiny_model = export.build_model


def build_model(request: dict) -> torch.nn.Module:
    """The request's model class with the checkpoint's weights, eval mode, eager attention."""
    checkpoint = request.get("checkpoint")
    if not checkpoint:
        return build_tiny_model(request)
    directories = json.loads(os.environ.get("HFZOO_CHECKPOINT_DIRS") or "{}")
    directory = directories.get(checkpoint["digest"])
    if not directory:
        raise ValueError(f"no directory for checkpoint {checkpoint['digest'][:12]} in HFZOO_CHECKPOINT_DIRS (the runtime sets it when it loads a checkpoint)")
    model_class = getattr(transformers, request["model_class"])
    # float32 whatever the checkpoint was saved in: the references and tolerances are float32's.
    options = {"local_files_only": True, "dtype": torch.float32}
    try:
        model = model_class.from_pretrained(directory, attn_implementation="eager", **options)
    except (TypeError, ValueError) as error:
        if "attn_implementation" not in str(error) and "attention" not in str(error):
            raise
        model = model_class.from_pretrained(directory, **options)
    return model.eval()


export.build_model = build_model

PEAK_FILE_ENV = "HFZOO_EXPORT_PEAK_FILE"


def write_peak() -> None:
    """Where HFZOO_EXPORT_PEAK_FILE names a file (the benchmark sets it), this process's own peak
    resident memory as {"peak_rss_mib": N}: what exporting the checkpoint took."""
    path = os.environ.get(PEAK_FILE_ENV)
    if path:
        from peer_measure import peak_rss_mib

        with open(path, "w") as file:
            json.dump({"peak_rss_mib": peak_rss_mib()}, file)


if __name__ == "__main__":
    code = export.main()
    write_peak()
    sys.exit(code)
