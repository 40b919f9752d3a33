/**
 * prune-l1 / prune-global: masks identical to torch.nn.utils.prune (goldens from
 * tools/prune-goldens/make_goldens.py, torch 1.13), fresh-prune semantics on zeros, selection,
 * Constant-node and subgraph weights, float16, bad options.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  checkModel,
  constantTensor,
  floatTensor,
  loadModelFromBytes,
  serializeModel,
  toFloat32,
  toTypedArray,
  type Model,
} from '@edgeforge/onnx';
import { floatToHalf } from '../../runtime/tensor.js';
import { PassOptionError } from '../pass.js';
import { runNode } from '../testing/exact-harness.js';
import { pruneCount, pruneGlobalPass, pruneL1Pass, smallestMask } from './prune-magnitude.js';

interface Goldens {
  torch: string;
  tensors: Record<string, { dims: number[]; float32le: string }>;
  l1_unstructured: { tensor: string; amount: number; k: number; mask: string }[];
  global_unstructured: { tensors: string[]; amount: number; k: number; masks: Record<string, string> }[];
}
const G = JSON.parse(readFileSync(new URL('./testdata/torch-prune-masks.json', import.meta.url), 'utf8')) as Goldens;

function goldenTensor(name: string): MemoryTensor {
  const t = G.tensors[name];
  const b = Buffer.from(t.float32le, 'base64');
  const f = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return new MemoryTensor(DataType.FLOAT, t.dims, f);
}

/** One node per golden tensor, each weight as ONNX would hold it; node names = tensor names. */
function goldenModel(): Model {
  const b = new GraphBuilder('goldens');
  const F = DataType.FLOAT;
  const conv = b.op(
    'Conv',
    [b.input('x', F, [1, 4, 5, 5]), b.initializer('conv.weight', goldenTensor('conv'))],
    {},
    { name: 'conv' },
  );
  const gemm = b.op(
    'Gemm',
    [
      b.input('y', F, [2, 13]),
      b.initializer('gemm.weight', goldenTensor('gemm')),
      b.initializer('gemm.bias', floatTensor([10], new Array(10).fill(0.001))),
    ],
    { transB: 1 },
    { name: 'gemm' },
  );
  const mm = b.op(
    'MatMul',
    [b.input('z', F, [2, 4]), b.initializer('matmul.weight', goldenTensor('matmul'))],
    {},
    { name: 'matmul' },
  );
  const zz = b.op(
    'MatMul',
    [b.input('u', F, [2, 8]), b.initializer('zeros.weight', goldenTensor('zeros'))],
    {},
    { name: 'zeros' },
  );
  b.output(conv, 'o1');
  b.output(gemm, 'o2');
  b.output(mm, 'o3');
  b.output(zz, 'o4');
  return b.model({ opset: 17 });
}

const copy = (m: Model) => loadModelFromBytes(serializeModel(m));

function maskOf(m: Model, init: string): string {
  const t = m.graph.initializers.get(init)!.const!;
  return Array.from(toFloat32(t), (x) => (x === 0 ? '0' : '1')).join('');
}

