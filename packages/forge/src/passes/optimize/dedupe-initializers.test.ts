import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  int64Tensor,
  loadModel,
  serializeModel,
  type Graph,
  type Model,
  type Tensor,
  type Value,
} from '@edgeforge/onnx';
import { ensureModels, modelPath } from '../../../../../tools/models.ts';
import { diffOutputs, ort, runFile } from '../../../../onnx/src/testing/ort.js';
import { runPasses } from '../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';
import { PassOptionError, type PassReport } from '../pass.js';
import { dedupeInitializers } from './dedupe-initializers.js';
import { applyExact, runOrt } from '../testing/exact-harness.js';

const optimize = (model: Model, feeds: Record<string, ort.Tensor>) => applyExact(dedupeInitializers, model, feeds);

const F = DataType.FLOAT;
const x2 = () => ({ x: new ort.Tensor('float32', [1.5, -2], [2]) });

describe('dedupe-initializers', () => {
  it('merges identical initializers and rewires their readers', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const a2 = b.initializer('a2', floatTensor([2], [1, 2]));
    const a3 = b.initializer('a3', floatTensor([2], [1, 2]));
    b.output(b.op('Sub', [b.op('Mul', [b.op('Add', [x, a]), a2]), a3]), 'y', F, [2]);
    const { after, report } = await optimize(b.model(), x2());
    assert.deepEqual([...after.graph.initializers.keys()], ['a']);
    assert.deepEqual(report.counts, { 'initializers merged': 2, 'bytes saved': 16 });
    const kept = after.graph.initializers.get('a');
    for (const n of after.graph) assert.equal(n.inputs[1], kept);
  });

  it('keeps tensors that differ in dtype, dims or bytes', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const c = b.initializer('c', floatTensor([2], [1, 3]));
    const d = b.initializer('d', floatTensor([1, 2], [1, 2]));
    const s = b.initializer('s', int64Tensor([1], [2]));
    const s2 = b.initializer('s2', int64Tensor([1], [2]));
    const y = b.op('Add', [b.op('Mul', [b.op('Add', [x, a]), c]), d]);
    b.output(b.op('Reshape', [b.op('Reshape', [y, s]), s2]), 'y', F, [2]);
    const { after, report } = await optimize(b.model(), x2());
    assert.deepEqual([...after.graph.initializers.keys()], ['a', 'c', 'd', 's']);
    assert.equal(report.counts['initializers merged'], 1);
  });

  it('never merges an initializer that is a graph input or a graph output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const over = b.initializer('over', floatTensor([2], [1, 2]));
    b.graph.addInput(over);
    const out = b.initializer('out', floatTensor([2], [1, 2]));
    b.output(b.op('Mul', [b.op('Add', [x, a]), over]), 'y', F, [2]);
    b.output(out);
    const { after, report } = await optimize(b.model(), x2());
    assert.equal(report.changed, false);
    assert.deepEqual([...after.graph.initializers.keys()], ['a', 'over', 'out']);
  });

  it('merges within a subgraph and rewires captures; float tensors stay in their graphs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const a2 = b.initializer('a2', floatTensor([2], [1, 2]));
    const t = new GraphBuilder('then');
    const ta = t.initializer('ta', floatTensor([2], [1, 2]));
    t.output(t.op('Add', [t.op('Add', [x, a2]), ta]), 't_out', F, [2]);
    const e = new GraphBuilder('else');
    e.output(e.op('Mul', [x, a]), 'e_out', F, [2]);
    b.output(b.op('If', [c], { then_branch: t.graph, else_branch: e.graph }), 'y', F, [2]);
    const m = b.model();
    for (const cv of [true, false]) {
      const { after, report } = await optimize(m, { ...x2(), c: new ort.Tensor('bool', [cv], []) });
      assert.deepEqual(report.counts, { 'initializers merged': 1, 'bytes saved': 8 });
      assert.match(report.notes?.join() ?? '', /kept 1 tensor .*'a'.* read by Add \(input 1\)/);
      const then = after.graph.nodes()[0].subgraphs()[0];
      assert.equal(then.nodes()[0].inputs[1], after.graph.initializers.get('a'));
      assert.deepEqual([...then.initializers.keys()], ['ta']);
    }
  });

  it('validates options', () => {
    assert.deepEqual(dedupeInitializers.parseOptions({ external: true }), { external: true, acrossGraphs: true });
    assert.deepEqual(dedupeInitializers.parseOptions({ acrossGraphs: false }), {
      external: false,
      acrossGraphs: false,
    });
    assert.throws(() => dedupeInitializers.parseOptions({ external: 1 }), PassOptionError);
    assert.throws(() => dedupeInitializers.parseOptions({ acrossGraphs: 'yes' }), PassOptionError);
    assert.throws(() => dedupeInitializers.parseOptions({ nope: 1 }), PassOptionError);
  });
});

