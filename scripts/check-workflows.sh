#!/usr/bin/env bash
# Validates the GitHub workflows offline, with tools from PyPI pinned here and installed into
# .tools/workflow-lint: check-jsonschema against GitHub's workflow schema (vendored in the
# package) and zizmor's offline audits (pinned actions, permissions, credentials, injection).
# Then checks that the CPU jobs call the README's two commands, so the recipe cannot drift from
# the scripts. Exit 0 when all hold.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools=.tools/workflow-lint
pins=(check-jsonschema==0.39.0 zizmor==1.33.1)
if [ ! -x "$tools/bin/zizmor" ] || [ ! -x "$tools/bin/check-jsonschema" ] || [ "$(cat "$tools/.pins" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "==> installing ${pins[*]} into $tools" >&2
  rm -rf "$tools"
  .venv/bin/python -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$tools/.pins"
fi
workflows=(.github/workflows/*.yml)
"$tools/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$tools/bin/zizmor" --offline --no-progress "${workflows[@]}"
matrix=.github/workflows/hardware-matrix.yml
for command in "bash scripts/test.sh" "bash scripts/main.sh"; do
  if ! grep -q -- "run: $command" "$matrix"; then
    echo "error: $matrix has no step \`run: $command\` (the README's command); its CPU jobs must call the scripts the README documents" >&2
    exit 1
  fi
done
echo "workflows ok: ${workflows[*]} (schema, zizmor offline, README commands)" >&2
