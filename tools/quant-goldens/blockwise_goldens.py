"""Byte-exact goldens for edgeforge's block-wise weight-only quantizer (quantize-weight-only pass).

Runs ONNX Runtime's own weight-only tool (onnxruntime.quantization.matmul_nbits_quantizer, ORT 1.30)
on small deterministic weights and writes what it produced to
packages/forge/src/passes/quantize/testdata/blockwise-goldens.json:

  * MatMulNBits tensors (MLAS `quantize_matmul_4bits` / `_8bits`): B [N, k_blocks, blob], scales
    [N, k_blocks], packed zero points;
  * the QDQ form (MLAS `quantize_qdq_matmul_4bits`): int4/uint4 [K, N] row-major, scales/zp [k_blocks, N];
  * GatherBlockQuantized data (numpy `quantize_ndarray`, quantize axis 1);
  * two whole models quantized by MatMulNBitsQuantizer: node attributes, initializer names/types/dims/bytes.

Weights come from a 32-bit xorshift generator that the TypeScript test re-implements, so only the
outputs are stored. CI never runs this script. It needs onnxruntime 1.30, onnx, numpy and onnx_ir
(which matmul_nbits_quantizer imports):

    /work/venv-ort/bin/python tools/quant-goldens/blockwise_goldens.py
"""

import base64
import hashlib
import json
import pathlib

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper
from onnxruntime.quantization.matmul_nbits_quantizer import (
    DefaultWeightOnlyQuantConfig,
    DefaultWeightOnlyQuantizer,
    MatMulNBitsQuantizer,
)
from onnxruntime.quantization.quant_utils import QuantFormat

OUT = pathlib.Path(__file__).resolve().parents[2] / "packages/forge/src/passes/quantize/testdata/blockwise-goldens.json"


def weights(seed: int, rows: int, cols: int) -> np.ndarray:
    """xorshift32; each value (2·(u >> 8) − 2^24) / 2^24 is exact in float32, in [−1, 1)."""
    x = seed & 0xFFFFFFFF
    out = np.empty(rows * cols, dtype=np.float32)
    for i in range(rows * cols):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = np.float32((2 * (x >> 8) - (1 << 24)) / (1 << 24))
    w = out.reshape(rows, cols)
    # Column c spans a different range, and column 1 is all positive, so zero points vary.
    w = w * np.float32(0.25) * (1 + np.arange(cols, dtype=np.float32) % 3)
    if cols > 1:
        w[:, 1] = np.abs(w[:, 1])
    return w.astype(np.float32)


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


# (name, K, N, block_size, seed)
SHAPES = [
    ("k64n8b32", 64, 8, 32, 1),
    ("k80n5b32", 80, 5, 32, 2),  # ragged last block, odd k_blocks, odd N
    ("k96n3b16", 96, 3, 16, 3),
    ("k45n4b16", 45, 4, 16, 4),  # odd K: a pad nibble inside the last blob
]


def nbits_case(w: np.ndarray, bits: int, bs: int, sym: bool, fmt) -> dict:
    cfg = DefaultWeightOnlyQuantConfig(block_size=bs, is_symmetric=sym, bits=bits, quant_format=fmt)
    packed, scales, zp = DefaultWeightOnlyQuantizer(cfg).qbits_block_quant(w)
    out = {"B": b64(packed), "B_dims": list(packed.shape), "scales": b64(scales), "scales_dims": list(scales.shape)}
    if not sym:
        out["zero_points"] = b64(zp)
        out["zero_points_dims"] = list(zp.shape)
    return out


def gather_case(w: np.ndarray, bs: int, sym: bool) -> dict:
    """Gather: the embedding table [rows = N, dim = K], quantized along the embedding dim (axis 1)."""
    table = np.ascontiguousarray(w.T)
    data, scales, zp = DefaultWeightOnlyQuantizer.quantize_ndarray(table, 1, bs, sym)
    g = {"data": b64(data), "scales": b64(scales), "scales_dims": list(scales.shape)}
    if not sym:
        g["zero_points"] = b64(zp)
    return g


