#!/usr/bin/env bash
# Puts ONNX Runtime's CUDA execution provider under onnxruntime-node on a GPU machine, from PyPI
# only, then runs the given command with the CUDA libraries on the library path:
#   bash infra/cuda-worker.sh npm run affectflow -- worker embed     # an embed worker on the GPU
#   bash infra/cuda-worker.sh node --import tsx bench/gpu.ts         # the GPU benchmark
# onnxruntime-node ships the CPU build; its own installer would fetch the CUDA provider from
# nuget.org at `npm install`, which bootstrap skips. The onnxruntime-gpu wheel of the same
# version carries the same provider libraries (libonnxruntime_providers_shared.so and
# libonnxruntime_providers_cuda.so), and its [cuda,cudnn] extras bring the CUDA runtime, cuBLAS,
# cuFFT, cuRAND and cuDNN as NVIDIA's PyPI wheels. The machine needs only the NVIDIA driver
# (libcuda.so.1; onnxruntime-gpu 1.30 is built for CUDA 13, so a driver that supports CUDA 13).
# Idempotent: a second run only checks its stamp. See docs/MODELS.md, "GPU workers".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -d node_modules/onnxruntime-node ]] || bash infra/bootstrap.sh
version="$(node -p "require('onnxruntime-node/package.json').version")"
venv="${AFFECTFLOW_CUDA_VENV:-.affectflow/cuda-venv}"
bin="node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
stamp="$venv/.onnxruntime-gpu-$version"
if [[ ! -f "$stamp" || ! -f "$bin/libonnxruntime_providers_cuda.so" ]]; then
  echo "cuda-worker: installing onnxruntime-gpu[cuda,cudnn]==$version into $venv (a few GB, once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "onnxruntime-gpu[cuda,cudnn]==$version"
  capi="$("$venv/bin/python" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')"
  cp "$capi/libonnxruntime_providers_shared.so" "$capi/libonnxruntime_providers_cuda.so" "$bin/"
  touch "$stamp"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
libs="$(find "$site/nvidia" -type d -name lib 2>/dev/null | sort | paste -sd:)"
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export AFFECTFLOW_EXECUTION_PROVIDER="${AFFECTFLOW_EXECUTION_PROVIDER:-cuda}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 \
  || echo "cuda-worker: nvidia-smi not found; without an NVIDIA driver the CUDA provider falls back to the CPU" >&2
if [[ $# -gt 0 ]]; then exec "$@"; fi
