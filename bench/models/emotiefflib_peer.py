"""Times EmotiEffLib 1.1.1 (PyPI emotiefflib, the HSEmotion author's current library) on the crop
files the embed activity reads, the way its users call it: EmotiEffLibRecognizer(engine="onnx",
model_name=NAME) loads ~/.emotiefflib/NAME.onnx (the caller points HOME at a bench-private folder
holding the graph under that name, so nothing is downloaded), drops the final Gemm and keeps its
weights; extract_features(list of RGB arrays) resizes with cv2, normalises and runs the headless
graph; classify_emotions(features) applies the Gemm. Each crop is decoded with cv2.imdecode and
converted BGR -> RGB (decoding is timed, as the activity's is), in batches of BATCH crops.

The name decides EmotiEffLib's preprocessing (112 px and 0.5/0.5 for mbf_*, 260 px for *_b2_*,
else 224 px ImageNet) and whether the last two scores are valence/arousal (*_mtl); the script
refuses a name whose preprocessing disagrees with the descriptor's. Prints one JSON line:
images, seconds, per_s (best of REPEATS passes over every crop, after a warm-up batch).

    python bench/models/emotiefflib_peer.py NAME CROPS_DIR BATCH REPEATS SIZE MEAN0 MEAN1 MEAN2 STD0 STD1 STD2
"""

import json
import os
import sys
import time

import cv2
import numpy as np
from emotiefflib.facial_analysis import EmotiEffLibRecognizer


def main() -> None:
    name, crops_dir = sys.argv[1], sys.argv[2]
    batch, repeats, size = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    mean = [float(v) for v in sys.argv[6:9]]
    std = [float(v) for v in sys.argv[9:12]]
    recognizer = EmotiEffLibRecognizer(engine="onnx", model_name=name)
    if (
        recognizer.img_size != size
        or not np.allclose(recognizer.mean, mean)
        or not np.allclose(recognizer.std, std)
    ):
        sys.exit(
            f"emotiefflib_peer.py: EmotiEffLib preprocesses {name} at {recognizer.img_size} px, "
            f"mean {recognizer.mean}, std {recognizer.std}; the descriptor says {size} px, "
            f"mean {mean}, std {std}: pick a name of the same family"
        )
    names = sorted(n for n in os.listdir(crops_dir) if n.endswith((".png", ".jpg")))
    encoded = []
    for file in names:
        with open(os.path.join(crops_dir, file), "rb") as f:
            encoded.append(np.frombuffer(f.read(), dtype=np.uint8))

    def run(part: list) -> None:
        faces = [cv2.cvtColor(cv2.imdecode(d, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for d in part]
        recognizer.classify_emotions(recognizer.extract_features(faces))

    run(encoded[:batch])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(encoded), batch):
            run(encoded[i : i + batch])
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"images": len(encoded), "seconds": best, "per_s": len(encoded) / best}))


if __name__ == "__main__":
    main()
