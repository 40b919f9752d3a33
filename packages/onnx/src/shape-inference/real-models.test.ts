/**
 * Shape inference on the real models (PaddleOCR v4 det/rec, PP-OCR cls, Silero VAD v5 and legacy)
 * with fixed input shapes: the final output shapes, how many node outputs get a fully static shape,
 * every main-graph node output checked against what onnxruntime produces, and the model saved with
 * its inferred types computing the same.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { modelPath, type ModelName } from '../../../../tools/models.ts';
import { AttrType } from '../ir/attr.js';
import type { Dim } from '../ir/types.js';
import { allGraphs } from '../ir/traversal.js';
import { loadModel, saveModel } from '../serde/io.js';
import { diffOutputs, ort } from '../testing/ort.js';
import { inferShapes } from './infer.js';
import { modelMacs } from './macs.js';
import { ty } from './testing/graphs.js';
import { crossCheckWithOrt } from './testing/ort-check.js';

async function run(
  path: string,
  feeds: Record<string, ort.Tensor>,
  opts: ort.InferenceSession.SessionOptions = {},
): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, logSeverityLevel: 4, ...opts });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  if (a.dims.join() !== b.dims.join()) return Infinity;
  const x = a.data as ArrayLike<number>;
  const y = b.data as ArrayLike<number>;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(Number(x[i]) - Number(y[i])));
  return m;
}

const random = (dims: number[]) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => Math.random()),
    dims,
  );
const sr16k = () => new ort.Tensor('int64', BigInt64Array.from([16000n]), []);

interface Case {
  name: ModelName;
  shapes: Record<string, Dim[]>;
  feeds: () => Record<string, ort.Tensor>;
  outputs: string[];
}

const CASES: Case[] = [
  {
    name: 'ocr-rec',
    shapes: { x: [1, 3, 48, 320] },
    feeds: () => ({ x: random([1, 3, 48, 320]) }),
    outputs: ['float[1,40,6625]'],
  },
  {
    name: 'ocr-cls',
    shapes: { x: [1, 3, 48, 192] },
    feeds: () => ({ x: random([1, 3, 48, 192]) }),
    outputs: ['float[1,2]'],
  },
  {
    name: 'ocr-det',
    shapes: { x: [1, 3, 640, 640] },
    feeds: () => ({ x: random([1, 3, 640, 640]) }),
    outputs: ['float[1,1,640,640]'],
  },
  {
    name: 'silero-legacy',
    shapes: { input: [1, 512], h: [2, 1, 64], c: [2, 1, 64] },
    feeds: () => ({ input: random([1, 512]), h: random([2, 1, 64]), c: random([2, 1, 64]), sr: sr16k() }),
    outputs: ['float[1,1]', 'float[2,1,64]', 'float[2,1,64]'],
  },
  {
    // The sample rate is an input: both If branches are inferred, and the 8 kHz branch cannot take
    // 512 samples, so the joined outputs stay partly unknown (checked inside the 16 kHz branch below).
    name: 'silero-v5',
    shapes: { input: [1, 512], state: [2, 1, 128] },
    feeds: () => ({ input: random([1, 512]), state: random([2, 1, 128]), sr: sr16k() }),
    outputs: ['float[?,1]', 'float[?,?,?]'],
  },
];

describe('shape inference on the real models', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'edgeforge-si-real-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const c of CASES) {
    const path = modelPath(c.name);
    const skip = existsSync(path) ? false : `${path} is missing (npm run models)`;
    it(`${c.name} with ${JSON.stringify(c.shapes)}`, { skip }, async (t) => {
      const model = loadModel(path);
      const report = inferShapes(model, { inputShapes: c.shapes });
      let outputs = 0;
      for (const g of allGraphs(model, { functions: false }))
        for (const n of g) outputs += n.outputs.filter((o) => o.name).length;
      const macs = modelMacs(model);
      const feeds = c.feeds();
      const r = await crossCheckWithOrt(path, model, feeds, tmp);
      // Inferred as exported (dynamic inputs) and saved with its value_info, the model computes the
      // same: bitwise without graph optimizations; with them onnxruntime may fuse more (it knows
      // more shapes), so within float tolerance.
      const dynamic = loadModel(path);
      inferShapes(dynamic);
      const saved = join(tmp, `${c.name}-inferred.onnx`);
      saveModel(dynamic, saved);
      const plain = { graphOptimizationLevel: 'disabled' } as const;
      const diff = diffOutputs(await run(path, feeds, plain), await run(saved, feeds, plain));
      assert.equal(diff, undefined, diff);
      const [before, after] = [await run(path, feeds), await run(saved, feeds)];
      for (const k of Object.keys(before)) assert.ok(maxAbsDiff(before[k], after[k]) < 1e-4, k);
      t.diagnostic(
        `${report.static}/${outputs} node outputs fully static, ${report.unknown} unknown, ${report.failed.length} rule failures; ` +
          `${r.match}/${r.compared} main-graph outputs equal to onnxruntime's, ${r.mismatches.length} mismatched; ${macs.total} MACs`,
      );
      assert.deepEqual(model.graph.outputs.map(ty), c.outputs);
      assert.deepEqual(r.mismatches, []);
      assert.deepEqual(report.noRule, {});
      if (c.name.startsWith('ocr')) {
        assert.equal(report.static, outputs, 'every node output of the OCR models is static');
        assert.equal(r.match, r.compared);
        assert.deepEqual(report.failed, []);
        assert.equal(macs.unknownNodes, 0);
      }
      if (c.name === 'silero-v5') {
        // The 16 kHz branch (then_branch of the first If) resolves completely.
        const ifNode = model.graph.nodes().find((n) => n.opType === 'If')!;
        const then = ifNode.attributes.get('then_branch')!;
        assert.equal(then.type, AttrType.GRAPH);
        if (then.type === AttrType.GRAPH)
          assert.deepEqual(then.value.outputs.map(ty), ['float[1,1]', 'float[2,1,128]']);
      }
    });
  }
});
