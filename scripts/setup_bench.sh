#!/usr/bin/env bash
# Installs what the quantization benchmarks (bench/quant/) need beyond scripts/setup.sh: Python
# with numpy, PyTorch and torchvision (the PyTorch FX peer, fixture generators), onnx, PIL, h5py
# and the DejaVu fonts (rendered OCR images). Benchmarks and generators only: npuconv itself and
# its tests never need Python.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(python3-numpy python3-torch python3-torchvision python3-onnx python3-pil python3-h5py fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
./scripts/install_ort.sh
