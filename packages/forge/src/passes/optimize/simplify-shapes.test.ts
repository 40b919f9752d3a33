import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  allNodes,
  checkModel,
  constantTensor,
  DataType,
  GraphBuilder,
  int64Tensor,
  loadModel,
  loadModelFromBytes,
  serializeModel,
  shapeOf,
  summarizeModel,
  toTypedArray,
  type Dim,
  type Model,
} from '@edgeforge/onnx';
import { ensureModels, modelPath, type ModelName } from '../../../../../tools/models.ts';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import type { Pass, PassContext, PassReport } from '../pass.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';
import { shapeSlice, simplifyShapes, staticReshapeTarget } from './simplify-shapes.js';
import { maxRelDiff, runNode } from '../testing/exact-harness.js';

const clone = (m: Model) => loadModelFromBytes(serializeModel(m));
const errors = (m: Model) => checkModel(m).filter((i) => i.severity === 'error');
const ops = (m: Model) => [...allNodes(m.graph)].map((n) => n.opType);

function floats(dims: number[], seed = 1): HostTensor {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 2147483648 - 0.5;
  }
  return { type: 'float32', dims, data };
}

/**
 * Applies the pass to a copy: checker clean, same onnxruntime outputs on every feed (bitwise), second
 * run changes nothing.
 */
async function simplify(model: Model, feeds: Feeds[], ctx: PassContext = {}): Promise<{ after: Model; r: PassReport }> {
  const after = clone(model);
  const r = await simplifyShapes.run(after, {}, ctx);
  assert.deepEqual(errors(after), []);
  const saved = clone(after);
  for (const f of feeds) assert.equal(maxRelDiff(await runNode(model, f), await runNode(saved, f)), 0);
  const again = await simplifyShapes.run(after, {}, ctx);
  assert.equal(again.changed, false, `second run: ${JSON.stringify(again.counts)}`);
  return { after, r };
}

/** PyTorch's flatten: `Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))`, then a Relu. */
function flattenModel(batch: Dim): Model {
  const b = new GraphBuilder('flatten');
  const x = b.input('x', DataType.FLOAT, [batch, 8, 4, 4]);
  const shape = b.op('Shape', [x]);
  const n = b.op('Gather', [shape, b.constant(int64Tensor([], [0]))], { axis: 0 });
  const target = b.op(
    'Concat',
    [b.op('Unsqueeze', [n, b.constant(int64Tensor([1], [0]))]), b.constant(int64Tensor([1], [-1]))],
    {
      axis: 0,
    },
  );
  const y = b.op('Reshape', [x, target]);
  b.output(b.op('Relu', [y]), 'y', DataType.FLOAT, [batch, 128]);
  return b.model({ opset: 17 });
}

function reshapeTarget(m: Model): number[] | undefined {
  const r = m.graph.nodes().find((n) => n.opType === 'Reshape')!;
  const t = constantTensor(r.inputs[1]!);
  return t ? [...(toTypedArray(t) as BigInt64Array)].map(Number) : undefined;
}

