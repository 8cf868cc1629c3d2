"""Prints the N slowest test cases of a cargo-nextest JUnit report (default 5); with
`--limit SECONDS`, fails (exit 1) when a generated cell's test took longer, naming each such
cell and the slow mark that keeps it out of the smoke tier on its hardware (metadata/tiers.yaml).

    python3 scripts/slowest.py target/nextest/smoke/junit.xml [N] [--limit 60]
"""
import sys
import xml.etree.ElementTree as ET

args = sys.argv[1:]
limit = None
if "--limit" in args:
    at = args.index("--limit")
    try:
        limit = float(args[at + 1])
    except (IndexError, ValueError):
        sys.exit("error: --limit takes a number of seconds (--limit 60)")
    del args[at : at + 2]
if not args:
    sys.exit(__doc__)
path = args[0]
count = int(args[1]) if len(args) > 1 else 5
try:
    cases = list(ET.parse(path).getroot().iter("testcase"))
except (OSError, ET.ParseError) as error:
    sys.exit(f"error: cannot read the JUnit report {path}: {error}")
timed = sorted(((float(c.get("time", "0")), c.get("classname", ""), c.get("name", "")) for c in cases), reverse=True)
print(f"==> the {min(count, len(timed))} slowest of {len(timed)} tests ({path})", file=sys.stderr)
for seconds, classname, name in timed[:count]:
    print(f"  {seconds:8.1f} s  {classname} {name}", file=sys.stderr)
if limit is not None:
    over = [(s, n) for s, c, n in timed if c == "generated" and s > limit]
    if over:
        print(f"error: {len(over)} smoke cell test(s) took longer than the smoke tier's {limit:g} s:", file=sys.stderr)
        for seconds, name in over:
            hardware, module = name.split("::")[:2]
            print(f"  {seconds:8.1f} s  {name}", file=sys.stderr)
            print(f"           keep it out on {hardware} only: metadata/tiers.yaml, under `slow:`,", file=sys.stderr)
            print(f"           `<model type>: {{{hardware}: {{seconds: {seconds:.0f}, why: ...}}}}` (module {module}), then", file=sys.stderr)
            print("           `cargo run -p generator -- --all`", file=sys.stderr)
        sys.exit(1)
