#!/bin/sh
# The image's entry (infra/deploy/Containerfile): the compiled CLI with the given arguments, through
# infra/cuda-worker.sh when the image was built with ONNXRUNTIME_PROVIDER=cuda (its Python
# environment with the CUDA provider libraries exists), which puts them on the library path.
set -eu
cd /app
if [ -x "${AFFECTFLOW_CUDA_VENV:-/nonexistent}/bin/python" ]; then
  exec bash infra/cuda-worker.sh node bin/affectflow.js "$@"
fi
exec node bin/affectflow.js "$@"
