"""What every benchmark peer process measures alike: the timing rule, the runtime's
(bench/core/src/stats.rs: warm-up in windows until one window's median is within `tolerance` of
the previous one's, then timed runs until `min_runs` are taken and `seconds` have passed, or
`max_runs`), and the process's own peak memory. No imports beyond the standard library, so every
peer environment (.venv, .venv-peers) can use it."""

from __future__ import annotations

import resource
import statistics
import time


def timed(run, rule: dict) -> tuple[list[float], int]:
    """Warm-up until stable, then timed runs (the runtime's rule); samples in ms, warm-up count."""
    previous, warmup, started = None, 0, time.perf_counter()
    for _ in range(int(rule["max_windows"])):
        window = []
        for _ in range(int(rule["window"])):
            began = time.perf_counter()
            run()
            window.append((time.perf_counter() - began) * 1e3)
        warmup += len(window)
        median = statistics.median(window)
        if previous is not None and abs(median - previous) <= float(rule["tolerance"]) * previous:
            break
        previous = median
        if time.perf_counter() - started > float(rule["warmup_seconds"]):
            break
    samples, started = [], time.perf_counter()
    while len(samples) < int(rule["max_runs"]) and (len(samples) < int(rule["min_runs"]) or time.perf_counter() - started < float(rule["seconds"])):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1e3)
    return samples, warmup


def peak_rss_mib() -> float:
    """This process's own peak resident memory, MiB: VmHWM, which starts afresh at exec.
    (`ru_maxrss` does not: Linux carries the parent's peak at the fork through the exec, so a
    peer started by a 3 GiB benchmark process would report at least 3 GiB.)"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
