#!/usr/bin/env bash
# One short training epoch on drawn faces at R = 512 on an NVIDIA GPU for each backbone
# (MobileNetV3, then Swin-B), printing images per second; first a 2-epoch run at R = 64 on the GPU and on the CPU, whose losses must agree (the
# CUDA kernels compute what the CPU backend computes).
#
# Build (here, with no CUDA toolkit; burn loads libcuda and NVRTC at run time):
#   CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda
# Run on the GPU machine, with the binary next to this script or in SEGFACE:
#   scripts/gpu_train_smoke.sh [path/to/segface]
set -euo pipefail
segface=${1:-${SEGFACE:-target/release/segface}}
out=$(mktemp -d)
nvidia-smi -L || true

for device in cpu cuda; do
    "$segface" train --dataset synthetic --samples 8 --resolution 64 --batch-size 4 --epochs 2 \
        --milestones 100 --device "$device" --output "$out/check-$device" >/dev/null
done
python3 - "$out" <<'PY'
import csv, sys
rows = {d: list(csv.DictReader(open(f"{sys.argv[1]}/check-{d}/history.csv"))) for d in ("cpu", "cuda")}
for a, b in zip(rows["cpu"], rows["cuda"]):
    la, lb = float(a["train_loss"]), float(b["train_loss"])
    print(f"epoch {a['epoch']}: loss cpu {la:.5f} cuda {lb:.5f}")
    assert abs(la - lb) <= 1e-3 * max(1.0, abs(la)), "CPU and CUDA training disagree"
PY

"$segface" train --dataset synthetic --samples 256 --resolution 512 --batch-size 16 --epochs 1 \
    --device cuda --output "$out/r512" | tee "$out/r512.log"
echo "R 512 training: $(cut -d, -f7 "$out/r512/history.csv" | tail -1) images/s (epoch incl. data preparation)"

"$segface" train --dataset synthetic --samples 64 --resolution 512 --batch-size 8 --epochs 1 \
    --backbone swin-b --device cuda --output "$out/swin-r512" | tee "$out/swin-r512.log"
echo "Swin-B R 512 training: $(cut -d, -f7 "$out/swin-r512/history.csv" | tail -1) images/s"