describe('prune-l1 / prune-global: torch.nn.utils.prune goldens', () => {
  it(`l1_unstructured: ${G.l1_unstructured.length} masks identical (torch ${G.torch})`, async () => {
    for (const g of G.l1_unstructured) {
      const n = g.mask.length;
      assert.equal(pruneCount(g.amount, n), g.k, `${g.tensor} amount ${g.amount}: k`);
      const m = copy(goldenModel());
      const o = pruneL1Pass.parseOptions({ amount: g.amount, nodes: [g.tensor] });
      const r = await pruneL1Pass.run(m, o, {});
      assert.equal(maskOf(m, `${g.tensor}.weight`), g.mask, `${g.tensor} amount ${g.amount}`);
      // Other weights untouched: the selection was one node.
      for (const other of ['conv', 'gemm', 'matmul'].filter((t) => t !== g.tensor))
        assert.ok(!maskOf(m, `${other}.weight`).includes('0'), other);
      assert.equal(r.counts['weights pruned'] ?? 0, g.k > 0 ? 1 : 0);
    }
  });

  it('round-half-even counts: 0.25·130 → 32, 0.75·130 → 98, 0.25·466 → 116, 0.75·466 → 350', () => {
    assert.deepEqual(
      [pruneCount(0.25, 130), pruneCount(0.75, 130), pruneCount(0.25, 466), pruneCount(0.75, 466)],
      [32, 98, 116, 350],
    );
  });

  it(`global_unstructured over 3 tensors: ${G.global_unstructured.length} mask sets identical`, async () => {
    for (const g of G.global_unstructured) {
      const m = copy(goldenModel());
      await pruneGlobalPass.run(m, pruneGlobalPass.parseOptions({ amount: g.amount, nodes: g.tensors }), {});
      for (const t of g.tensors) assert.equal(maskOf(m, `${t}.weight`), g.masks[t], `${t} amount ${g.amount}`);
      const zeros = g.tensors.reduce((s, t) => s + [...maskOf(m, `${t}.weight`)].filter((c) => c === '0').length, 0);
      assert.equal(zeros, g.k);
      // The layers end up unevenly sparse: that is the point of a global threshold.
      const per = g.tensors.map((t) => [...g.masks[t]].filter((c) => c === '0').length / g.masks[t].length);
      console.log(`global ${g.amount}: per-tensor sparsity ${per.map((x) => x.toFixed(3)).join(', ')}`);
    }
  });

  it('pruned model: checker clean, onnxruntime runs it, biases untouched, a rerun changes nothing', async () => {
    const m = copy(goldenModel());
    const o = pruneL1Pass.parseOptions({ amount: 0.5 });
    const r = await pruneL1Pass.run(m, o, {});
    assert.equal(r.counts['weights pruned'], 4);
    assert.deepEqual(
      checkModel(m).filter((i) => i.severity === 'error'),
      [],
    );
    assert.deepEqual(
      [...toFloat32(m.graph.initializers.get('gemm.bias')!.const!)],
      new Array(10).fill(Math.fround(0.001)),
    );
    const feeds = {
      x: { type: 'float32' as const, dims: [1, 4, 5, 5], data: new Float32Array(100).fill(1) },
      y: { type: 'float32' as const, dims: [2, 13], data: new Float32Array(26).fill(1) },
      z: { type: 'float32' as const, dims: [2, 4], data: new Float32Array(8).fill(1) },
      u: { type: 'float32' as const, dims: [2, 8], data: new Float32Array(16).fill(1) },
    };
    const out = await runNode(m, feeds);
    assert.deepEqual(out.o2.dims, [2, 10]);
    // Fresh-prune semantics: zeros are the smallest |w|, so the same amount again finds nothing to do
    // (torch's PruningContainer would prune half of the rest: that needs torch's kept mask).
    const again = await pruneL1Pass.run(m, o, {});
    assert.equal(again.changed, false);
    assert.ok(
      again.notes!.some((n) => n.includes('50.00% zero')),
      again.notes!.join('\n'),
    );
    const g2 = await pruneGlobalPass.run(m, pruneGlobalPass.parseOptions({ amount: 0.5 }), {});
    assert.equal(g2.changed, false);
  });

  it('ties go in element order; NaN ranks above every number', () => {
    const m = new Float64Array([0.5, 0.1, 0.5, 0.1, NaN, 0.5]);
    assert.deepEqual([...smallestMask(m, 1)], [1, 0, 1, 1, 1, 1]);
    assert.deepEqual([...smallestMask(m, 3)], [0, 0, 1, 0, 1, 1]);
    assert.deepEqual([...smallestMask(m, 5)], [0, 0, 0, 0, 1, 0]);
    assert.deepEqual([...smallestMask(m, 6)], [0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...smallestMask(m, 0)], [1, 1, 1, 1, 1, 1]);
  });
});

