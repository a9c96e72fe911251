"""Runs a backbone the way hsemotion-onnx 0.3.1 does (hsemotion_onnx/facial_emotions.py,
HSEmotionRecognizer.predict_emotions): Python onnxruntime on the CPU execution provider with its
default session options, one face at a time, preprocessed with OpenCV:
cv2.resize(img, (S, S)) (bilinear), / 255, (x - mean) / std per channel, HWC -> CHW, float32,
batch of one, session.run(None, {"input": x}).

The faces are the same crops (PNG, or JPEG kept as the dataset shipped it) the embed activity reads from its frames shard; each is decoded
with cv2.imdecode and converted BGR -> RGB first (as a caller of predict_emotions would), and that
decoding is timed too, as the activity's is. Prints one JSON line: images, seconds, per_s.

    python bench/models/hsemotion_style.py MODEL CROPS_DIR SIZE MEAN0 MEAN1 MEAN2 STD0 STD1 STD2
"""

import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def main() -> None:
    model, crops_dir, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mean = [float(v) for v in sys.argv[4:7]]
    std = [float(v) for v in sys.argv[7:10]]
    names = sorted(n for n in os.listdir(crops_dir) if n.endswith((".png", ".jpg")))
    encoded = []
    for name in names:
        with open(os.path.join(crops_dir, name), "rb") as f:
            encoded.append(np.frombuffer(f.read(), dtype=np.uint8))
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    def preprocess(img: np.ndarray) -> np.ndarray:
        x = cv2.resize(img, (size, size)) / 255
        for c in range(3):
            x[..., c] = (x[..., c] - mean[c]) / std[c]
        return x.transpose(2, 0, 1).astype("float32")[np.newaxis, ...]

    def predict(data: np.ndarray) -> None:
        img = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        session.run(None, {"input": preprocess(img)})

    for data in encoded[:3]:
        predict(data)
    start = time.perf_counter()
    for data in encoded:
        predict(data)
    seconds = time.perf_counter() - start
    print(json.dumps({"images": len(encoded), "seconds": seconds, "per_s": len(encoded) / seconds}))


if __name__ == "__main__":
    main()
