#!/usr/bin/env bash
# Builds the real-architecture benchmark graphs (EfficientNet-B0/B2, MobileViT, MobileFaceNet;
# random weights, exported like HSEmotion's files) with torch CPU and timm from PyPI.
# Optional and heavy (torch wheels, a few GB): a cache venv and the graphs live outside git,
# and neither the test suite nor CI runs this. See docs/MODELS.md.
#   bash bench/models/build.sh [--only bench_enet_b0 ...]
# Environment: AFFECTFLOW_MODELS_VENV (default ~/.cache/affectflow/models-venv),
#              AFFECTFLOW_BENCH_MODELS (default ~/.cache/affectflow/bench-models).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/affectflow"
venv="${AFFECTFLOW_MODELS_VENV:-$cache/models-venv}"
out="${AFFECTFLOW_BENCH_MODELS:-$cache/bench-models}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "models venv: installing $here/requirements.txt into $venv (torch: a few GB, once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
exec "$venv/bin/python" "$here/build.py" "$out" "$@"