// ---- across graphs ----

const x23 = () => new ort.Tensor('float32', [1, -2, 3.5, 4, -5, 6], [2, 3]);
const bool = (v: boolean) => new ort.Tensor('bool', [v], []);
const branch = (name: string, body: (g: GraphBuilder) => Value, shape = [1, 3, 2]) => {
  const g = new GraphBuilder(name);
  g.output(body(g), `${name}_y`, F, shape);
  return g.graph;
};
const subgraphs = (g: Graph) => g.nodes().flatMap((n) => n.subgraphs());
/** Checker issues about names and scopes (errors or warnings). */
const scopeIssues = (m: Model) =>
  checkModel(m)
    .filter((i) => i.rule === 'ssa' || i.rule === 'defined-inputs')
    .map((i) => i.message);

describe('dedupe-initializers across graphs', () => {
  it('moves identical integer tensors of two If branches into the enclosing graph', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', F, [2, 3]);
    const c = b.input('c', DataType.BOOL, []);
    const then = branch('then', (g) =>
      g.op('Unsqueeze', [
        g.op('Reshape', [x, g.initializer('shape_t', int64Tensor([2], [3, 2]))]),
        g.initializer('axes_t', int64Tensor([1], [0])),
      ]),
    );
    const els = branch('else', (g) =>
      g.op('Unsqueeze', [
        g.op('Neg', [g.op('Reshape', [x, g.initializer('shape_e', int64Tensor([2], [3, 2]))])]),
        g.initializer('axes_e', int64Tensor([1], [0])),
      ]),
    );
    b.output(b.op('If', [c], { then_branch: then, else_branch: els }), 'y', F, [1, 3, 2]);
    for (const cv of [true, false]) {
      const { after, report } = await optimize(b.model(), { x: x23(), c: bool(cv) });
      assert.deepEqual(report.counts, { 'initializers shared across graphs': 2, 'bytes saved': 24 });
      assert.deepEqual([...after.graph.initializers.keys()], ['shape_t', 'axes_t']);
      const [t, e] = subgraphs(after.graph);
      assert.equal(t.initializers.size + e.initializers.size, 0);
      const reshapes = [t, e].map((g) => g.nodes().find((n) => n.opType === 'Reshape')!);
      for (const r of reshapes) assert.equal(r.inputs[1], after.graph.initializers.get('shape_t'));
      assert.deepEqual(scopeIssues(after), []);
    }
  });

  it('renames the shared copy when its name is taken in the enclosing graph or below it', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', F, [2, 3]);
    const c = b.input('c', DataType.BOOL, []);
    // 'axes' is a value of the main graph; 'shp' a node output of the else branch.
    const axesOut = b.op('Neg', [x], {}, { output: 'axes' });
    const then = branch('then', (g) =>
      g.op('Unsqueeze', [
        g.op('Reshape', [x, g.initializer('shp', int64Tensor([2], [3, 2]))]),
        g.initializer('axes', int64Tensor([1], [0])),
      ]),
    );
    const els = branch('else', (g) => {
      const r = g.op('Reshape', [
        g.op('Neg', [x], {}, { output: 'shp' }),
        g.initializer('s2', int64Tensor([2], [3, 2])),
      ]);
      return g.op('Unsqueeze', [r, g.initializer('a2', int64Tensor([1], [0]))]);
    });
    b.output(b.op('If', [c], { then_branch: then, else_branch: els }), 'y', F, [1, 3, 2]);
    b.output(axesOut, 'axes', F, [2, 3]);
    for (const cv of [true, false]) {
      const { after, report } = await optimize(b.model(), { x: x23(), c: bool(cv) });
      assert.deepEqual(report.counts, {
        'initializers renamed': 2,
        'initializers shared across graphs': 2,
        'bytes saved': 24,
      });
      assert.deepEqual([...after.graph.initializers.keys()], ['shp_1', 'axes_1']);
      assert.deepEqual(scopeIssues(after), []);
    }
  });

  it('moves copies of nested Ifs to their nearest common graph', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', F, [2, 3]);
    const c = b.input('c', DataType.BOOL, []);
    const d = b.input('d', DataType.BOOL, []);
    const inner = (name: string, neg: boolean, axes: string, shape: string) =>
      branch(name, (g) => {
        const r = g.op('Reshape', [x, g.initializer(shape, int64Tensor([2], [3, 2]))]);
        return g.op('Unsqueeze', [neg ? g.op('Neg', [r]) : r, g.initializer(axes, int64Tensor([1], [0]))]);
      });
    const then = branch('then', (g) =>
      g.op('If', [d], { then_branch: inner('tt', false, 'ax_tt', 'p'), else_branch: inner('te', true, 'ax_te', 'q') }),
    );
    const els = branch('else', (g) =>
      g.op('Unsqueeze', [g.op('Transpose', [x]), g.initializer('ax_e', int64Tensor([1], [0]))]),
    );
    b.output(b.op('If', [c], { then_branch: then, else_branch: els }), 'y', F, [1, 3, 2]);
    const m = b.model();
    for (const [cv, dv] of [
      [true, true],
      [true, false],
      [false, true],
    ]) {
      const { after, report } = await optimize(m, { x: x23(), c: bool(cv), d: bool(dv) });
      // p/q meet in the outer then branch; the axes of tt, te and else only in the main graph.
      assert.deepEqual(report.counts, { 'initializers shared across graphs': 3, 'bytes saved': 32 });
      const [t, e] = subgraphs(after.graph);
      const [tt, te] = subgraphs(t);
      assert.deepEqual([...after.graph.initializers.keys()], ['ax_tt']);
      assert.deepEqual([...t.initializers.keys()], ['p']);
      assert.equal(e.initializers.size + tt.initializers.size + te.initializers.size, 0);
      assert.equal(te.nodes()[0].inputs[1], t.initializers.get('p'));
      assert.equal(e.nodes()[1].inputs[1], after.graph.initializers.get('ax_tt'));
    }
  });

  it('leaves initializers that are graph inputs alone, and shares nothing across graphs at IR < 4', async () => {
    const build = (irVersion: number) => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [2, 3]);
      const c = b.input('c', DataType.BOOL, []);
      const over = b.initializer('over', int64Tensor([2], [3, 2]));
      b.graph.addInput(over);
      const s = (g: GraphBuilder, name: string) => g.initializer(name, int64Tensor([2], [3, 2]));
      const then = branch('then', (g) => g.op('Reshape', [g.op('Reshape', [x, s(g, 's_t')]), over]), [3, 2]);
      const els = branch('else', (g) => g.op('Neg', [g.op('Reshape', [x, s(g, 's_e')])]), [3, 2]);
      b.output(b.op('If', [c], { then_branch: then, else_branch: els }), 'y', F, [3, 2]);
      return b.model({ opset: 9, irVersion });
    };
    const { after, report } = await optimize(build(8), { x: x23(), c: bool(true) });
    assert.equal(after.graph.initializers.get('over')!.isGraphInput(), true);
    assert.equal(subgraphs(after.graph)[0].nodes()[1].inputs[1], after.graph.initializers.get('over'));
    assert.deepEqual(report.counts, { 'initializers shared across graphs': 1, 'bytes saved': 16 });
    assert.deepEqual([...after.graph.initializers.keys()], ['over', 's_t']);
    // At IR 3 onnxruntime refuses subgraph initializers that are not subgraph inputs, so no run here.
    const old = build(3);
    const r3 = dedupeInitializers.run(old, dedupeInitializers.parseOptions({}), {}) as PassReport;
    assert.equal(r3.changed, false);
    assert.match(r3.notes?.join() ?? '', /IR version is 3/);
  });

  it('keeps a 2-D Conv weight in each branch: onnxruntime skips its NCHWc rewrite for outer weights', async () => {
    const w = [floatTensor([32, 32, 3, 3], wave(32 * 32 * 9))];
    const conv: Body = (g, x, [wt]) => g.op('Conv', [x, wt], { pads: [1, 1, 1, 1] });
    const feeds = { x: new ort.Tensor('float32', wave(32 * 16 * 16, 3), [1, 32, 16, 16]), c: bool(true) };
    const { after, report } = await optimize(ifModel([1, 32, 16, 16], w, conv, false), feeds);
    assert.equal(report.changed, false);
    assert.match(report.notes?.join() ?? '', /kept 1 tensor \(36864 bytes .* read by Conv \(input 1\)/);
    assert.deepEqual(
      subgraphs(after.graph).map((g) => [...g.initializers.keys()]),
      [['then_w0'], ['else_w0']],
    );
    // Why: with the weight in the main graph, onnxruntime keeps a plain Conv.
    const local = await ortKernels(ifModel([1, 32, 16, 16], w, conv, false), feeds);
    const outer = await ortKernels(ifModel([1, 32, 16, 16], w, conv, true), feeds);
    const same = local.y.every((v, i) => Object.is(v, outer.y[i]));
    console.log(
      `  2-D Conv in an If branch, onnxruntime kernels: local weight ${local.ops}; outer weight ${outer.ops}; ` +
        `outputs bitwise equal: ${same}`,
    );
    if (local.ops.some((o) => o.includes('nchwc')))
      assert.ok(!outer.ops.some((o) => o.includes('nchwc')), `outer weight: ${outer.ops}`);
  });

  // Weights that do move: onnxruntime must build the same kernels for them from the enclosing graph.
  const weightReaders: [string, number[], number[][], Body][] = [
    [
      'LSTM',
      [4, 1, 8],
      [
        [1, 32, 8],
        [1, 32, 8],
        [1, 64],
      ],
      (g, x, w) => g.op('LSTM', [x, ...w], { hidden_size: 8 }),
    ],
    [
      'GRU',
      [4, 1, 8],
      [
        [1, 24, 8],
        [1, 24, 8],
        [1, 48],
      ],
      (g, x, w) => g.op('GRU', [x, ...w], { hidden_size: 8 }),
    ],
    [
      'RNN',
      [4, 1, 8],
      [
        [1, 8, 8],
        [1, 8, 8],
        [1, 16],
      ],
      (g, x, w) => g.op('RNN', [x, ...w], { hidden_size: 8 }),
    ],
    ['MatMul', [4, 8], [[8, 16]], (g, x, [w]) => g.op('MatMul', [x, w])],
    ['Gemm', [4, 8], [[8, 16], [16]], (g, x, [w, c]) => g.op('Gemm', [x, w, c])],
    ['1-D Conv', [1, 8, 16], [[16, 8, 3]], (g, x, [w]) => g.op('Relu', [g.op('Conv', [x, w], { pads: [1, 1] })])],
  ];
  for (const [name, xDims, wDims, body] of weightReaders)
    it(`moves ${name} weights of two branches: same onnxruntime kernels, bitwise outputs`, async () => {
      const weights = wDims.map((d, i) => floatTensor(d, wave(count(d), i + 1)));
      const model = ifModel(xDims, weights, body, false);
      const feeds = { x: new ort.Tensor('float32', wave(count(xDims), 7), xDims), c: bool(true) };
      const { after, report } = await optimize(model, feeds);
      assert.equal(report.counts['initializers shared across graphs'], weights.length);
      assert.deepEqual(
        subgraphs(after.graph).map((g) => g.initializers.size),
        [0, 0],
      );
      const [local, outer] = [await ortKernels(model, feeds), await ortKernels(after, feeds)];
      assert.deepEqual(outer.ops, local.ops);
    });
});

