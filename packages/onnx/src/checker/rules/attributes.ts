/**
 * `attributes`: attribute types of a few common ai.onnx operators, and the graph attributes that
 * control flow needs. ORT refuses "Mismatched attribute type in 'n : perm'. Expected: 'INTS',
 * actual: 'FLOATS'", "Required attribute 'else_branch' is missing", and an attribute without a
 * type ("Field 'type' of 'attr' is required but missing"). Unknown operators are not checked; this
 * is no replacement for the operator schemas (shape inference does that).
 */
import { AttrType } from '../../ir/attr.js';
import type { Rule } from '../types.js';

const { FLOAT, INT, STRING, GRAPH, INTS } = AttrType;

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(AttrType).map(([k, v]) => [v, k]));

const POOL = {
  auto_pad: STRING,
  kernel_shape: INTS,
  pads: INTS,
  strides: INTS,
  dilations: INTS,
  ceil_mode: INT,
  storage_order: INT,
  count_include_pad: INT,
};
const CONV = { auto_pad: STRING, kernel_shape: INTS, pads: INTS, strides: INTS, dilations: INTS, group: INT };
const QDQ = { axis: INT, block_size: INT, saturate: INT, output_dtype: INT, precision: INT };

/** Expected attribute types by ai.onnx op type (attributes not listed are not checked). */
const TYPES: Record<string, Record<string, number>> = {
  Conv: CONV,
  ConvTranspose: { ...CONV, output_padding: INTS, output_shape: INTS },
  Gemm: { alpha: FLOAT, beta: FLOAT, transA: INT, transB: INT, broadcast: INT },
  Transpose: { perm: INTS },
  MaxPool: POOL,
  AveragePool: POOL,
  Concat: { axis: INT },
  Softmax: { axis: INT },
  LogSoftmax: { axis: INT },
  Flatten: { axis: INT },
  Gather: { axis: INT },
  Cast: { to: INT, saturate: INT, round_mode: STRING },
  BatchNormalization: { epsilon: FLOAT, momentum: FLOAT, spatial: INT, training_mode: INT },
  LeakyRelu: { alpha: FLOAT },
  Reshape: { allowzero: INT },
  Split: { axis: INT, split: INTS, num_outputs: INT },
  Squeeze: { axes: INTS },
  Unsqueeze: { axes: INTS },
  Clip: { min: FLOAT, max: FLOAT },
  QuantizeLinear: QDQ,
  DequantizeLinear: QDQ,
  If: { then_branch: GRAPH, else_branch: GRAPH },
  Loop: { body: GRAPH },
  Scan: {
    body: GRAPH,
    num_scan_inputs: INT,
    scan_input_axes: INTS,
    scan_output_axes: INTS,
    scan_input_directions: INTS,
    scan_output_directions: INTS,
  },
  Resize: {
    mode: STRING,
    coordinate_transformation_mode: STRING,
    nearest_mode: STRING,
    cubic_coeff_a: FLOAT,
    exclude_outside: INT,
    extrapolation_value: FLOAT,
    antialias: INT,
    axes: INTS,
    keep_aspect_ratio_policy: STRING,
  },
};

/** Attributes without which ORT refuses the node. */
const REQUIRED: Record<string, string[]> = {
  If: ['then_branch', 'else_branch'],
  Loop: ['body'],
  Scan: ['body', 'num_scan_inputs'],
  Cast: ['to'],
};

export const attributes: Rule = {
  name: 'attributes',
  description:
    'attributes have a type; common ai.onnx ops (Conv, Gemm, Transpose, Q/DQ, If, Loop, Scan …) have their attributes with the right types',
  check(ctx, report) {
    for (const info of ctx.graphs) {
      for (const n of info.nodes) {
        const at = { graph: info, node: n };
        for (const a of n.attributes.values()) {
          if (a.type === AttrType.UNDEFINED && !a.refAttrName)
            report.error(
              at,
              `attribute '${a.name}' has no type and no value (ORT: "Field 'type' of 'attr' is required but missing")`,
            );
        }
        if ((n.domain !== '' && n.domain !== 'ai.onnx') || ctx.isFunctionCall(n)) continue;
        const types = TYPES[n.opType];
        if (types) {
          for (const a of n.attributes.values()) {
            const want = types[a.name];
            if (want === undefined || a.type === want || a.type === AttrType.UNDEFINED) continue;
            report.error(
              at,
              `attribute '${a.name}' is ${TYPE_NAMES[a.type] ?? a.type}, but ${n.opType} expects ${TYPE_NAMES[want]} (ORT: "Mismatched attribute type")`,
            );
          }
        }
        for (const name of REQUIRED[n.opType] ?? []) {
          if (!n.attributes.has(name)) report.error(at, `required attribute '${name}' is missing`);
        }
      }
    }
  },
};
