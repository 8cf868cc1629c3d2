"""The comparison rule, Python side: tolerances derived from measured float32 error.

One rule for the whole project: `parity_rule.json` beside this file holds its constants and
its statement; the exporter (which records the tolerances in every artifact manifest), the
harvester's probe (which decides `pass` with the same tolerances) and the runtime's Rust check
(`runtime/src/check.rs`, which reads them from the manifest) all follow it. `parity_cases.json`
holds comparison cases that both implementations are tested against.

Run `python parity.py --self-test` to check this file against `parity_cases.json`.
"""

from __future__ import annotations

import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "parity_rule.json"), encoding="utf-8") as _handle:
    RULE = json.load(_handle)

CHECKED, EXACT, CHAOTIC, NO_SIGNAL = "checked", "exact", "chaotic", "no-signal"


def _max_abs(tensor) -> float:
    return float(tensor.detach().abs().max().item()) if tensor.numel() else 0.0


def derive(float32: dict, float64: dict | None, fallback_reason: str | None = None) -> dict:
    """Per-output tolerances and verdicts from the float32 references (set -> name -> tensor)
    and the float64 ones from the same weights and inputs (None when float64 did not run)."""
    import torch

    names = list(next(iter(float32.values())).keys())
    if float64 is not None:
        broken = [n for s in float32 for n in names if float64[s][n].is_floating_point() and not bool(float64[s][n].isfinite().all())]
        if broken:
            # Masks built from float32 constants (finfo(float32).min) overflow in float64 arithmetic.
            float64, fallback_reason = None, f"eager float64 returns NaN or infinite values in `{broken[0]}` (float32 constants in the model code)"
    outputs = {}
    for name in names:
        tensors = [float32[s][name] for s in float32]
        if not all(t.is_floating_point() for t in tensors):
            # Integers and booleans must be equal; one value everywhere (codes of a codebook
            # that starts at zero, an all-false mask) carries no signal: zeros would pass.
            values = torch.cat([t.reshape(-1).to(torch.int64) for t in tensors])
            constant = values.numel() == 0 or bool((values == values[0]).all())
            outputs[name] = {"status": NO_SIGNAL if constant else EXACT, "abs": 0.0, "rel": 0.0, "scale": max(_max_abs(t.double()) for t in tensors), "float32_error": None}
            continue
        if float64 is not None:
            wide = [float64[s][name].double() for s in float32]
            scale = max(_max_abs(w) for w in wide)
            error = max(_max_abs(t.double() - w) if t.shape == w.shape else math.inf for t, w in zip(tensors, wide))
            tolerance = max(RULE["error_factor"] * error, RULE["scale_floor"] * scale)
            if not math.isfinite(tolerance):
                # A float64 output of another shape (a data-dependent size): chaotic by definition.
                tolerance = RULE["fallback_scale"] * scale
        else:
            scale = max(_max_abs(t.double()) for t in tensors)
            error = None
            tolerance = RULE["fallback_scale"] * scale
        if not math.isfinite(scale) or scale <= RULE["signal_floor"]:
            status = NO_SIGNAL
        elif error is not None and error > RULE["chaos_ratio"] * scale:
            status = CHAOTIC
        else:
            status = CHECKED
        outputs[name] = {"status": status, "abs": tolerance, "rel": 0.0, "scale": scale, "float32_error": error}
    method = "float64" if float64 is not None else "fallback"
    summary = {"rule": RULE["version"], "method": method, "outputs": outputs}
    if fallback_reason:
        summary["fallback_reason"] = fallback_reason[:300]
    return summary


def _sci(value) -> str:
    """A number as the verdicts write it (`.3e`; `nan` when absent)."""
    return "nan" if value is None else f"{value:.3e}"


def verdict(parity: dict) -> tuple[str | None, str]:
    """`(None, note)` when the outputs can be checked; else (category, why) with the category
    `chaotic` (some output is) or `no-signal` (no output has any), worded as parity_rule.json says."""
    outputs = parity["outputs"]
    # Outputs in name order, as the Rust side holds them (a BTreeMap): both name the same output.
    chaotic = sorted(n for n, o in outputs.items() if o["status"] == CHAOTIC)
    if chaotic:
        o = outputs[chaotic[0]]
        return CHAOTIC, RULE["verdicts"][CHAOTIC].format(name=chaotic[0], float32_error=_sci(o.get("float32_error")), scale=_sci(o["scale"]))
    silent = sorted(n for n, o in outputs.items() if o["status"] == NO_SIGNAL)
    if silent and len(silent) == len(outputs):
        return NO_SIGNAL, RULE["verdicts"][NO_SIGNAL].format(name=silent[0])
    return None, ("unchecked (no signal): " + ", ".join(silent)) if silent else ""


def within(actual, reference, entry: dict) -> tuple[bool, float]:
    """Whether `actual` matches `reference` under one output's tolerance; also the worst
    excess (> 0 fails). Shapes and dtypes must agree; integers must be equal."""
    import torch

    if actual.shape != reference.shape:
        return False, math.inf
    if entry["status"] == EXACT or not reference.is_floating_point():
        return bool(torch.equal(actual.to(reference.dtype), reference)), 0.0
    a, r = actual.double(), reference.double()
    if not bool(torch.isfinite(a).all()):
        return False, math.inf
    if a.numel() == 0:
        return True, 0.0
    excess = float(((a - r).abs() - (entry["abs"] + entry["rel"] * r.abs())).max().item())
    return excess <= 0.0, excess


def self_test(path: str) -> int:
    """Checks `within` against the shared cases; prints and returns the number of failures."""
    import torch

    with open(path, encoding="utf-8") as handle:
        cases = json.load(handle)["cases"]
    failures = 0
    for case in cases:
        dtype = torch.int64 if case.get("integer") else torch.float32
        got = torch.tensor(case["actual"], dtype=dtype)
        want = torch.tensor(case["reference"], dtype=dtype)
        entry = {"status": EXACT if case.get("integer") else CHECKED, "abs": case["abs"], "rel": case["rel"]}
        passed, _ = within(got, want, entry)
        if passed != case["passes"]:
            failures += 1
            print(f"parity self-test: case {case['name']!r}: got passes={passed}, expected {case['passes']}")
    with open(path, encoding="utf-8") as handle:
        verdict_cases = json.load(handle)["verdict_cases"]
    for case in verdict_cases:
        outputs = {name: dict(o, abs=0.0, rel=0.0) for name, o in case["outputs"].items()}
        category, message = verdict({"outputs": outputs})
        if category != case["category"] or (case["message"] is not None and message != case["message"]):
            failures += 1
            print(f"parity self-test: verdict case {case['name']!r}: got {category!r} {message!r}, expected {case['category']!r} {case['message']!r}")
    total = len(cases) + len(verdict_cases)
    print(f"parity self-test: {total - failures} passed, {failures} failed")
    return failures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        sys.exit(1 if self_test(os.path.join(HERE, "parity_cases.json")) else 0)
    print(__doc__)