const count = (dims: number[]) => dims.reduce((p, k) => p * k, 1);

/** A float wave, deterministic test data. */
function wave(n: number, seed = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed) / 4);
}

type Body = (g: GraphBuilder, x: Value, weights: Value[]) => Value;

/** `If(c)` whose branches both compute `body(x, weights)`: each with its own copies, or reading the main graph's. */
function ifModel(xDims: number[], weights: Tensor[], body: Body, outer: boolean): Model {
  const b = new GraphBuilder('main');
  const x = b.input('x', F, xDims);
  const c = b.input('c', DataType.BOOL, []);
  const shared = outer ? weights.map((t, i) => b.initializer(`w${i}`, t)) : undefined;
  const branch = (name: string) => {
    const g = new GraphBuilder(name);
    g.output(body(g, x, shared ?? weights.map((t, i) => g.initializer(`${name}_w${i}`, t))), `${name}_y`);
    return g.graph;
  };
  b.output(b.op('If', [c], { then_branch: branch('then'), else_branch: branch('else') }), 'y');
  return b.model();
}

/** The kernels onnxruntime (default 'all' level) runs for the then branch, and output `y`. */
async function ortKernels(m: Model, feeds: Record<string, ort.Tensor>) {
  const dir = mkdtempSync(join(tmpdir(), 'dedupe-'));
  try {
    const path = join(dir, 'ort.onnx');
    const s = await ort.InferenceSession.create(serializeModel(m), {
      optimizedModelFilePath: path,
      logSeverityLevel: 4,
    });
    const y = (await s.run(feeds)).y.data as Float32Array;
    await s.release();
    const ops = subgraphs(loadModel(path).graph)[0]
      .nodes()
      .map((n) => `${n.domain}:${n.opType}`);
    return { ops, y };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const small = (dims: number[]) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: count(dims) }, (_, i) => Math.sin(i) / 4),
    dims,
  );

