#!/usr/bin/env python3
"""Writes tests/fixtures/lapa_warp_r64.safetensors: the LaPa face warp of spec section 9 computed
independently in NumPy (float32 like the reference, np.linalg.inv for the 3 x 3 inverse), for
tests/training/warp.rs to hold the Rust implementation to.

Spec 9 in short: a least-squares similarity M from the 5 landmarks to the template (given for a
512 frame, normalised p / 256 - 1, mapped to (p + 1) (R - 1) / 2); the input grid maps each
warped pixel (integer indices, no +0.5) through the inverse tanh warp (factor 0.8, arctanh clamped
to +-(1 - 1e-3)) and M^-1, normalised by the image size; the logits grid maps each image pixel
through M and the tanh warp; both are read by grid_sample (bilinear, align_corners=False, zeros).
"""
import sys

import numpy as np
from safetensors.numpy import save_file

R = 64
WARP = np.float32(0.8)
TEMPLATE = np.array([[196.0, 226.0], [316.0, 226.0], [256.0, 286.0], [220.0, 360.4], [292.0, 360.4]],
                    dtype=np.float32)


def similarity(src, dst):
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    a1 = (s ** 2).sum()
    c1 = (d * s).sum()
    c2 = (d[:, 0] * s[:, 1] - d[:, 1] * s[:, 0]).sum()
    a, b = c1 / a1, c2 / a1
    dx = md[0] - a * ms[0] - b * ms[1]
    dy = md[1] + b * ms[0] - a * ms[1]
    return np.array([[a, b, dx], [-b, a, dy], [0, 0, 1]], dtype=np.float32)


def pixels(r):
    ys, xs = np.meshgrid(np.arange(r, dtype=np.float32), np.arange(r, dtype=np.float32), indexing="ij")
    return np.stack([xs, ys], -1).reshape(-1, 2)


def homogeneous(points, m):
    h = np.concatenate([points, np.ones_like(points[:, :1])], 1) @ m.T
    return h[:, :2] / h[:, 2:3]


def tanh_part(t, inverse):
    k = WARP
    f = (lambda v: np.arctanh(np.clip(v, -1 + 1e-3, 1 - 1e-3))) if inverse else np.tanh
    hi = f((t - 1 + k) / k) * k + 1 - k
    lo = f((t + 1 - k) / k) * k - 1 + k
    return np.where(t > 1 - k, hi, np.where(t < -1 + k, lo, t)).astype(np.float32)


def grids(points, r):
    target = (TEMPLATE / 256.0 - 1.0 + 1.0) * np.float32(r - 1) / 2.0
    m = similarity(points, target.astype(np.float32))
    size = np.float32(r)
    warped = tanh_part(pixels(r) / size * 2 - 1, inverse=True)
    source = homogeneous((warped + 1) / 2 * size, np.linalg.inv(m).astype(np.float32))
    grid = source / size * 2 - 1
    aligned = homogeneous(pixels(r), m) / size * 2 - 1
    inverse_grid = (tanh_part(aligned, inverse=False) + 1) / 2 * size / size * 2 - 1
    return m, grid.reshape(r, r, 2), inverse_grid.reshape(r, r, 2)


def grid_sample(image, grid):
    c, h, w = image.shape
    x = ((grid[..., 0] + 1) * w - 1) / 2
    y = ((grid[..., 1] + 1) * h - 1) / 2
    x0, y0 = np.floor(x), np.floor(y)
    out = np.zeros((c,) + grid.shape[:2], np.float32)
    for dx, dy in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        cx, cy = x0 + dx, y0 + dy
        weight = (1 - np.abs(x - cx)) * (1 - np.abs(y - cy))
        inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
        values = image[:, np.clip(cy, 0, h - 1).astype(int), np.clip(cx, 0, w - 1).astype(int)]
        out += np.where(inside, weight, 0) * values
    return out


def main(path):
    points = np.array([[22.0, 26.5], [41.0, 24.0], [31.5, 35.0], [24.0, 45.0], [39.0, 44.5]], np.float32)
    m, grid, inverse_grid = grids(points, R)
    ys, xs = np.meshgrid(np.arange(R, dtype=np.float32), np.arange(R, dtype=np.float32), indexing="ij")
    image = np.stack([np.sin(xs / 5) + np.cos(ys / 3), (xs * 3 + ys) / R]).astype(np.float32)
    warped = grid_sample(image, grid)
    save_file({
        "points": points, "matrix": m, "grid": grid.astype(np.float32),
        "inverse_grid": inverse_grid.astype(np.float32), "image": image,
        "warped": warped, "unwarped": grid_sample(warped, inverse_grid),
    }, path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/lapa_warp_r64.safetensors")