describe('simplify-shapes on built graphs', () => {
  it('folds a static Shape → Gather → Unsqueeze → Concat chain into a constant Reshape target', async () => {
    const m = flattenModel(2);
    const { after, r } = await simplify(m, [{ x: floats([2, 8, 4, 4]) }]);
    assert.deepEqual(r.counts, { 'Shape replaced': 1, 'nodes folded': 3 });
    assert.deepEqual(ops(after), ['Reshape', 'Relu']);
    assert.deepEqual(reshapeTarget(after), [2, -1]);
    assert.equal(after.graph.initializers.size, 1);
  });

  it('keeps Shape of a symbolic batch without --input-shape, and keeps the interface', async () => {
    // Shape(x)[0] feeds arithmetic, not a Reshape: nothing may be guessed.
    const b = new GraphBuilder('batch');
    const x = b.input('x', DataType.FLOAT, ['N', 3]);
    const n = b.op('Gather', [b.op('Shape', [x]), b.constant(int64Tensor([], [0]))], { axis: 0 });
    const y = b.op('Mul', [x, b.op('Cast', [n], { to: DataType.FLOAT })]);
    b.output(y, 'y', DataType.FLOAT, ['N', 3]);
    const m = b.model({ opset: 17 });
    const { after, r } = await simplify(m, [{ x: floats([1, 3]) }, { x: floats([4, 3]) }]);
    assert.equal(r.changed, false);
    assert.deepEqual(ops(after), ['Shape', 'Constant', 'Gather', 'Cast', 'Mul']);
    assert.deepEqual(shapeOf(after.graph.inputs[0].type), ['N', 3]);
    assert.deepEqual(shapeOf(after.graph.outputs[0].type), ['N', 3]);
  });

  it('with a symbolic batch, the flatten target becomes [0, 128] (copy the batch), exact for every batch', async () => {
    const m = flattenModel('N');
    const { after, r } = await simplify(m, [{ x: floats([1, 8, 4, 4]) }, { x: floats([3, 8, 4, 4]) }]);
    assert.equal(r.counts['Shape replaced'], undefined, 'the symbolic Shape is never replaced');
    assert.equal(r.counts['Reshape target made static'], 1);
    assert.deepEqual(ops(after), ['Reshape', 'Relu'], 'the Shape chain is dead and removed');
    assert.deepEqual(reshapeTarget(after), [0, 128]);
    assert.deepEqual(shapeOf(after.graph.inputs[0].type), ['N', 8, 4, 4]);
  });

  it('with ctx.inputShapes the batch is fixed and Shape folds', async () => {
    const m = flattenModel('N');
    const ctx = { inputShapes: { x: [3, 8, 4, 4] } };
    const { after, r } = await simplify(m, [{ x: floats([3, 8, 4, 4]) }], ctx);
    assert.equal(r.counts['Shape replaced'], 1);
    assert.deepEqual(ops(after), ['Reshape', 'Relu']);
    assert.deepEqual(reshapeTarget(after), [3, -1]);
    assert.deepEqual(shapeOf(after.graph.inputs[0].type), [3, 8, 4, 4], '--input-shape fixes the input');
  });

  it('Shape start/end (opset 15) and Size become constants', async () => {
    const b = new GraphBuilder('slice');
    const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
    const z = b.input('z', DataType.INT64, [3]);
    const part = b.op('Shape', [x], { start: 1, end: -1 });
    const size = b.op('Unsqueeze', [b.op('Size', [x]), b.constant(int64Tensor([1], [0]))]);
    b.output(b.op('Add', [b.op('Concat', [part, size], { axis: 0 }), z]), 'y', DataType.INT64, [3]);
    const m = b.model({ opset: 17 });
    const feeds = { z: { type: 'int64', dims: [3], data: new BigInt64Array([1n, 2n, 3n]) } } as Feeds;
    const xfeed = { x: floats([2, 3, 4, 5]) };
    const { after, r } = await simplify(m, [{ ...feeds, ...xfeed }]);
    assert.equal(r.counts['Shape replaced'], 1);
    assert.equal(r.counts['Size replaced'], 1);
    assert.deepEqual(ops(after), ['Add']);
    const out = await runNode(clone(after), { ...feeds, ...xfeed });
    assert.deepEqual([...(out.y.data as BigInt64Array)], [4n, 6n, 123n]);
  });

  it('removes a Cast to the type inference found, keeps real conversions and unknown-type Casts', async () => {
    const b = new GraphBuilder('casts');
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const a = b.op('Cast', [b.op('Relu', [x])], { to: DataType.FLOAT }); // Relu's output type: only inferred
    const i = b.op('Cast', [a], { to: DataType.INT64 });
    const u = b.op('Cast', [b.op('Mystery', [x], {}, { domain: 'example.custom' })], { to: DataType.FLOAT });
    b.output(i, 'i', DataType.INT64, [2, 3]);
    b.output(u, 'u', DataType.FLOAT, [2, 3]);
    const m = b.model({ opset: 17, opsets: { 'example.custom': 1 } });
    const after = clone(m);
    const r = await simplifyShapes.run(after, {}, {});
    assert.deepEqual(r.counts, { 'Cast to same type removed': 1 });
    assert.deepEqual(ops(after), ['Relu', 'Cast', 'Mystery', 'Cast']);
    assert.equal(after.graph.nodes()[1].inputs[0]?.producer?.opType, 'Relu');
    assert.equal((await simplifyShapes.run(after, {}, {})).changed, false);
  });

  it('descends into If branches: Shape of a captured static value folds there', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', DataType.FLOAT, [2, 6]);
    const c = b.input('c', DataType.BOOL, []);
    const branch = (name: string, target: number) => {
      const s = new GraphBuilder(name);
      const n = s.op('Gather', [s.op('Shape', [x]), s.constant(int64Tensor([], [0]))], { axis: 0 });
      const t = s.op(
        'Concat',
        [s.op('Unsqueeze', [n, s.constant(int64Tensor([1], [0]))]), s.constant(int64Tensor([1], [target]))],
        {
          axis: 0,
        },
      );
      s.output(s.op('Reshape', [x, t]), `${name}_out`, DataType.FLOAT);
      return s.graph;
    };
    const iff = b.node('If', [c], { then_branch: branch('then', 6), else_branch: branch('else', -1) });
    b.output(iff.outputs[0], 'y', DataType.FLOAT);
    const m = b.model({ opset: 17 });
    const feed = (v: boolean): Feeds => ({
      x: floats([2, 6]),
      c: { type: 'bool', dims: [], data: new Uint8Array([v ? 1 : 0]) },
    });
    const { after, r } = await simplify(m, [feed(true), feed(false)]);
    assert.equal(r.counts['Shape replaced'], 2);
    for (const sg of after.graph.nodes()[0].subgraphs())
      assert.deepEqual(
        sg.nodes().map((n) => n.opType),
        ['Reshape'],
      );
  });

  it('unit: Shape start/end and the static Reshape target rules', () => {
    const n = flattenModel(1).graph.nodes()[0];
    assert.deepEqual(shapeSlice([2, 3, 4], n, 17), [2, 3, 4]);
    assert.deepEqual(staticReshapeTarget(['N', 8, 4], ['N', 32], false), [0, 32]);
    assert.deepEqual(staticReshapeTarget(['N', 'T'], ['N', 1, 'T'], false), [0, 1, -1]);
    assert.equal(staticReshapeTarget(['N', 'T'], ['T', 'N'], false), undefined, 'two unresolved dims');
    assert.deepEqual(staticReshapeTarget(['N', 8], ['N', 8], true), [-1, 8], 'allowzero: 0 does not copy');
    assert.equal(staticReshapeTarget(['N', 'T'], ['N', 'T'], true), undefined);
    assert.equal(staticReshapeTarget(['N', 0], [0, 'N'], false), undefined, 'a real 0 with allowzero=0');
  });
});