describe('prune-l1: where weights live', () => {
  it('Constant-node weights, weights inside an If branch, float16; norms and biases left alone', async () => {
    const F = DataType.FLOAT;
    const thenB = new GraphBuilder('then');
    const w = new Float32Array(16).map((_, i) => (i % 2 ? -1 : 1) * (i + 1));
    const x = new GraphBuilder('main');
    const xin = x.input('x', F, [2, 4]);
    thenB.output(thenB.op('MatMul', [xin, thenB.constant(floatTensor([4, 4], w))], {}, { name: 'branch_mm' }), 'tb');
    const elseB = new GraphBuilder('else');
    elseB.output(elseB.op('Identity', [xin]), 'eb');
    const cond = x.input('c', DataType.BOOL, []);
    const half = new MemoryTensor(DataType.FLOAT16, [4, 4], Uint16Array.from(w, floatToHalf));
    const ln = x.op('LayerNormalization', [
      xin,
      x.initializer('ln.scale', floatTensor([4], [0.1, 0.2, 0.3, 0.4])),
      x.initializer('ln.bias', floatTensor([4], [0.01, 0.02, 0.03, 0.04])),
    ]);
    const h = x.op(
      'MatMul',
      [x.op('Cast', [ln], { to: DataType.FLOAT16 }), x.initializer('w16', half)],
      {},
      { name: 'half_mm' },
    );
    const iff = x.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph });
    x.output(iff, 'y', F, [2, 4]);
    x.output(h, 'h', DataType.FLOAT16, [2, 4]);
    const m = x.model({ opset: 17 });
    const r = await pruneL1Pass.run(m, pruneL1Pass.parseOptions({ amount: 0.25 }), {});
    assert.equal(r.counts['weights pruned'], 2);
    const inBranch = [...m.graph][[...m.graph].findIndex((n) => n.opType === 'If')].subgraphs()[0];
    const mm = [...inBranch].find((n) => n.opType === 'MatMul')!;
    const bw = toFloat32(constantTensor(mm.inputs[1]!)!);
    assert.deepEqual([...bw.slice(0, 5)], [0, 0, 0, 0, 5]); // |w| 1..4 pruned (k = 4), written as +0
    const hw = toTypedArray(m.graph.initializers.get('w16')!.const!) as Uint16Array;
    assert.deepEqual([...hw.slice(0, 4)], [0, 0, 0, 0]);
    assert.equal(hw[4], floatToHalf(5));
    assert.deepEqual(
      [...toFloat32(m.graph.initializers.get('ln.scale')!.const!)],
      [0.1, 0.2, 0.3, 0.4].map(Math.fround),
    );
    assert.deepEqual(
      checkModel(m).filter((i) => i.severity === 'error'),
      [],
    );
    const out = await runNode(m, {
      x: { type: 'float32', dims: [2, 4], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
      c: { type: 'bool', dims: [], data: Uint8Array.from([1]) },
    });
    assert.deepEqual(out.y.dims, [2, 4]);
  });
});

describe('prune: selection', () => {
  const m = goldenModel();
  const count = async (raw: Record<string, unknown>) =>
    (await pruneL1Pass.run(copy(m), pruneL1Pass.parseOptions({ amount: 0.5, ...raw }), {})).counts['weights pruned'];

  it('by op type, by glob, by /regex/, by minSize', async () => {
    assert.equal(await count({ opTypes: ['MatMul'] }), 2);
    assert.equal(await count({ opTypes: ['Gemm', 'Conv'] }), 2);
    assert.equal(await count({ nodes: ['*m*'] }), 2); // gemm, matmul
    assert.equal(await count({ nodes: ['?e??'] }), 1); // gemm
    assert.equal(await count({ nodes: ['/^(conv|zeros)$/'] }), 2);
    assert.equal(await count({ nodes: ['/MAT/i'] }), 1);
    assert.equal(await count({ minSize: 200 }), 1); // conv: 216 elements
  });

  it('a selection that matches nothing is an error naming it', async () => {
    await assert.rejects(
      async () => pruneL1Pass.run(copy(m), pruneL1Pass.parseOptions({ amount: 0.5, nodes: ['fc*'] }), {}),
      /prune-l1: the selection \(opTypes Conv,ConvTranspose,Gemm,MatMul; nodes "fc\*"\) matches no prunable weight/,
    );
    await assert.rejects(
      async () => pruneGlobalPass.run(copy(m), pruneGlobalPass.parseOptions({ amount: 0.5, minSize: 10_000 }), {}),
      /prune-global: the selection \(.*minSize 10000\) matches no prunable weight; left alone: Conv 'conv': weight 'conv.weight' has 216 < minSize 10000/,
    );
  });

  it('bad options: clear PassOptionErrors', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /'amount' is required/],
      [{ amount: -0.1 }, /'amount' must be a number in \[0, 1\] \(got -0.1\)/],
      [{ amount: 1.5 }, /'amount' must be a number in \[0, 1\] \(got 1.5\)/],
      [{ amount: '0.5' }, /'amount' must be a number/],
      [{ amount: Number.NaN }, /'amount' must be a number/],
      [{ amount: 0.5, opTypes: ['Relu'] }, /'opTypes' must be a non-empty list of Conv, ConvTranspose, Gemm, MatMul/],
      [{ amount: 0.5, opTypes: [] }, /'opTypes'/],
      [{ amount: 0.5, nodes: 'fc1' }, /'nodes' must be a non-empty list/],
      [{ amount: 0.5, nodes: ['/[/'] }, /'nodes' pattern "\/\[\/" is not a valid regular expression/],
      [{ amount: 0.5, minSize: -1 }, /'minSize' must be a non-negative integer/],
      [{ amount: 0.5, ammount: 1 }, /unknown option 'ammount'/],
    ];
    for (const pass of [pruneL1Pass, pruneGlobalPass])
      for (const [raw, re] of bad)
        assert.throws(
          () => pass.parseOptions(raw),
          (e: Error) => e instanceof PassOptionError && re.test(e.message) && e.message.startsWith(pass.name),
          JSON.stringify(raw),
        );
  });
});
