"""The plain Python way of turning a video into face embeddings, for bench/e2e.bench.ts: OpenCV
reads the frames (cv2.VideoCapture), OpenCV's FaceDetectorYN runs the same YuNet file on each
frame scaled down the same way affectflow's default does (longer side SIDE, cv2.INTER_AREA; boxes
mapped back), every face box is cropped from the RGB frame, and EmotiEffLib 1.1.1 embeds the
crops in batches of BATCH (extract_features, then classify_emotions). HOME must hold
~/.emotiefflib/NAME.onnx (bench/models/emotiefflib_peer.py says why). Everything in one process
on the cores it is given, as such a script runs. Prints one JSON line: frames, faces, seconds,
the process's CPU seconds over the same span (every thread), and seconds and CPU seconds per
stage (decode, detect, embed).

    python bench/models/e2e_python.py VIDEO YUNET NAME BATCH SIDE SCORE NMS
"""

import json
import sys
import time

import cv2
from emotiefflib.facial_analysis import EmotiEffLibRecognizer


def main() -> None:
    video, yunet, name = sys.argv[1], sys.argv[2], sys.argv[3]
    batch, side = int(sys.argv[4]), int(sys.argv[5])
    score, nms = float(sys.argv[6]), float(sys.argv[7])
    recognizer = EmotiEffLibRecognizer(engine="onnx", model_name=name)
    detector = None
    stages = {"decode": 0.0, "detect": 0.0, "embed": 0.0}
    stage_cpu = {"decode": 0.0, "detect": 0.0, "embed": 0.0}

    def clocks() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def add(stage: str, since: tuple[float, float]) -> None:
        t, c = clocks()
        stages[stage] += t - since[0]
        stage_cpu[stage] += c - since[1]

    pending = []
    frames = faces = 0

    def embed() -> None:
        t = clocks()
        recognizer.classify_emotions(recognizer.extract_features(pending))
        add("embed", t)
        pending.clear()

    start = time.perf_counter()
    cpu = time.process_time()
    capture = cv2.VideoCapture(video)
    while True:
        t = clocks()
        ok, frame = capture.read()
        add("decode", t)
        if not ok:
            break
        frames += 1
        t = clocks()
        h, w = frame.shape[:2]
        scale = min(1.0, side / max(w, h))
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(yunet, "", (small.shape[1], small.shape[0]), score, nms)
        _, found = detector.detect(small)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for box in [] if found is None else found:
            x, y, bw, bh = (box[:4] / scale).tolist()
            x0, y0 = max(0, int(x)), max(0, int(y))
            x1, y1 = min(w, int(x + bw + 0.999)), min(h, int(y + bh + 0.999))
            if x1 > x0 and y1 > y0:
                pending.append(rgb[y0:y1, x0:x1])
                faces += 1
        add("detect", t)
        if len(pending) >= batch:
            embed()
    if pending:
        embed()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    print(
        json.dumps(
            {
                "frames": frames,
                "faces": faces,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "stages": stages,
                "stage_cpu": stage_cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