/** Per model: inputs at a rate, and the measured bounds (file after, bytes saved across graphs). */
const SILERO = {
  // Its If branches hold different weights (the 16 and 8 kHz models): only shape constants are shared.
  'silero-v5': {
    feeds: (sr: number, n: number) => ({ input: small([1, n]), state: small([2, 1, 128]), sr: int64Scalar(sr) }),
    maxBytes: 2_242_500,
    minSaved: 3_000,
  },
  // Sibling branches each hold a copy of the same LSTM weights.
  'silero-legacy': {
    feeds: (sr: number, n: number) => ({
      input: small([1, n]),
      h: small([2, 1, 64]),
      c: small([2, 1, 64]),
      sr: int64Scalar(sr),
    }),
    maxBytes: 1_007_000,
    minSaved: 530_000,
  },
} as const;
function int64Scalar(v: number) {
  return new ort.Tensor('int64', BigInt64Array.from([BigInt(v)]), []);
}

describe('dedupe-initializers on Silero', () => {
  for (const [name, spec] of Object.entries(SILERO) as [keyof typeof SILERO, (typeof SILERO)[keyof typeof SILERO]][])
    it(
      `${name} after the default recipe: smaller file, bitwise outputs at 16 and 8 kHz, idempotent`,
      { timeout: 120_000 },
      async () => {
        await ensureModels();
        const src = modelPath(name);
        const model = loadModel(src);
        const run = await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
        const after = serializeModel(model).length;
        const step = run.steps.find((s) => s.pass === 'dedupe-initializers')!;
        // The same recipe with per-graph dedupe only, for comparison.
        const perGraph = loadModel(src);
        const steps = DEFAULT_RECIPE.map((s) =>
          s.pass === 'dedupe-initializers' ? { ...s, options: { acrossGraphs: false } } : s,
        );
        await runPasses(perGraph, steps, { registry: PASSES });
        const before = serializeModel(perGraph).length;
        console.log(
          `  ${name} after the default recipe: ${after} bytes (${before} with per-graph dedupe only, original ` +
            `${statSync(src).size}); dedupe-initializers ${JSON.stringify(step.counts)}; ${step.notes?.join('; ')}`,
        );
        assert.ok(after <= spec.maxBytes, `${after} bytes`);
        assert.ok(before - after >= spec.minSaved, `saved ${before - after} bytes`);
        assert.deepEqual(checkModel(model), []);
        for (const [rate, n] of [
          [16000, 512],
          [8000, 256],
        ]) {
          const feeds = spec.feeds(rate, n);
          assert.equal(diffOutputs(await runFile(src, feeds), await runOrt(model, feeds)), undefined, `${rate} Hz`);
        }
        const again = await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
        assert.deepEqual(
          again.steps.filter((s) => s.changed).map((s) => s.pass),
          [],
        );
        assert.equal(serializeModel(model).length, after);
      },
    );
});
