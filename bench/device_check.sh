#!/usr/bin/env bash
# CUDA against the CPU in onnxruntime for every spec in specs/ (or those given): max difference and
# rows/s at batch 1 and 256 (bench/device_check.py says more). Under 10 minutes on a GPU machine
# (python -m pip install -e ".[gpu]", keeping onnxruntime-gpu only: see pyproject.toml).
# Exit status: 0 all agree within 1e-4, 1 a mismatch, 2 no usable CUDA provider (CPU half only).
set -u
cd "$(dirname "$0")/.." || exit 2
exec timeout 600 python bench/device_check.py "$@"
