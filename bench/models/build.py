"""Real-architecture benchmark graphs with random weights (optional, heavy; see docs/MODELS.md).

Builds the architectures behind the published HSEmotion files, exported the way those files are:
ONNX opset 11 (TorchScript exporter), input "input" float32 [batch, 3, S, S], output "output" = the
final Linear's logits, dynamic batch. The weights are random (seeded), so the graphs serve
benchmarks and the embedding surgery, never predictions.

And the audio backbone of the ABAW-6 notebooks: wav2vec2-base-960h's architecture (transformers
`Wav2Vec2Model(Wav2Vec2Config())`: 7-layer conv feature encoder, 12 transformer layers, 768-d),
random weights, same exporter and opset; input "input_values" float32 [batch, samples] (16 kHz
mono), output "last_hidden_state" float32 [batch, frames, 768], one frame per 320 samples; batch
and samples dynamic.

    python bench/models/build.py OUT_DIR [--only NAME ...]

Writes OUT_DIR/<name>.onnx and OUT_DIR/<name>.json: a backbone descriptor with a file:// source
and the sha256, usable with `affectflow backbones add` and `affectflow models pull`. The audio
graph's description goes to OUT_DIR/audio/<name>.json instead (not an image backbone descriptor,
and the image benchmarks take every OUT_DIR/*.json for one): its source, shapes, frame stride and
a reference output of torch on a fixed input, which bench/models/verify.ts checks ONNX Runtime
against.
"""

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import onnx
import timm
import torch
from torch import nn

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
AFFECTNET = ["Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"]
AFFECTNET_VA = AFFECTNET + ["Valence", "Arousal"]


class Bottleneck(nn.Module):
    """MobileFaceNet inverted residual: 1x1 expand, PReLU, 3x3 depthwise, PReLU, 1x1 project."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileFaceNet(nn.Module):
    """MobileFaceNet (Chen et al. 2018) for 112 px faces; 512-d GDC embedding, then a Linear head."""

    def __init__(self, classes: int) -> None:
        super().__init__()

        def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout),
                nn.PReLU(cout),
            ]

        layers: list[nn.Module] = [*conv_bn(3, 64, 3, 2), *conv_bn(64, 64, 3, 1, groups=64)]
        cin = 64
        for cout, repeats, stride in [(64, 5, 2), (128, 1, 2), (128, 6, 1), (128, 1, 2), (128, 2, 1)]:
            for i in range(repeats):
                layers.append(Bottleneck(cin, cout, stride if i == 0 else 1, 2))
                cin = cout
        layers += conv_bn(cin, 512, 1, 1)
        # Global depthwise conv over the 7x7 map, then BatchNorm: the 512-d embedding.
        layers += [nn.Conv2d(512, 512, 7, 1, 0, groups=512, bias=False), nn.BatchNorm2d(512), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# name: (constructor, input size, normalisation, embedding dim, score labels)
MODELS = {
    "bench_enet_b0": (lambda n: timm.create_model("tf_efficientnet_b0", num_classes=n), 224, IMAGENET, 1280, AFFECTNET_VA),
    "bench_enet_b2": (lambda n: timm.create_model("tf_efficientnet_b2", num_classes=n), 260, IMAGENET, 1408, AFFECTNET),
    "bench_mobilevit": (lambda n: timm.create_model("mobilevitv2_150", num_classes=n), 224, IMAGENET, 768, AFFECTNET_VA),
    "bench_mbf": (lambda n: MobileFaceNet(n), 112, HALF, 512, AFFECTNET_VA),
}


def calibrate(model: nn.Module, size: int) -> None:
    """BatchNorm running statistics from random batches, so that the random network's activations
    (and its embedding and logits) keep a unit scale instead of vanishing; a random classifier bias."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, size, size))
        head = model.get_classifier() if hasattr(model, "get_classifier") else model.classifier
        nn.init.uniform_(head.bias, -0.5, 0.5)
    model.eval()


