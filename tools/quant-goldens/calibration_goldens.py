"""Goldens for edgeforge's calibration (packages/forge/src/passes/quantize/calibrate.ts).

Feeds deterministic data to ONNX Runtime's own histogram collector
(onnxruntime.quantization.calibrate.HistogramCollector, ORT 1.30) in one batch, and writes the
thresholds it computes (percentile, symmetric and not; entropy), plus a checksum of each histogram,
to packages/forge/src/passes/quantize/testdata/calibration-goldens.json.

The data comes from a 32-bit xorshift generator and float64 + − × only, which the TypeScript test
re-implements bit for bit, so only the results are stored. CI never runs this script:

    /work/venv-ort/bin/python tools/quant-goldens/calibration_goldens.py
"""

import json
import pathlib

import numpy as np
from onnxruntime.quantization import calibrate
from onnxruntime.quantization.calibrate import HistogramCollector

OUT = pathlib.Path(__file__).resolve().parents[2] / "packages/forge/src/passes/quantize/testdata/calibration-goldens.json"
N = 20000


def uniforms(seed: int, n: int) -> np.ndarray:
    """xorshift32 → (x >> 8) / 2^24 in [0, 1), exact in float64."""
    x = seed & 0xFFFFFFFF
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = (x >> 8) / 16777216.0
    return out


def dataset(kind: str, seed: int) -> np.ndarray:
    u = uniforms(seed, 6 * N).reshape(N, 6)
    bell = (u[:, 0] + u[:, 1] + u[:, 2] + u[:, 3] - 2.0) * 1.5  # Irwin–Hall, roughly normal
    if kind == "bell":
        x = bell
    elif kind == "relu-tail":
        # Post-ReLU with a heavy tail: most values small, a few large.
        x = np.maximum(bell, 0.0) * (1.0 + 20.0 * u[:, 4] ** 12)
    elif kind == "skewed-outliers":
        # Shifted bulk with rare far outliers on one side.
        x = bell * 0.5 + 1.0 + np.where(u[:, 5] < 0.002, 40.0 * u[:, 4], 0.0)
    else:
        raise ValueError(kind)
    return x.astype(np.float32)


def checksum(hist: np.ndarray) -> list[float]:
    i = np.arange(hist.size, dtype=np.float64)
    h = hist.astype(np.float64)
    return [float(h.sum()), float((h * i).sum()), float((h * i * i).sum())]


def f(x) -> float:
    return float(np.float32(x))


def recorded_entropy(log: list):
    """ORT's own `entropy`, recording each call's window size and KL value."""
    original = calibrate.entropy

    def wrapped(p, q, *args, **kwargs):
        value = original(p, q, *args, **kwargs)
        log.append((np.asarray(p).size, float(value)))
        return value

    return original, wrapped


def near_optimal(log: list, hist: np.ndarray, edges: np.ndarray, rel: float = 1e-5) -> list[float]:
    """Upper thresholds whose KL is within `rel` of the minimum: float32 rounding decides between them."""
    n = hist.size
    zero = n // 2
    best = min(v for _, v in log)
    out = []
    for size, v in log:
        i = (size - 1) // 2 if size % 2 else zero
        end = min(zero + i + 1, n)
        if v <= best * (1 + rel):
            out.append(f(edges[end]))
    return sorted(out)


def main() -> None:
    cases = []
    for kind, seed in [("bell", 7), ("relu-tail", 11), ("skewed-outliers", 13)]:
        data = dataset(kind, seed)
        case = {"kind": kind, "seed": seed, "n": N, "min": f(data.min()), "max": f(data.max()), "results": []}
        for method, symmetric, bins, extra in [
            ("percentile", True, 2048, {"percentile": 99.999}),
            ("percentile", True, 2048, {"percentile": 99.9}),
            ("percentile", False, 2048, {"percentile": 99.99}),
            ("entropy", False, 2048, {"num_quantized_bins": 128}),
            ("entropy", False, 512, {"num_quantized_bins": 128}),
        ]:
            c = HistogramCollector(
                method=method,
                symmetric=symmetric,
                num_bins=bins,
                num_quantized_bins=extra.get("num_quantized_bins", 128),
                percentile=extra.get("percentile", 99.999),
                scenario="same",
            )
            c.collect({"t": [data]})
            hist = c.histogram_dict["t"][0]
            edges = c.histogram_dict["t"][1]
            log: list = []
            original, calibrate.entropy = recorded_entropy(log)
            try:
                lo, hi = c.compute_collection_result()["t"][:2]
            finally:
                calibrate.entropy = original
            case["results"].append(
                {
                    "method": method,
                    "symmetric": symmetric,
                    "numBins": bins,
                    **({"percentile": extra["percentile"]} if "percentile" in extra else {}),
                    **({"numQuantizedBins": extra["num_quantized_bins"]} if method == "entropy" else {}),
                    "edges": [f(edges[0]), f(edges[-1])],
                    "checksum": checksum(hist),
                    "range": [f(lo), f(hi)],
                    **({"nearOptimalUpper": near_optimal(log, hist, edges)} if method == "entropy" else {}),
                }
            )
        cases.append(case)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "onnxruntime 1.30 HistogramCollector", "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
