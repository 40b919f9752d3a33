/**
 * Rules the conformance suite (opsets ≤ 17) does not reach, checked against onnxruntime: small
 * graphs at newer opsets and contrib ops, run on random inputs, every output's actual shape
 * compared with the inferred one (which must be complete here).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataType } from '../ir/dtype.js';
import { MemoryTensor } from '../ir/tensor.js';
import type { Value } from '../ir/value.js';
import { ort } from '../testing/ort.js';
import { inferShapes } from './infer.js';
import { F, GraphBuilder, floatTensor, floats, ints, typeStr } from './testing/graphs.js';
import { crossCheckWithOrt } from './testing/ort-check.js';
import { saveModel } from '../serde/io.js';
import { shapeOf } from '../ir/types.js';

interface Spot {
  name: string;
  opset: number;
  opsets?: Record<string, number>;
  build: (b: GraphBuilder) => void;
}

const SPOTS: Spot[] = [
  {
    name: 'Pad with axes, ReduceMean/ReduceMax with axes input, Split num_outputs (18)',
    opset: 18,
    build: (b) => {
      const x = b.input('x', F, [2, 3, 5, 7]);
      b.op('Pad', [x, ints(b, [1, 2, 0, 3]), null, ints(b, [-1, 1])]);
      b.op('ReduceMean', [x, ints(b, [1, -1])]);
      b.op('ReduceMax', [x, ints(b, [0])], { keepdims: 0 });
      b.node('Split', [x], { axis: 3, num_outputs: 3 }, { outputs: 3 });
    },
  },
  {
    name: 'Resize with axes and keep_aspect_ratio_policy (18)',
    opset: 18,
    build: (b) => {
      const x = b.input('x', F, [1, 2, 10, 20]);
      b.op('Resize', [x, null, null, ints(b, [5, 5])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' });
      b.op('Resize', [x, null, null, ints(b, [5, 5])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_smaller' });
      b.op('Resize', [x, null, floats(b, [0.6, 1.3])], { axes: [3, 2] });
    },
  },
  {
    name: 'CenterCropPad, Col2Im, AffineGrid, GroupNormalization (18–21)',
    opset: 21,
    build: (b) => {
      const x = b.input('x', F, [3, 8, 6]);
      b.op('CenterCropPad', [x, ints(b, [5, 9])], { axes: [1, 2] });
      b.op('Col2Im', [b.input('c', F, [1, 12, 20]), ints(b, [5, 6]), ints(b, [2, 2])]);
      b.op('AffineGrid', [b.input('theta', F, [2, 2, 3]), ints(b, [2, 3, 4, 5])]);
      b.op('GroupNormalization', [b.input('g', F, [2, 4, 3, 3]), floats(b, [1, 1, 1, 1]), floats(b, [0, 0, 0, 0])], {
        num_groups: 2,
      });
    },
  },
  {
    name: 'DFT with axis input (20), DequantizeLinear with a float16 scale (19), Shape start/end (15)',
    opset: 20,
    build: (b) => {
      const x = b.input('x', F, [2, 16, 1]);
      b.op('DFT', [x, null, ints(b, [1], [])], { onesided: 1 });
      b.op('DequantizeLinear', [
        b.input('q', DataType.INT8, [4, 2]),
        b.constant(new MemoryTensor(DataType.FLOAT16, [], new Uint16Array([0x3c00]))),
      ]);
      b.op('Shape', [x], { start: 1, end: -1 });
    },
  },
  {
    name: 'com.microsoft: MatMulNBits, FusedMatMul, FusedConv, QuickGelu, SkipLayerNormalization',
    opset: 17,
    opsets: { 'com.microsoft': 1 },
    build: (b) => {
      const MS = { domain: 'com.microsoft' };
      const a = b.input('a', F, [2, 3, 32]);
      const packed = b.initializer('w', new MemoryTensor(DataType.UINT8, [8, 1, 16], new Uint8Array(128)));
      const scales = b.initializer('s', floatTensor([8], new Array(8).fill(0.1)));
      b.op('MatMulNBits', [a, packed, scales], { K: 32, N: 8, bits: 4, block_size: 32 }, MS);
      b.op('FusedMatMul', [a, b.input('m', F, [2, 5, 32])], { transB: 1, alpha: { float: 1 } }, MS);
      b.op(
        'FusedConv',
        [b.input('x', F, [1, 3, 9, 9]), b.initializer('cw', floatTensor([4, 3, 3, 3]))],
        { strides: [2, 2], activation: 'Relu' },
        MS,
      );
      b.op('QuickGelu', [a], {}, MS);
      b.op(
        'SkipLayerNormalization',
        [a, b.input('k', F, [2, 3, 32]), b.initializer('gamma', floatTensor([32], new Array(32).fill(1)))],
        {},
        MS,
      );
    },
  },
];

function feedsFor(inputs: readonly Value[]): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const v of inputs) {
    const dims = shapeOf(v.type) as number[];
    const n = dims.reduce((a, b) => a * b, 1);
    const t = typeStr(v.type);
    out[v.name] = t.startsWith('int8')
      ? new ort.Tensor(
          'int8',
          Int8Array.from({ length: n }, (_, i) => i % 7),
          dims,
        )
      : new ort.Tensor(
          'float32',
          Float32Array.from({ length: n }, () => Math.random() - 0.5),
          dims,
        );
  }
  return out;
}

describe('shape inference vs onnxruntime beyond the conformance suite', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'edgeforge-si-spot-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const s of SPOTS) {
    it(s.name, async () => {
      const b = new GraphBuilder('spot');
      s.build(b);
      for (const n of b.graph) if (n.opType !== 'Constant') b.graph.outputs.push(...n.outputs);
      const model = b.model({ opset: s.opset, opsets: s.opsets });
      const path = join(tmp, 'spot.onnx');
      saveModel(model, path);
      const report = inferShapes(model);
      assert.deepEqual(report.failed, []);
      const r = await crossCheckWithOrt(path, model, feedsFor(model.graph.inputs), tmp);
      assert.deepEqual(r.mismatches, []);
      assert.ok(r.compared > 0);
      assert.equal(r.match, r.compared, 'every output inferred completely');
    });
  }
});
