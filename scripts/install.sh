#!/usr/bin/env bash
# Installs gazekit with its test oracles on a fresh machine (Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -e ".[test,docs]"
# The PP-OCRv4 text detector of the saliency model ships inside this wheel (models/ch_PP-OCRv4_det_infer.onnx);
# --no-deps: gazekit runs the .onnx file with onnxruntime itself, and the wheel's own requirements would pull in
# opencv-python (not headless) next to opencv-python-headless.
pip install -q --no-deps rapidocr-onnxruntime==1.4.4
# The MTCNN face detector of the saliency model ('mtcnn' features) ships its trained weights inside this wheel
# (facenet_pytorch/data/{p,r,o}net.pt, MIT); --no-deps: its requirements pin torch<2.3 and Pillow<10.3, while the
# detector itself runs on any torch gazekit supports.
pip install -q --no-deps facenet-pytorch==2.6.0
# Test-only oracles with awkward packaging: pysaliency needs setuptools<81 (pkg_resources) to build;
# gazeparser (GPL, ScanMatch oracle) is installed without its wxPython dependency and only imported by tests.
pip install -q "setuptools<81" Cython
pip install -q --no-build-isolation pysaliency==0.2.22 || echo "warning: pysaliency not installed; its parity tests will skip"
pip install -q --no-deps gazeparser==0.12.3 || echo "warning: gazeparser not installed; ScanMatch parity tests will skip"
pip install -q pymovements==0.28.0 || echo "warning: pymovements not installed; its parity tests will skip"
# numba (a declared dependency of gazekit) compiles the fused CPU foveation kernels on first use; do it here, once
# (numba caches the machine code next to gazekit/ops/_cpu.py, or in $NUMBA_CACHE_DIR).
python -c "import gazekit.ops as o; o.build_cpu_kernels()" || echo "warning: fused CPU foveation kernels not built; foveate() falls back to plain torch"
python -c "from gazekit.metrics.functional._roc import build_kernel; build_kernel()" || echo "warning: ROC counting kernel not built; AUC metrics sort the maps instead"
