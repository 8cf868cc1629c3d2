#!/usr/bin/env bash
# Makes .venv-peers: the Python environment of `bench --generate`'s peers (OpenVINO GenAI's
# LLMPipeline, optimum-intel's OVModelForCausalLM, onnxruntime-genai), whose pins clash with the
# exporter's (optimum-intel 2.2.0 takes transformers 5.5.4, the exporter 5.24.0). Needs
# `bash scripts/setup.sh` first (for uv and Python 3.11). Idempotent: a second run with the same
# scripts/peers-constraints.txt does nothing. Not needed by the test command: without it
# `bench --generate` records these peers as `skipped`, naming this script.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.tools/pip/bin/uv
if [ ! -x "$uv" ] || [ ! -x .venv/bin/python ]; then
  echo "error: run \`bash scripts/setup.sh\` first (it installs uv and Python 3.11's .venv)" >&2
  exit 1
fi
if [ -x .venv-peers/bin/python ] && cmp -s scripts/peers-constraints.txt .venv-peers/.constraints-installed; then
  echo "peers ok: .venv-peers is up to date"
  exit 0
fi
python="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
[ -x .venv-peers/bin/python ] || "$uv" venv --quiet --python "$python" .venv-peers
echo "==> installing the generation peers into .venv-peers (scripts/peers-constraints.txt)"
"$uv" pip install --quiet --python .venv-peers/bin/python \
  -c scripts/peers-constraints.txt -r scripts/peers-requirements.txt
cp scripts/peers-constraints.txt .venv-peers/.constraints-installed
.venv-peers/bin/python - <<'PY'
import importlib.metadata as m
print("peers ok: " + ", ".join(f"{p} {m.version(p)}" for p in ("openvino-genai", "optimum-intel", "onnxruntime-genai", "transformers", "torch")))
PY
