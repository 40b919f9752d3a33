/**
 * `qdq-opset`: QuantizeLinear / DequantizeLinear (ai.onnx) and low-bit types only where the
 * model's ai.onnx opset has them (quantization-contract §1, checked against ORT 1.30):
 *
 * | feature | opset |
 * | --- | --- |
 * | Q/DQ, int8/uint8 (DQ of int32) | 10 |
 * | `axis` (per-axis scale) | 13 |
 * | float16/bfloat16 scale or Q input, float8 types, `saturate` | 19 |
 * | int16/uint16, int4/uint4, `block_size`, `output_dtype` | 21 |
 * | float4e2m1, `precision` | 23 |
 * | float8e8m0 scale | 24 |
 * | int2/uint2 | 25 |
 *
 * ORT refuses these below their opset ("Unrecognized attribute: axis for operator
 * DequantizeLinear", "Type 'tensor(int4)' of input parameter (w) … is invalid"), and refuses
 * int4/float8/int2 values feeding any ai.onnx node below the opset that introduced the type. One
 * lax spot: before opset 13 ORT loads a DequantizeLinear whose scale has several elements (no
 * `axis`) and dequantizes per channel along axis 1, although the spec wants a scalar: a warning.
 * The com.microsoft Q/DQ ops (what ORT's quantizer emits for 4/16-bit before opset 21) are not
 * limited by the ai.onnx opset.
 */
import { DataType, dtypeName } from '../../ir/dtype.js';
import { constantTensor } from '../../ir/traversal.js';
import { elemTypeOf, shapeOf, staticSize } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';
import type { Rule } from '../types.js';

/** Opset that introduced each quantized element type for Q/DQ (x of DQ, zero point, output_dtype). */
const QUANT_TYPE_OPSET: Record<number, number> = {
  [DataType.INT8]: 10,
  [DataType.UINT8]: 10,
  [DataType.INT32]: 10,
  [DataType.FLOAT8E4M3FN]: 19,
  [DataType.FLOAT8E4M3FNUZ]: 19,
  [DataType.FLOAT8E5M2]: 19,
  [DataType.FLOAT8E5M2FNUZ]: 19,
  [DataType.INT16]: 21,
  [DataType.UINT16]: 21,
  [DataType.INT4]: 21,
  [DataType.UINT4]: 21,
  [DataType.FLOAT4E2M1]: 23,
  [DataType.INT2]: 25,
  [DataType.UINT2]: 25,
};

/** Opset that introduced each float type for the scale (and Q's input / DQ's output). */
const FLOAT_TYPE_OPSET: Record<number, number> = {
  [DataType.FLOAT]: 10,
  [DataType.FLOAT16]: 19,
  [DataType.BFLOAT16]: 19,
  [DataType.FLOAT8E8M0]: 24,
};

/** Element types that no ai.onnx operator accepts before the opset that introduced them. */
const NEW_TYPE_OPSET: Record<number, number> = {
  [DataType.FLOAT8E4M3FN]: 19,
  [DataType.FLOAT8E4M3FNUZ]: 19,
  [DataType.FLOAT8E5M2]: 19,
  [DataType.FLOAT8E5M2FNUZ]: 19,
  [DataType.INT4]: 21,
  [DataType.UINT4]: 21,
  [DataType.FLOAT4E2M1]: 23,
  [DataType.FLOAT8E8M0]: 24,
  [DataType.INT2]: 25,
  [DataType.UINT2]: 25,
};

/** Opset that introduced each Q/DQ attribute. */
const ATTR_OPSET: Record<string, number> = { axis: 13, saturate: 19, block_size: 21, output_dtype: 21, precision: 23 };

export const qdqOpset: Rule = {
  name: 'qdq-opset',
  description:
    'per-axis Q/DQ needs ai.onnx opset ≥ 13, blocked/int4/int16 Q/DQ ≥ 21, float8 ≥ 19; low-bit types only from the opset that introduced them',
  check(ctx, report) {
    for (const info of ctx.graphs) {
      const opset = ctx.onnxOpset(info);
      if (opset === undefined || opset < 1) continue; // ir-version reports these
      for (const n of info.nodes) {
        if ((n.domain !== '' && n.domain !== 'ai.onnx') || ctx.isFunctionCall(n)) continue;
        const at = { graph: info, node: n };
        const need = (min: number, what: string) => {
          if (opset < min) report.error(at, `${what} needs ai.onnx opset ≥ ${min}, the model has ${opset}`);
        };
        const isQ = n.opType === 'QuantizeLinear';
        const isDQ = n.opType === 'DequantizeLinear';
        if (!isQ && !isDQ) {
          n.inputs.forEach((v, i) => {
            const t = v ? elemType(v) : undefined;
            if (t !== undefined && NEW_TYPE_OPSET[t] !== undefined)
              need(NEW_TYPE_OPSET[t], `input ${i} (%${v!.name}) of type ${dtypeName(t)}`);
          });
          continue;
        }
        if (opset < 10) {
          need(10, n.opType);
          continue;
        }
        for (const [name, min] of Object.entries(ATTR_OPSET)) {
          if (n.attributes.has(name))
            need(min, `attribute '${name}'${name === 'axis' ? ' (per-axis quantization)' : ''}`);
        }
        const quantized = isDQ ? [0, 2] : [2];
        for (const i of quantized) {
          const v = n.inputs[i];
          const t = v ? elemType(v) : undefined;
          if (t === undefined) continue;
          const min = QUANT_TYPE_OPSET[t];
          if (min === undefined)
            report.error(at, `input ${i} (%${v!.name}) is ${dtypeName(t)}, which ${n.opType} does not quantize to`);
          else
            need(
              min,
              `${i === 0 ? 'quantized input' : 'zero point'} %${v!.name} of type ${dtypeName(t)}${min === 21 && opset < 21 ? ' (before 21, use the com.microsoft domain op)' : ''}`,
            );
        }
        const outType = isQ ? n.getInt('output_dtype') : undefined;
        if (outType !== undefined && outType !== 0 && QUANT_TYPE_OPSET[outType] !== undefined)
          need(QUANT_TYPE_OPSET[outType], `output_dtype ${dtypeName(outType)}`);
        const floats = isQ ? [0, 1] : [1];
        for (const i of floats) {
          const v = n.inputs[i];
          const t = v ? elemType(v) : undefined;
          const min = t === undefined ? undefined : FLOAT_TYPE_OPSET[t];
          if (t !== undefined && min !== undefined)
            need(min, `${i === 1 ? 'scale' : 'input'} %${v!.name} of type ${dtypeName(t)}`);
        }
        const scale = n.inputs[1];
        const count = scale ? elementCount(scale) : undefined;
        if (opset < 13 && count !== undefined && count > 1 && !n.attributes.has('axis')) {
          report.warning(
            at,
            `scale %${scale!.name} has ${count} elements, but before opset 13 ${n.opType} takes a scalar scale; ORT loads it anyway and dequantizes per channel along axis 1; use opset ≥ 13 with an explicit axis`,
          );
        }
      }
    }
  },
};

function elemType(v: Value): number | undefined {
  return elemTypeOf(v.type) ?? constantTensor(v)?.dtype;
}

function elementCount(v: Value): number | undefined {
  const t = constantTensor(v);
  if (t) return t.size;
  return staticSize(shapeOf(v.type));
}
