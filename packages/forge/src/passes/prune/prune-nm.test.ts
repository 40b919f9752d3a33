/**
 * prune-nm: every group of M along the input-channel axis keeps its N largest |w| (checked here
 * independently of the pass's own grouping code) for Conv, grouped ConvTranspose, Gemm with and
 * without transB, batched MatMul; refusals; bad options; onnxruntime runs the result.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  loadModelFromBytes,
  serializeModel,
  toFloat32,
  type Model,
} from '@edgeforge/onnx';
import { PassOptionError } from '../pass.js';
import { runNode } from '../testing/exact-harness.js';
import { pruneNmPass } from './prune-nm.js';
import { mulberry32 } from '../../data/prng.js';

const rand = mulberry32(7);
const randomW = (dims: number[]) =>
  floatTensor(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rand() - 0.5) * 2 + (rand() < 0.5 ? 0.01 : -0.01)),
  );

interface Case {
  node: string;
  weight: string;
  dims: number[];
  /** Input-channel axis: where the groups run. */
  axis: number;
}

function layersModel(): { model: Model; cases: Case[] } {
  const F = DataType.FLOAT;
  const b = new GraphBuilder('layers');
  const cases: Case[] = [];
  const add = (node: string, dims: number[], axis: number) => {
    cases.push({ node, weight: `${node}.w`, dims, axis });
    return b.initializer(`${node}.w`, randomW(dims));
  };
  // Conv [O=6, I=8, 3, 3]: groups along I per (o, kh, kw).
  const c = b.op(
    'Conv',
    [b.input('x', F, [1, 8, 6, 6]), add('conv', [6, 8, 3, 3], 1)],
    { pads: [1, 1, 1, 1] },
    { name: 'conv' },
  );
  // ConvTranspose group 2: W [C=16, M/g=3, 2, 2]; 8 input channels per group.
  const ct = b.op(
    'ConvTranspose',
    [b.input('t', F, [1, 16, 3, 3]), add('convT', [16, 3, 2, 2], 0)],
    { group: 2 },
    { name: 'convT' },
  );
  const g1 = b.op('Gemm', [b.input('y', F, [2, 12]), add('gemmT', [5, 12], 1)], { transB: 1 }, { name: 'gemmT' });
  const g0 = b.op('Gemm', [b.input('z', F, [2, 16]), add('gemmN', [16, 7], 0)], {}, { name: 'gemmN' });
  const mm = b.op('MatMul', [b.input('u', F, [2, 3, 8]), add('mm', [2, 8, 3], 1)], {}, { name: 'mm' });
  b.output(c, 'o1');
  b.output(ct, 'o2');
  b.output(g1, 'o3');
  b.output(g0, 'o4');
  b.output(mm, 'o5');
  return { model: b.model({ opset: 17 }), cases };
}

/** Asserts every group of m along `axis` has ≥ m−n zeros and keeps the largest originals. */
function checkGroups(before: Float32Array, after: Float32Array, dims: number[], axis: number, n: number, m: number) {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const len = dims[axis];
  const outer = before.length / (len * inner);
  let groups = 0;
  for (let o = 0; o < outer; o++)
    for (let g = 0; g < len; g += m)
      for (let i = 0; i < inner; i++) {
        const at = Array.from({ length: m }, (_, t) => (o * len + g + t) * inner + i);
        const kept = at.filter((j) => after[j] !== 0);
        const pruned = at.filter((j) => after[j] === 0);
        assert.ok(pruned.length >= m - n, `group at ${at[0]}: ${pruned.length} zeros`);
        for (const j of kept) assert.equal(after[j], before[j], 'kept values unchanged');
        const minKept = Math.min(...kept.map((j) => Math.abs(before[j])));
        const maxPruned = Math.max(...pruned.map((j) => Math.abs(before[j])));
        assert.ok(
          kept.length === 0 || minKept >= maxPruned,
          `group at ${at[0]}: kept ${minKept} < pruned ${maxPruned}`,
        );
        groups++;
      }
  return groups;
}

