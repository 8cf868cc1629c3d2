"""Prints the N slowest test cases (default 5) of a cargo-nextest JUnit report, or the N slowest
cells of a run from its spool records (the `cell_seconds` each cell records: cells run in one
process have no JUnit time); with `--limit SECONDS`, fails (exit 1) when a generated cell took
longer, naming each such cell and the slow mark that keeps it out of the smoke tier on its
hardware (metadata/tiers.yaml).

    python3 scripts/slowest.py target/nextest/smoke/junit.xml [N] [--limit 60]
    python3 scripts/slowest.py --run RUN_ID [N] [--limit 60]   (records in $HFZOO_RESULTS_DIR/spool, else results/spool)
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def option(args: list, name: str):
    """Removes `name VALUE` from args and returns VALUE (None when absent)."""
    if name not in args:
        return None
    at = args.index(name)
    if at + 1 >= len(args):
        sys.exit(f"error: {name} takes a value")
    value = args[at + 1]
    del args[at : at + 2]
    return value


def junit_cases(path: str) -> list:
    """(seconds, is a generated cell, name) of every test case of a JUnit report."""
    try:
        cases = list(ET.parse(path).getroot().iter("testcase"))
    except (OSError, ET.ParseError) as error:
        sys.exit(f"error: cannot read the JUnit report {path}: {error}")
    return [(float(c.get("time", "0")), c.get("classname", "") == "generated", c.get("name", "")) for c in cases]


def spool_cells(run_id: str) -> list:
    """(seconds, True, `<hardware>::<model>::tests::matches_reference`) of every cell of the run
    whose record has its wall time."""
    spool = os.path.join(os.environ.get("HFZOO_RESULTS_DIR") or "results", "spool")
    cells = []
    try:
        names = sorted(os.listdir(spool))
    except OSError as error:
        sys.exit(f"error: cannot read the spool {spool}: {error}")
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(spool, name)) as file:
                record = json.load(file)
        except (OSError, ValueError) as error:
            sys.exit(f"error: cannot read the record {name}: {error}")
        if record.get("run", {}).get("run_id") != run_id:
            continue
        seconds = [m["value"] for m in record.get("measurements", []) if m.get("metric") == "cell_seconds"]
        if seconds:
            # The module's name (generator/src/metadata/schema.rs, module_name): `kosmos-2.5` -> `kosmos_2_5`.
            module = "".join(c if c.isascii() and c.isalnum() else "_" for c in record["model"]["model_type"].lower())
            cell = f"{record['hardware']['hardware']}::{module}::tests::matches_reference"
            cells.append((float(seconds[0]), True, cell))
    return cells


args = sys.argv[1:]
limit_text = option(args, "--limit")
run_id = option(args, "--run")
try:
    limit = None if limit_text is None else float(limit_text)
except ValueError:
    sys.exit("error: --limit takes a number of seconds (--limit 60)")
if run_id is None and not args:
    sys.exit(__doc__)
source = f"the records of run {run_id}" if run_id else args[0]
timed = sorted(spool_cells(run_id) if run_id else junit_cases(args.pop(0)), reverse=True)
count = int(args[0]) if args else 5
print(f"==> the {min(count, len(timed))} slowest of {len(timed)} tests ({source})", file=sys.stderr)
for seconds, _, name in timed[:count]:
    print(f"  {seconds:8.1f} s  {name}", file=sys.stderr)
if limit is not None:
    over = [(s, n) for s, generated, n in timed if generated and s > limit]
    if over:
        print(f"error: {len(over)} smoke cell test(s) took longer than the smoke tier's {limit:g} s:", file=sys.stderr)
        for seconds, name in over:
            hardware, module = name.split("::")[:2]
            print(f"  {seconds:8.1f} s  {name}", file=sys.stderr)
            print(f"           keep it out on {hardware} only: metadata/tiers.yaml, under `slow:`,", file=sys.stderr)
            print(f"           `<model type>: {{{hardware}: {{seconds: {seconds:.0f}, why: ...}}}}` (module {module}), then", file=sys.stderr)
            print("           `cargo run -p generator -- --all`", file=sys.stderr)
        sys.exit(1)
