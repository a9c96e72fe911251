"""Real-architecture benchmark graphs with random weights (optional, heavy; see docs/MODELS.md).

Builds the architectures behind the published HSEmotion files, exported the way those files are:
ONNX opset 11 (TorchScript exporter), input "input" float32 [batch, 3, S, S], output "output" = the
final Linear's logits, dynamic batch. The weights are random (seeded), so the graphs serve
benchmarks and the embedding surgery, never predictions.

    python bench/models/build.py OUT_DIR [--only NAME ...]

Writes OUT_DIR/<name>.onnx and OUT_DIR/<name>.json: a backbone descriptor with a file:// source
and the sha256, usable with `affectflow backbones add` and `affectflow models pull`.
"""

import argparse
import hashlib
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in args.only:
        d = build(name, args.out, args.seed)
        print(f"{name}: {args.out / (name + '.onnx')} {d['inputSize']}px embedding {d['embeddingDim']} sha256 {d['source']['sha256']}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