const copy = (m: Model) => loadModelFromBytes(serializeModel(m));

describe('prune-nm', () => {
  for (const [n, m] of [
    [2, 4],
    [4, 8],
    [1, 4],
  ] as const) {
    it(`${n}:${m} on Conv, grouped ConvTranspose, Gemm (transB 0/1), batched MatMul`, async () => {
      const { model, cases } = layersModel();
      const after = copy(model);
      const r = await pruneNmPass.run(after, pruneNmPass.parseOptions({ n, m }), {});
      const fits = cases.filter((c) => {
        const ch = c.node === 'convT' ? c.dims[0] / 2 : c.dims[c.axis];
        return ch % m === 0;
      });
      assert.equal(r.counts['weights pruned'], fits.length);
      for (const c of cases) {
        const b = toFloat32(model.graph.initializers.get(c.weight)!.const!);
        const a = toFloat32(after.graph.initializers.get(c.weight)!.const!);
        if (!fits.includes(c)) {
          assert.deepEqual(a, b, `${c.node} left dense`);
          assert.ok(
            r.notes!.some((s) => s.includes(`'${c.node}'`) && s.includes(`not a multiple of M = ${m}`)),
            c.node,
          );
          continue;
        }
        const groups = checkGroups(b, a, c.dims, c.axis, n, m);
        const zeros = a.filter((x) => x === 0).length;
        assert.equal(zeros, groups * (m - n), `${c.node}: exactly m−n zeros per group`);
      }
      assert.deepEqual(
        checkModel(after).filter((i) => i.severity === 'error'),
        [],
      );
      assert.equal((await pruneNmPass.run(after, pruneNmPass.parseOptions({ n, m }), {})).changed, false);
      const F = 'float32' as const;
      const ones = (dims: number[]) => ({
        type: F,
        dims,
        data: new Float32Array(dims.reduce((x, y) => x * y, 1)).fill(1),
      });
      const out = await runNode(after, {
        x: ones([1, 8, 6, 6]),
        t: ones([1, 16, 3, 3]),
        y: ones([2, 12]),
        z: ones([2, 16]),
        u: ones([2, 3, 8]),
      });
      assert.deepEqual(out.o2.dims, [1, 6, 4, 4]);
    });
  }

  it('groups along I, not along O: a Conv with 3 input channels is refused with a note', async () => {
    const b = new GraphBuilder('g');
    const w = randomW([8, 3, 1, 1]);
    b.output(
      b.op('Conv', [b.input('x', DataType.FLOAT, [1, 3, 2, 2]), b.initializer('w', w)], {}, { name: 'c1' }),
      'y',
    );
    const model = b.model();
    const r = await pruneNmPass.run(model, pruneNmPass.parseOptions({}), {});
    assert.equal(r.changed, false);
    assert.deepEqual(r.notes, [
      "Conv 'c1': weight 'w' left dense: 3 input channels per group is not a multiple of M = 4",
    ]);
  });

  it('bad options: n > m, n = 0, non-integers, unknown keys; no match is an error', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ n: 5, m: 4 }, /'n' \(5\) must not exceed 'm' \(4\)/],
      [{ n: 0 }, /'n' must be a positive integer \(got 0\)/],
      [{ m: 2.5 }, /'m' must be a positive integer/],
      [{ m: '4' }, /'m' must be a positive integer/],
      [{ amount: 0.5 }, /unknown option 'amount'/],
    ];
    for (const [raw, re] of bad)
      assert.throws(
        () => pruneNmPass.parseOptions(raw),
        (e: Error) => e instanceof PassOptionError && re.test(e.message),
      );
    await assert.rejects(
      async () =>
        pruneNmPass.run(layersModel().model, pruneNmPass.parseOptions({ opTypes: ['Gemm'], nodes: ['conv'] }), {}),
      /prune-nm: the selection \(opTypes Gemm; nodes "conv"\) matches no prunable weight/,
    );
  });
});
