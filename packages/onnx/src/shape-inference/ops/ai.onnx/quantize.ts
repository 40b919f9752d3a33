/**
 * Quantization: QuantizeLinear (output type of the zero point, `output_dtype` from opset 21, else
 * uint8), DequantizeLinear (float, or the scale's type from opset 19), DynamicQuantizeLinear
 * (uint8 y plus scalar scale and zero point).
 */
import { DataType } from '../../../ir/dtype.js';
import { rules, type InferContext, type OpRule } from '../../context.js';

function quantize(ctx: InferContext): void {
  const outDtype = ctx.opset >= 21 ? ctx.int('output_dtype', 0) : 0;
  ctx.set(0, ctx.elemType(2) ?? (outDtype || DataType.UINT8), ctx.shape(0));
}

function dequantize(ctx: InferContext): void {
  const elem = ctx.opset >= 19 ? (ctx.elemType(1) ?? DataType.FLOAT) : DataType.FLOAT;
  ctx.set(0, elem, ctx.shape(0));
}

function dynamicQuantize(ctx: InferContext): void {
  ctx.set(0, DataType.UINT8, ctx.shape(0));
  ctx.set(1, DataType.FLOAT, []);
  ctx.set(2, DataType.UINT8, []);
}

export const quantizeRules: OpRule[] = [
  ...rules(['QuantizeLinear'], quantize),
  ...rules(['DequantizeLinear'], dequantize),
  ...rules(['DynamicQuantizeLinear'], dynamicQuantize),
];
