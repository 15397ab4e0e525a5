"""Checks that an exported model loads and runs in ONNX Runtime and agrees with the reference
goldens. A dev/CI check (ONNX Runtime is never part of the runtime).

Usage: python3 scripts/onnxruntime_check.py MODEL_R256.onnx GOLDEN.safetensors [MODEL_R512.onnx]
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main():
    model_256, golden_path = sys.argv[1], sys.argv[2]
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
    if len(sys.argv) > 3:
        sess = session(sys.argv[3])
        image = np.zeros((1, 3, 512, 512), dtype=np.float32)
        (out,) = sess.run(["logits"], {"image": image})
        assert out.shape == (1, 19, 512, 512) and np.isfinite(out).all()
        report["r512_runs"] = True
    print(json.dumps(report))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