def whole_model(k: int, n: int, bits: int, bs: int, sym: bool, seed: int) -> dict:
    """A one-MatMul model through MatMulNBitsQuantizer: what the emitted graph looks like."""
    w = weights(seed, k, n)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])],
        [onnx.numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    q = MatMulNBitsQuantizer(model, bits=bits, block_size=bs, is_symmetric=sym, accuracy_level=4)
    q.process()
    m = q.model.model
    node = m.graph.node[0]
    return {
        "K": k,
        "N": n,
        "bits": bits,
        "block_size": bs,
        "symmetric": sym,
        "seed": seed,
        "opset_import": {o.domain: o.version for o in m.opset_import},
        "node": {
            "op_type": node.op_type,
            "domain": node.domain,
            "name": node.name,
            "inputs": list(node.input),
            "outputs": list(node.output),
            "attributes": {a.name: helper.get_attribute_value(a) for a in node.attribute},
        },
        "initializers": [
            {
                "name": t.name,
                "data_type": t.data_type,
                "dims": list(t.dims),
                "raw": b64(onnx.numpy_helper.to_array(t)),
            }
            for t in m.graph.initializer
        ],
    }


def main() -> None:
    cases = []
    for name, k, n, bs, seed in SHAPES:
        w = weights(seed, k, n)
        # The test regenerates the weights; the digest proves its generator matches this one.
        digest = hashlib.sha256(w.tobytes()).hexdigest()
        case = {"name": name, "K": k, "N": n, "block_size": bs, "seed": seed, "weight_sha256": digest}
        for sym in (False, True):
            tag = "sym" if sym else "asym"
            case[f"nbits4_{tag}"] = nbits_case(w, 4, bs, sym, QuantFormat.QOperator)
            case[f"nbits8_{tag}"] = nbits_case(w, 8, bs, sym, QuantFormat.QOperator)
            case[f"qdq4_{tag}"] = nbits_case(w, 4, bs, sym, QuantFormat.QDQ)
            case[f"gather4_{tag}"] = gather_case(w, bs, sym)
        cases.append(case)

    # Hand-made ties: blocks whose scale is a power of two, so v·(1/scale) (+ zp) lands on x.5 and
    # roundf (ties away from zero) and ties-to-even disagree. Column 0/1 suit 4 bits (scale 0.5),
    # column 2 suits 8 bits (scale 1/16); each has an asymmetric and a symmetric block.
    ties = np.zeros((32, 3), dtype=np.float32)
    ties[:8, 0] = [7.5, 0.25, 0.75, 1.25, 1.75, 2.25, 3.25, 5.25]  # asym: min 0, scale 0.5, zp 0
    ties[16:24, 0] = [-4, 3.5, -0.25, 0.25, -1.75, 1.75, -2.25, 0.75]  # asym zp 8; sym m = −4 → scale 0.5
    ties[:8, 1] = [-4, 0.25, -0.25, 0.75, -0.75, 1.25, -1.25, 2.75]  # sym scale 0.5
    ties[16:24, 1] = -ties[:8, 0]  # asym: max 0, zp 15
    ties[:8, 2] = np.float32([255, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]) / 16  # 8-bit asym: scale 1/16
    ties[16:24, 2] = np.float32([-128, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5]) / 16  # 8-bit sym: scale 1/16
    tcase = {"name": "ties", "K": 32, "N": 3, "block_size": 16, "weight": b64(ties)}
    for sym in (False, True):
        tag = "sym" if sym else "asym"
        tcase[f"nbits4_{tag}"] = nbits_case(ties, 4, 16, sym, QuantFormat.QOperator)
        tcase[f"nbits8_{tag}"] = nbits_case(ties, 8, 16, sym, QuantFormat.QOperator)
        tcase[f"qdq4_{tag}"] = nbits_case(ties, 4, 16, sym, QuantFormat.QDQ)
        tcase[f"gather4_{tag}"] = gather_case(ties, 16, sym)
    cases.append(tcase)

    models = [whole_model(80, 5, 4, 32, False, 2), whole_model(64, 8, 8, 16, True, 1)]
    doc = {
        "generator": "tools/quant-goldens/blockwise_goldens.py",
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "cases": cases,
        "models": models,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
