"""Harvester: one JSON line per model type on stdout, progress on stderr.

    python generator/harvester/harvest.py [--only a,b] [--workers N] [--overrides FILE]

Run by `cargo run -p generator -- metadata harvest`, which merges the lines into
metadata/models/*.yaml. `--overrides` is a JSON map model_type -> test_config overrides that a
curator keeps in the YAML (`tiny_overrides`); they are applied after the generic rule.
Each model type is probed in a worker process (a crash or hang costs one model, not the run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(ROOT, "runtime", "exporter")]

PER_MODEL_SECONDS = 120


class ProbeTimeout(BaseException):
    """The per-model time limit; a BaseException so that the probe's own `except Exception`
    (which tries the next input plan or rule) cannot swallow it."""


def worker() -> int:
    """Reads `{model_type, overrides}` lines, writes one result line each."""
    import torch
    import transformers

    import probe
    import registry

    torch.set_num_threads(1)
    # Records go to the real stdout; anything model code prints goes to stderr instead.
    records = sys.stdout
    sys.stdout = sys.stderr

    def on_alarm(signum, frame):
        raise ProbeTimeout(f"probe exceeded {PER_MODEL_SECONDS} s")

    signal.signal(signal.SIGALRM, on_alarm)
    for line in sys.stdin:
        job = json.loads(line)
        desc = registry.describe(job["model_type"])
        record = dict(desc, transformers=transformers.__version__)
        if desc["model_class"]:
            signal.alarm(PER_MODEL_SECONDS)
            try:
                record.update(probe.probe(desc, job.get("overrides", {})))
            except ProbeTimeout as error:
                record.update(expected="unsupported", category="timeout", reason=str(error))
            finally:
                signal.alarm(0)
        print(json.dumps(record, sort_keys=True), file=records, flush=True)
    return 0


def crash_record(model_type: str, code: int) -> dict:
    """The record of a model type whose probe process died (killed, or a crash in native code)."""
    import transformers

    import registry

    record = dict(registry.describe(model_type), transformers=transformers.__version__)
    record.update(expected="unsupported", category="build", reason=f"probe process died (exit {code})", crashed=True)
    return record


def main(argv: list[str]) -> int:
    if "--worker" in argv:
        return worker()
    import transformers.models.auto.configuration_auto as ca

    only = next((argv[i + 1] for i, a in enumerate(argv) if a == "--only"), None)
    workers = int(next((argv[i + 1] for i, a in enumerate(argv) if a == "--workers"), os.cpu_count() or 1))
    overrides_path = next((argv[i + 1] for i, a in enumerate(argv) if a == "--overrides"), None)
    overrides = json.load(open(overrides_path)) if overrides_path else {}
    types = sorted(ca.CONFIG_MAPPING_NAMES)
    if only:
        wanted = only.split(",")
        unknown = [t for t in wanted if t not in types]
        if unknown:
            print(f"harvest: unknown model type(s) {unknown}", file=sys.stderr)
            return 2
        types = wanted
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore")
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for _ in range(max(1, min(workers, len(types))))
    ]
    queue = list(types)
    busy = {}
    done = 0
    started = time.perf_counter()

    def send(proc):
        if not queue:
            proc.stdin.close()
            return
        model_type = queue.pop(0)
        busy[proc.pid] = (model_type, time.perf_counter())
        proc.stdin.write(json.dumps({"model_type": model_type, "overrides": overrides.get(model_type, {})}) + "\n")
        proc.stdin.flush()

    import selectors

    selector = selectors.DefaultSelector()
    for proc in procs:
        selector.register(proc.stdout, selectors.EVENT_READ, proc)
        send(proc)
    live = len(procs)
    while live:
        for key, _ in selector.select():
            proc = key.data
            line = proc.stdout.readline()
            model_type, since = busy.pop(proc.pid, ("?", time.perf_counter()))
            if not line:
                selector.unregister(proc.stdout)
                live -= 1
                if model_type != "?":  # the worker died on this model: record it, restart a worker
                    print(json.dumps(crash_record(model_type, proc.wait())), flush=True)
                    done += 1
                    fresh = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
                    selector.register(fresh.stdout, selectors.EVENT_READ, fresh)
                    live += 1
                    send(fresh)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # stray output from native code: not a record
                busy[proc.pid] = (model_type, since)
                continue
            done += 1
            status = record.get("expected") or "component"
            if status == "unsupported":
                status += f" ({record['category']}: {record['reason'][:90]})"
            print(f"harvest: [{done}/{len(types)}] {record['model_type']}: {status} ({time.perf_counter() - since:.1f}s, {time.perf_counter() - started:.0f}s total)", file=sys.stderr, flush=True)
            print(line.strip(), flush=True)
            send(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
