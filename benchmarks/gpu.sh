#!/usr/bin/env bash
# The GPU check (docs/performance.md): on one CUDA GPU, in under 8 minutes, cyclip train vs
# open_clip_train (ViT-B-32, 224 px, bf16), cyclip's MFU, an fp16 + scaler run, a CyCLIP Gram
# bf16 run and feature extraction. Exits non-zero on any error.
#   benchmarks/gpu.sh [--work DIR] [gpu_check.py options]      PYTHON=.venv/bin/python to choose
#   benchmarks/gpu.sh --cpu-smoke                              the same path, tiny, on the CPU
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -c "import pandas" 2>/dev/null || {
    echo "gpu.sh: open_clip_train needs pandas: pip install '.[bench]'" >&2
    exit 2
}
exec "$python" "$here/gpu_check.py" --work "$work" "$@"
