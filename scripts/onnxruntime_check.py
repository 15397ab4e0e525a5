"""Checks that an exported model loads and runs in ONNX Runtime and agrees with the reference
goldens. A dev/CI check (ONNX Runtime is never part of the runtime).

Usage: python3 scripts/onnxruntime_check.py MODEL_R256.onnx GOLDEN.safetensors [MODEL_R512.onnx]
           [--compact MODEL_R256_F16_OR_INT8.onnx ...]

A --compact model (exported with `--weights f16` or `int8`) must run with standard ONNX operators
too, and its labels agree with the goldens on at least 99 % of pixels.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file


def session(path, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = level
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    args = sys.argv[1:]
    compact = [args[i + 1] for i, a in enumerate(args) if a == "--compact"]
    args = [a for i, a in enumerate(args) if a != "--compact" and (i == 0 or args[i - 1] != "--compact")]
    model_256, golden_path = args[0], args[1]
    golden = load_file(golden_path)
    sess = session(model_256)
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["segface.resolution"] == "256", meta
    assert meta["segface.classes"].split(",")[14] == "hair", meta
    (logits,) = sess.run(["logits"], {"image": golden["input"]})
    diff = float(np.abs(logits - golden["logits"]).max())
    labels = logits[0].argmax(axis=0).astype(np.uint8)
    agreement = float((labels == golden["labels"]).mean())
    report = {"onnxruntime": ort.__version__, "r256_logits_max_abs_diff": diff, "r256_label_agreement": agreement}
    assert diff <= 1e-4, report
    assert agreement >= 0.9999, report
    for path in compact:
        # Basic optimisation widens the weights and computes in float32, as our runtime does.
        # Full optimisation turns int8 weights into integer kernels (other numerics): reported only.
        for level, name in [(ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, "float32"),
                            (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "ort_fused")]:
            sess = session(path, level)
            storage = sess.get_modelmeta().custom_metadata_map["segface.weight_storage"]
            (logits,) = sess.run(["logits"], {"image": golden["input"]})
            agreement = float((logits[0].argmax(axis=0).astype(np.uint8) == golden["labels"]).mean())
            report[f"r256_{storage}_{name}_label_agreement"] = agreement
        assert report[f"r256_{storage}_float32_label_agreement"] >= 0.99, report
    if len(args) > 2:
        sess = session(args[2])
        image = np.zeros((1, 3, 512, 512), dtype=np.float32)
        (out,) = sess.run(["logits"], {"image": image})
        assert out.shape == (1, 19, 512, 512) and np.isfinite(out).all()
        report["r512_runs"] = True
    print(json.dumps(report))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
