"""segface (tract, through the C ABI) against ONNX Runtime (one intra-op thread) on the same
weights, in one process with alternating repetitions, plus load time and peak memory measured in
separate processes (one engine each, so neither counts the other's memory).

Usage:
  python3 scripts/bench_vs_onnxruntime.py --lib target/release/libsegface.so \\
      --model r512.onnx [--ort-model reference_export_r512.onnx] [--reps 10]

`--model` is what segface runs (made by `segface convert`). ONNX Runtime runs `--ort-model`, by
default the same file; a segface runtime model (segface's own operators) needs `--ort-model` with
the `--portable` export of the same checkpoint, or the reference's own PyTorch export of
the same checkpoint to compare against what the reference ships. The input is the model's
resolution square, so no resize is timed on either side; segface's time includes its own
preprocessing and argmax, ONNX Runtime's the normalisation and argmax done with numpy.
Prints medians of thread CPU and wall milliseconds, their ratio (ONNX Runtime / segface, above 1
means segface is faster), load-to-first-result time, peak RSS (and the resident memory of the
Python process before the engine loads, part of that peak) and the label agreement.
"""
import argparse
import ctypes
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


class SegfaceImage(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("format", ctypes.c_int32),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("data", ctypes.c_void_p),
        ("data_len", ctypes.c_size_t),
        ("row_stride", ctypes.c_size_t),
    ]


class Segface:
    """The C ABI through ctypes: one model, one session."""

    def __init__(self, lib_path, model_path):
        self.lib = ctypes.CDLL(lib_path)
        self.lib.segface_last_error.restype = ctypes.c_char_p
        p, size = ctypes.c_void_p, ctypes.c_size_t
        self.lib.segface_model_load_file.argtypes = [ctypes.c_char_p, p]
        self.lib.segface_session_create.argtypes = [p, p]
        self.lib.segface_model_resolution.argtypes = [p]
        self.lib.segface_parse.argtypes = [p, p, p, size, size]
        self.lib.segface_session_free.argtypes = [p]
        self.lib.segface_model_free.argtypes = [p]
        self.model = ctypes.c_void_p()
        self.session = ctypes.c_void_p()
        self.check(self.lib.segface_model_load_file(model_path.encode(), ctypes.byref(self.model)))
        self.check(self.lib.segface_session_create(self.model, ctypes.byref(self.session)))
        self.resolution = self.lib.segface_model_resolution(self.model)

    def __del__(self):
        self.lib.segface_session_free(ctypes.byref(self.session))
        self.lib.segface_model_free(ctypes.byref(self.model))

    def check(self, status):
        if status != 0:
            raise RuntimeError(f"segface status {status}: {self.lib.segface_last_error()}")

    def parse(self, rgb):
        h, w, _ = rgb.shape
        labels = np.zeros((h, w), dtype=np.uint8)
        image = SegfaceImage(ctypes.sizeof(SegfaceImage), 0, w, h, rgb.ctypes.data, rgb.nbytes, w * 3)
        self.check(self.lib.segface_parse(self.session, ctypes.byref(image), labels.ctypes.data, labels.nbytes, w))
        return labels


class OnnxRuntime:
    def __init__(self, model_path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.resolution = int(self.session.get_inputs()[0].shape[2])

    def parse(self, rgb):
        x = ((rgb.transpose(2, 0, 1).astype(np.float32) / 255.0 - MEAN) / STD)[None]
        (logits,) = self.session.run(None, {self.input: x})
        return logits[0].argmax(axis=0).astype(np.uint8)


def test_image(resolution):
    """The reference photo at the model's resolution (a smooth synthetic frame without it)."""
    try:
        from PIL import Image

        img = Image.open("tests/fixtures/images/astronaut.png").convert("RGB")
        return np.ascontiguousarray(np.asarray(img.resize((resolution, resolution), Image.BICUBIC)))
    except (ImportError, FileNotFoundError):
        y, x = np.mgrid[0:resolution, 0:resolution]
        return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)


def timed(fn, *args):
    cpu, wall = time.thread_time(), time.perf_counter()
    out = fn(*args)
    return out, (time.thread_time() - cpu) * 1e3, (time.perf_counter() - wall) * 1e3


def engine(name, args):
    return Segface(args.lib, args.model) if name == "segface" else OnnxRuntime(args.ort_model or args.model)


def worker(args):
    """One engine alone: load to first result, then `reps` runs; report time, peak RSS and the
    resident memory before the engine loads (the interpreter, numpy and PIL)."""
    test_image(16)  # loads PIL, as the run below does, before the baseline is read
    before_mb = rss_mb("VmRSS")
    started = time.perf_counter()
    e = engine(args.worker, args)
    resolution = e.resolution
    rgb = test_image(resolution)
    e.parse(rgb)
    load_ms = (time.perf_counter() - started) * 1e3
    for _ in range(args.reps):
        e.parse(rgb)
    print(json.dumps({"load_ms": load_ms, "peak_rss_mb": rss_mb("VmHWM"), "before_mb": before_mb}))


def rss_mb(field):
    """`VmHWM` (peak) or `VmRSS` (now) from /proc; VmHWM belongs to this process image, where
    ru_maxrss would carry the parent's peak across exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if field == "VmHWM" else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--ort-model")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--worker", choices=["segface", "onnxruntime"])
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    ours = Segface(args.lib, args.model)
    theirs = OnnxRuntime(args.ort_model or args.model)
    rgb = test_image(ours.resolution)
    a, b = ours.parse(rgb), theirs.parse(rgb)  # warm-up
    times = {"segface": ([], []), "onnxruntime": ([], [])}
    for _ in range(args.reps):
        for name, e in (("segface", ours), ("onnxruntime", theirs)):
            labels, cpu, wall = timed(e.parse, rgb)
            times[name][0].append(cpu)
            times[name][1].append(wall)
    agreement = float((a == b).mean())
    del ours, theirs

    alone = {}
    for name in ("segface", "onnxruntime"):
        cmd = [sys.executable, __file__, "--lib", args.lib, "--model", args.model, "--reps", "3", "--worker", name]
        if args.ort_model:
            cmd += ["--ort-model", args.ort_model]
        alone[name] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    r = rgb.shape[0]
    print(f"R = {r}, one thread, {args.reps} alternating repetitions")
    print(f"{'':14}{'CPU ms':>10}{'wall ms':>10}{'load ms':>10}{'peak RSS MB':>13}{'before load MB':>16}")
    for name in ("segface", "onnxruntime"):
        cpu, wall = (statistics.median(v) for v in times[name])
        a = alone[name]
        print(f"{name:14}{cpu:10.1f}{wall:10.1f}{a['load_ms']:10.0f}{a['peak_rss_mb']:13.0f}{a['before_mb']:16.0f}")
    ratio_cpu = statistics.median(times["onnxruntime"][0]) / statistics.median(times["segface"][0])
    ratio_wall = statistics.median(times["onnxruntime"][1]) / statistics.median(times["segface"][1])
    print(f"onnxruntime / segface: {ratio_cpu:.2f}x CPU, {ratio_wall:.2f}x wall (above 1: segface faster)")
    print(f"label agreement: {100 * agreement:.3f} %")


if __name__ == "__main__":
    main()
