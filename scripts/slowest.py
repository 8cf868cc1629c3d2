"""Prints the N slowest test cases of a cargo-nextest JUnit report (default 5).

    python3 scripts/slowest.py target/nextest/smoke/junit.xml [N]
"""
import sys
import xml.etree.ElementTree as ET

path = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
try:
    cases = ET.parse(path).getroot().iter("testcase")
except (OSError, ET.ParseError) as error:
    sys.exit(f"error: cannot read the JUnit report {path}: {error}")
timed = sorted(((float(c.get("time", "0")), f"{c.get('classname', '')} {c.get('name', '')}") for c in cases), reverse=True)
print(f"==> the {min(count, len(timed))} slowest of {len(timed)} tests ({path})", file=sys.stderr)
for seconds, name in timed[:count]:
    print(f"  {seconds:8.1f} s  {name}", file=sys.stderr)
