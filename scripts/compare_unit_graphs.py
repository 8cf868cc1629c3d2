"""Names the registry crates one cargo invocation would build differently from the test
command's, so workspace-hack/Cargo.toml can turn on the features that keep one shared build
(nothing is built: cargo's unit graph, through the nightly switch stable cargo accepts).

    python3 scripts/compare_unit_graphs.py "build -p generator" ["test --no-run -p generated --features all" ...]

A unit is a crate with its features, mode, profile and, recursively, its dependencies' units;
each unit of an invocation that the test command's build lacks is one it would compile again.
Exits 1 when any invocation has such a unit.
"""
import json
import os
import subprocess
import sys

TEST_COMMAND = (
    "test --no-run -p export-request -p generator -p runtime -p skills -p hfzoo -p skill-example -p infer"
    " -p bench-core -p bench -p generated"
    " --features generated/cpu,generated/openvino,generated/qnn,generated/webgpu,generated/webnn"
)


def units(args):
    """(package id, target, mode) -> the set of that unit's full keys, registry crates only."""
    env = dict(os.environ, __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS="nightly")
    done = subprocess.run(["cargo", *args.split(), "--unit-graph", "-Z", "unstable-options"], capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"error: cargo {args} --unit-graph failed:\n{done.stderr[-2000:]}")
    graph = json.loads(done.stdout)["units"]
    memo = {}

    def key(index):
        if index not in memo:
            unit = graph[index]
            deps = tuple(sorted(key(d["index"]) for d in unit["dependencies"]))
            profile = unit["profile"]
            memo[index] = (unit["pkg_id"], unit["target"]["name"], tuple(unit["features"]), unit["mode"],
                           profile["opt_level"], str(profile.get("debuginfo")), unit.get("platform"), deps)
        return memo[index]

    found = {}
    for index, unit in enumerate(graph):
        if "registry+" in unit["pkg_id"]:
            full = key(index)
            found.setdefault(full[:2] + (full[3],), set()).add(full)
    return found


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    shared = units(TEST_COMMAND)
    failed = False
    for invocation in sys.argv[1:]:
        other = units(invocation)
        again = sorted((name, unit[2]) for name, keys in other.items() if name in shared for unit in keys - shared[name])
        print(f"cargo {invocation}: {len(again)} of {len(other)} registry unit(s) built again")
        for (package, target, mode), features in again[:20]:
            print(f"  {package.split('#')[-1]} ({target}, {mode}) features {', '.join(features) or '(none)'}")
        failed |= bool(again)
    sys.exit(1 if failed else 0)


main()
