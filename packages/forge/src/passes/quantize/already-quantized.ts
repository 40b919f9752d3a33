import { allGraphs, type Model, type Node } from '@edgeforge/onnx';

/**
 * Operators that only a quantized model holds (ONNX and com.microsoft). Quantizing such a model
 * again would quantize dequantized values a second time: every quantize pass refuses it, so the
 * user starts again from the float original.
 */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'MatMulInteger',
  'ConvInteger',
  'QGemm',
  'QAttention',
  'QEmbedLayerNormalization',
  'DynamicQuantizeMatMul',
  'DynamicQuantizeLSTM',
  'MatMulIntegerToFloat',
  'MatMulNBits',
  'MatMulBnb4',
  'GatherBlockQuantized',
]);

export const isQuantizedOp = (n: Node): boolean =>
  QUANTIZED_OPS.has(n.opType) || n.opType.startsWith('QLinear') || n.opType.startsWith('QOrdered');

/** Quantized operators of the model, in all graphs, by qualified type → count. */
export function quantizedOps(model: Model): Map<string, number> {
  const found = new Map<string, number>();
  for (const g of allGraphs(model))
    for (const n of g) if (isQuantizedOp(n)) found.set(n.qualifiedType, (found.get(n.qualifiedType) ?? 0) + 1);
  return found;
}

/** Throws one line naming what is already quantized. */
export function refuseQuantized(model: Model, pass: string): void {
  const found = quantizedOps(model);
  if (found.size)
    throw new Error(
      `${pass}: the model is already quantized (${[...found].map(([op, k]) => `${k} ${op}`).join(', ')}); ` +
        'quantize the float original instead',
    );
}