/** Inputs of the real models: 16 kHz audio for Silero, an image crop for the classifier. */
const REAL: Record<string, { target: number; removes: number; feeds: () => Feeds; shapes: Record<string, number[]> }> =
  {
    'ocr-cls': {
      target: 179,
      removes: 5,
      feeds: () => ({ x: floats([1, 3, 48, 192]) }),
      shapes: { x: [1, 3, 48, 192] },
    },
    'silero-legacy': {
      target: 238,
      removes: 22,
      feeds: () => ({
        input: floats([1, 512]),
        sr: { type: 'int64', dims: [], data: new BigInt64Array([16000n]) },
        h: floats([2, 1, 64], 7),
        c: floats([2, 1, 64], 9),
      }),
      shapes: { input: [1, 512], sr: [], h: [2, 1, 64], c: [2, 1, 64] },
    },
    'silero-v5': {
      target: 224,
      removes: 22,
      feeds: () => ({
        input: floats([1, 512]),
        state: floats([2, 1, 128], 7),
        sr: { type: 'int64', dims: [], data: new BigInt64Array([16000n]) },
      }),
      shapes: { input: [1, 512], state: [2, 1, 128], sr: [] },
    },
  };

/** Node count (subgraphs included) of onnxruntime's own basic-level optimized model. */
async function ortBasicNodes(path: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'simplify-shapes-'));
  try {
    const out = join(dir, 'basic.onnx');
    const s = await getBackend('node').createSession(path, { graphOptimization: 'basic', optimizedModelPath: out });
    await s.release();
    return summarizeModel(loadModel(out)).nodes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('simplify-shapes on real models (after the default recipe)', () => {
  const registry = new Map([...PASSES, [simplifyShapes.name, simplifyShapes as unknown as Pass<never>]]);
  const step = [{ pass: simplifyShapes.name, options: {} }];

  for (const [name, spec] of Object.entries(REAL)) {
    it(`${name}: no more nodes than onnxruntime's basic level, same outputs, idempotent`, async () => {
      await ensureModels();
      const path = modelPath(name as ModelName);
      const original = loadModel(path);
      const reference = await runNode(original, spec.feeds());
      const ort = await ortBasicNodes(path);
      const rows: string[] = [];
      for (const ctx of [{}, { inputShapes: spec.shapes }] as PassContext[]) {
        const m = loadModel(path);
        // The default recipe without this pass, to see what the pass adds on top of it.
        const without = DEFAULT_RECIPE.filter((s) => s.pass !== 'simplify-shapes');
        const recipeRun = await runPasses(m, without, { registry });
        // Folds fold-constants refuses for size (onnxruntime folds them) are not this pass's to make.
        const refused = recipeRun.steps
          .flatMap((st) => st.notes ?? [])
          .filter((n) => /^refused .*(add|would be)/.test(n));
        const recipe = summarizeModel(m).nodes;
        const beforeStep = await runNode(m, spec.feeds(), 'disabled');
        const r = await runPasses(m, step, { registry, ctx });
        const nodes = summarizeModel(m).nodes;
        assert.deepEqual(errors(m), []);
        const diff = maxRelDiff(reference, await runNode(clone(m), spec.feeds()));
        assert.ok(diff <= 1e-5, `${name}: outputs differ by ${diff}`);
        // Without onnxruntime's own rewrites (which differ once a Reshape target is static), bitwise equal.
        assert.equal(maxRelDiff(beforeStep, await runNode(clone(m), spec.feeds(), 'disabled')), 0, 'the step is exact');
        if (ctx.inputShapes && name === 'silero-v5') {
          assert.ok(r.steps[0].notes?.some((n) => n.startsWith('input shapes not applied')));
          assert.deepEqual(shapeOf(m.graph.inputs[0].type), shapeOf(original.graph.inputs[0].type));
        }
        const again = await runPasses(m, step, { registry, ctx });
        assert.equal(again.steps[0].changed, false, `second run: ${JSON.stringify(again.steps[0].counts)}`);
        const label = ctx.inputShapes ? 'with --input-shape' : 'no --input-shape';
        rows.push(
          `${name} (${label}): original ${summarizeModel(original).nodes}, default recipe ${recipe}, + simplify-shapes ${nodes}, ORT basic ${ort} (target ≤ ${spec.target}); max rel diff ${diff}; ${JSON.stringify(r.steps[0].counts)}`,
        );
        if (!ctx.inputShapes) assert.ok(recipe - nodes >= spec.removes, `${name}: removed only ${recipe - nodes}`);
        if (refused.length)
          rows.push(`  (${refused.length} fold(s) refused for size by fold-constants, e.g. ${refused[0]})`);
        else {
          assert.ok(nodes <= ort, `${name}: ${nodes} nodes > ORT basic ${ort}`);
          assert.ok(nodes <= spec.target, `${name}: ${nodes} nodes > ${spec.target}`);
        }
      }
      for (const row of rows) console.log(row);
    });
  }
});