def build(name: str, out: Path, seed: int) -> dict:
    make, size, (mean, std), embedding_dim, labels = MODELS[name]
    torch.manual_seed(seed)
    model = make(len(labels))
    calibrate(model, size)
    path = out / f"{name}.onnx"
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            model,
            torch.randn(1, 3, size, size),
            str(tmp),
            opset_version=11,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}},
            do_constant_folding=True,
        )
    graph = onnx.load(str(tmp))
    onnx.checker.check_model(graph)
    final = graph.graph.node[-1]
    if final.op_type != "Gemm" or list(final.output) != ["output"]:
        raise SystemExit(f"{name}: expected the last node to be the classifier Gemm -> output, got {final.op_type}")
    tmp.replace(path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    descriptor = {
        "name": name,
        "version": f"random-seed{seed}",
        "source": {"kind": "url", "url": path.resolve().as_uri(), "sha256": sha256},
        "inputSize": size,
        "mean": mean,
        "std": std,
        "channelOrder": "RGB",
        "layout": "NCHW",
        "inputName": "input",
        "embeddingOutput": "embedding",
        "scoresOutput": "output",
        "embeddingDim": embedding_dim,
        "scoresDim": len(labels),
        "scoreLabels": labels,
    }
    (out / f"{name}.json").write_text(json.dumps(descriptor, indent=2) + "\n")
    return descriptor


# name: transformers config class name (its defaults are the architecture)
AUDIO_MODELS = {"bench_wav2vec2_base": "Wav2Vec2Config"}
SAMPLE_RATE = 16000
# The fixed input of the reference check: batch 2 of an odd length (not a multiple of the stride).
CHECK_SAMPLES = 12345
CHECK_FRAMES_AT = (0, 19, 37)


def check_input() -> torch.Tensor:
    """Row r: 0.5 sin(2 pi 220 (r+1) i / 16000), i = 0 .. CHECK_SAMPLES-1, float32 (verify.ts makes the same)."""
    i = torch.arange(CHECK_SAMPLES, dtype=torch.float64)
    rows = [0.5 * torch.sin(2 * math.pi * 220 * (r + 1) * i / SAMPLE_RATE) for r in range(2)]
    return torch.stack(rows).to(torch.float32)


class HiddenStates(nn.Module):
    """Wav2Vec2Model's last_hidden_state alone, so that the graph has the one output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.model(input_values).last_hidden_state


def build_audio(name: str, out: Path, seed: int) -> dict:
    import transformers

    torch.manual_seed(seed)
    # Eager attention: the SDPA path has no opset-11 export.
    config = getattr(transformers, AUDIO_MODELS[name])(attn_implementation="eager")
    model = HiddenStates(transformers.Wav2Vec2Model(config)).eval()
    path = out / f"{name}.onnx"
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            model,
            torch.zeros(1, SAMPLE_RATE),
            str(tmp),
            opset_version=11,
            input_names=["input_values"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_values": {0: "batch_size", 1: "samples"},
                "last_hidden_state": {0: "batch_size", 1: "frames"},
            },
            do_constant_folding=True,
        )
        reference = model(check_input())
    graph = onnx.load(str(tmp))
    onnx.checker.check_model(graph)
    if not torch.isfinite(reference).all() or reference.std() < 1e-3:
        raise SystemExit(f"{name}: the random network's hidden states are degenerate (std {reference.std():.3g})")
    tmp.replace(path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    strides = list(config.conv_stride)
    descriptor = {
        "name": name,
        "version": f"random-seed{seed}",
        "modality": "audio",
        "architecture": "wav2vec2-base-960h (transformers Wav2Vec2Config defaults), random weights",
        "source": {"kind": "url", "url": path.resolve().as_uri(), "sha256": sha256},
        "sampleRate": SAMPLE_RATE,
        "inputName": "input_values",
        "outputName": "last_hidden_state",
        "hiddenDim": config.hidden_size,
        "convKernels": list(config.conv_kernel),
        "convStrides": strides,
        "frameStrideSamples": math.prod(strides),
        "check": {
            "input": "float32 [2, samples]: row r is 0.5 sin(2 pi 220 (r+1) i / 16000)",
            "samples": CHECK_SAMPLES,
            "frames": reference.shape[1],
            "rows": [
                {"batch": b, "frame": t, "first": [round(float(v), 6) for v in reference[b, t, :8]]}
                for b in range(2)
                for t in CHECK_FRAMES_AT
            ],
            "meanAbs": float(reference.abs().mean()),
        },
    }
    (out / "audio").mkdir(exist_ok=True)
    (out / "audio" / f"{name}.json").write_text(json.dumps(descriptor, indent=2) + "\n")
    return descriptor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    names = sorted(MODELS) + sorted(AUDIO_MODELS)
    parser.add_argument("--only", nargs="*", choices=names, default=names)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in args.only:
        if name in AUDIO_MODELS:
            d = build_audio(name, args.out, args.seed)
            shape = f"{d['sampleRate']} Hz in, hidden {d['hiddenDim']} per {d['frameStrideSamples']} samples"
        else:
            d = build(name, args.out, args.seed)
            shape = f"{d['inputSize']}px embedding {d['embeddingDim']}"
        print(f"{name}: {args.out / (name + '.onnx')} {shape} sha256 {d['source']['sha256']}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
