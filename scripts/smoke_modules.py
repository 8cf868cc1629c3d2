"""Reads `cargo nextest list --message-format json` on stdin and prints, one per line, the
module prefix (`cpu::bert::tests::`) of every generated test the list selects: the libtest
filters that run the same cells in one process (scripts/test.sh)."""
import json
import sys

listing = json.load(sys.stdin)
modules = set()
for suite in listing.get("rust-suites", {}).values():
    if suite.get("package-name") != "generated":
        continue
    for name, case in suite.get("testcases", {}).items():
        if case.get("filter-match", {}).get("status") == "matches":
            hardware, model = name.split("::")[:2]
            modules.add(f"{hardware}::{model}::tests::")
print("\n".join(sorted(modules)))
