/**
 * quantize-weight-only: the emitted model equals what ONNX Runtime's MatMulNBitsQuantizer writes
 * (names, attributes, bytes); onnxruntime's MatMulNBits / GatherBlockQuantized outputs equal the
 * float model with its weights replaced by their dequantized values (decoded here from the emitted
 * tensors) within 1e-5; the QDQ form is fused into MatMulNBits by onnxruntime and agrees; weights in
 * Constant nodes, behind Identity, shared, in If bodies; refusals. Real models: the spam transformer
 * (int4 block 32 and int8: argmax agreement, accuracy, size), Silero v5 (node and wasm), PaddleOCR
 * rec (int4: OCR exact match).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  Node,
  checkModel,
  floatTensor,
  int64Tensor,
  loadModel,
  loadModelFromBytes,
  serializeModel,
  toAttr,
  toFloat32,
  toTypedArray,
  Value,
  type Graph,
  type Model,
  type Tensor,
} from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath, ocrKeysPath } from '../../../../../tools/models.ts';
import { openDataset } from '../../data/index.js';
import { ocrAccuracy, type OcrRunner } from '../../evaluate/ocr/check.js';
import { ocrCorpus } from '../../evaluate/ocr/corpus.js';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { PassOptionError } from '../pass.js';
import { goldenWeights } from './testing/golden-weights.js';
import { parseWeightOnlyOptions, quantizeWeightOnly, quantizeWeightOnlyPass } from './quantize-weight-only.js';

const quantize = (m: Model, raw: Record<string, unknown> = {}) =>
  quantizeWeightOnly(m, quantizeWeightOnlyPass.parseOptions(raw));
const copy = (m: Model) => loadModelFromBytes(serializeModel(m));
const opCount = (m: Model, op: string) => {
  let n = 0;
  const walk = (g: Graph): void => {
    for (const x of g) {
      if (x.opType === op) n++;
      for (const s of x.subgraphs()) walk(s);
    }
  };
  walk(m.graph);
  return n;
};

function assertValid(m: Model): void {
  assert.deepEqual(
    checkModel(m).filter((i) => i.severity === 'error'),
    [],
  );
}

// ---------- decoding the emitted tensors back to float (independent of blockwise.ts) ----------

const nibble = (bytes: Uint8Array, i: number) => (bytes[i >> 1] >> ((i & 1) * 4)) & 0x0f;

/** MatMulNBits inputs → W [K, N] float32. */
function decodeMatMulNBits(n: Node): Float32Array {
  const K = n.getInt('K')!;
  const N = n.getInt('N')!;
  const bits = n.getInt('bits', 4)!;
  const bs = n.getInt('block_size')!;
  const B = n.inputs[1]!.const!.bytes();
  const scales = toFloat32(n.inputs[2]!.const!);
  const zpT = n.inputs[3]?.const;
  const kb = Math.ceil(K / bs);
  const blob = (bs * bits) / 8;
  const zpCols = Math.ceil((kb * bits) / 8);
  const w = new Float32Array(K * N);
  for (let j = 0; j < N; j++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs);
      const at = j * kb * blob;
      const q = bits === 8 ? B[at + k] : nibble(B.subarray(at), k);
      const zp = !zpT
        ? 2 ** (bits - 1)
        : bits === 8
          ? zpT.bytes()[j * kb + b]
          : nibble(zpT.bytes().subarray(j * zpCols), b);
      w[k * N + j] = (q - zp) * scales[j * kb + b];
    }
  }
  return w;
}

/** Signed or unsigned 4/8-bit tensor values, unpacked. */
function intValues(t: Tensor): Int32Array {
  if (t.dtype === DataType.INT4 || t.dtype === DataType.UINT4) {
    const bytes = t.bytes();
    return Int32Array.from({ length: t.size }, (_, i) => {
      const v = nibble(bytes, i);
      return t.dtype === DataType.INT4 && v > 7 ? v - 16 : v;
    });
  }
  return Int32Array.from(toTypedArray(t) as Int8Array | Uint8Array);
}

/** GatherBlockQuantized inputs → table [V, D] float32. */
function decodeGatherBlockQuantized(n: Node): Float32Array {
  const data = n.inputs[0]!.const!;
  const [V, D] = data.dims;
  const bs = n.getInt('block_size')!;
  const q = intValues(data);
  const scales = toFloat32(n.inputs[2]!.const!);
  const zp = n.inputs[3]?.const ? intValues(n.inputs[3].const) : undefined;
  const db = Math.ceil(D / bs);
  const def = data.dtype === DataType.UINT8 ? 128 : 0;
  return Float32Array.from({ length: V * D }, (_, i) => {
    const s = Math.floor(i / D) * db + Math.floor((i % D) / bs);
    return (q[i] - (zp ? zp[s] : def)) * scales[s];
  });
}

/**
 * The float model onnxruntime should be computing: every MatMulNBits becomes MatMul(+Add bias) and
 * every GatherBlockQuantized a Gather, over the weights decoded from the emitted bytes.
 */
function dequantizedTwin(quantized: Model): Model {
  const m = copy(quantized);
  const walk = (g: Graph): void => {
    for (const n of g) {
      for (const s of n.subgraphs()) walk(s);
      if (n.opType !== 'MatMulNBits' && n.opType !== 'GatherBlockQuantized') continue;
      const out = n.outputs[0];
      let fresh: Node[];
      if (n.opType === 'MatMulNBits') {
        const w = g.addInitializer(
          g.freshName('deq'),
          floatTensor([n.getInt('K')!, n.getInt('N')!], decodeMatMulNBits(n)),
        );
        const bias = n.inputs[5];
        const mm = new Node('MatMul', [n.inputs[0], w], { outputs: bias ? [g.freshName('mm')] : [] });
        fresh = bias ? [mm, new Node('Add', [mm.outputs[0], bias], { outputs: [] })] : [mm];
      } else {
        const data = n.inputs[0]!.const!;
        const t = g.addInitializer(g.freshName('deq'), floatTensor([...data.dims], decodeGatherBlockQuantized(n)));
        fresh = [new Node('Gather', [t, n.inputs[1]], { attributes: [toAttr('axis', 0)], outputs: [] })];
      }
      g.insertBefore(n, ...fresh);
      g.remove(n, { safe: false });
      n.setOutput(0, new Value(''));
      fresh[fresh.length - 1].addOutput(out);
    }
  };
  walk(m.graph);
  return m;
}

async function run(m: Model | string, feeds: Feeds, graphOptimization: 'all' | 'disabled' = 'all') {
  const s = await getBackend('node').createSession(typeof m === 'string' ? m : serializeModel(m), {
    threads: 1,
    graphOptimization,
  });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** max |a − b| / max |a| over every output. */
function relDiff(a: Record<string, HostTensor>, b: Record<string, HostTensor>): number {
  let worst = 0;
  for (const k of Object.keys(a)) {
    const x = a[k].data as Float32Array;
    const y = b[k].data as Float32Array;
    assert.deepEqual(b[k].dims, a[k].dims, k);
    let scale = 1e-12;
    for (const v of x) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / scale);
  }
  return worst;
}

let seed = 7;
function rand(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return lo + ((hi - lo) * seed) / 2 ** 32;
  });
}
const randT = (dims: number[]) => floatTensor(dims, rand(dims.reduce((a, b) => a * b, 1)));

/**
 * One model with every case: MatMul on an initializer (ragged K = 80), the same weight shared by a
 * second MatMul, a [1, K, N] weight in a Constant node behind Identity (rank-3 input), Gemm with
 * transB, beta and a [1, N] bias, Gemm without bias, an embedding Gather, a MatMul inside an If
 * branch on a weight held by a Constant node there, an activation × activation MatMul (skipped) and
 * an excluded node.
 */
function zoo(opset = 17): Model {
  const b = new GraphBuilder('zoo');
  const x = b.input('x', DataType.FLOAT, [3, 80]);
  const x3 = b.input('x3', DataType.FLOAT, [2, 3, 64]);
  const ids = b.input('ids', DataType.INT64, [4]);
  const cond = b.input('cond', DataType.BOOL, []);
  const w1 = b.initializer('w1', randT([80, 40]));
  const h1 = b.op('MatMul', [x, w1], {}, { name: 'mm1' });
  const h2 = b.op('MatMul', [x, w1], {}, { name: 'mm_shared' });
  const w3 = b.op('Identity', [b.constant(randT([1, 64, 24]), 'w3_const')]);
  w3.type = { kind: 'tensor', elemType: DataType.FLOAT, shape: [1, 64, 24] };
  b.graph.valueInfo.push(w3); // released with its Identity
  const h3 = b.op('MatMul', [x3, w3], {}, { name: 'mm_nd' });
  const wg = b.initializer('wg', randT([16, 40]));
  const cg = b.initializer('cg', randT([1, 16]));
  const h4 = b.op('Gemm', [h1, wg, cg], { transB: 1, beta: 0.5 }, { name: 'gemm_tb' });
  const wg2 = b.initializer('wg2', randT([40, 8]));
  const h5 = b.op('Gemm', [h2, wg2], {}, { name: 'gemm_plain' });
  const emb = b.initializer('emb', randT([50, 48]));
  const e = b.op('Gather', [emb, ids], {}, { name: 'embed' });
  const act = b.op('MatMul', [h1, b.op('Transpose', [h2])], {}, { name: 'mm_act' });
  const wx = b.initializer('wx', randT([40, 40]));
  const hx = b.op('MatMul', [h1, wx], {}, { name: 'mm_excluded' });
  // If branches: the then-branch multiplies by a weight in its own Constant node.
  const thenB = new GraphBuilder('then');
  thenB.output(thenB.op('MatMul', [h5, thenB.constant(randT([8, 32]), 'w_then')], {}, { name: 'mm_then' }), 'ty');
  const elseB = new GraphBuilder('else');
  elseB.output(elseB.op('MatMul', [h5, elseB.constant(randT([8, 32]), 'w_else')], {}, { name: 'mm_else' }), 'ey');
  const branch = b.op('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph }, { name: 'if' });
  branch.type = { kind: 'tensor', elemType: DataType.FLOAT, shape: [3, 32] };
  for (const [v, name] of [
    [h3, 'y3'],
    [h4, 'y4'],
    [e, 'ye'],
    [act, 'ya'],
    [hx, 'yx'],
    [branch, 'yb'],
  ] as const)
    b.output(v, name, DataType.FLOAT);
  return b.model({ opset });
}

const zooFeeds = (cond: boolean): Feeds => ({
  x: { type: 'float32', dims: [3, 80], data: rand(240) },
  x3: { type: 'float32', dims: [2, 3, 64], data: rand(384) },
  ids: { type: 'int64', dims: [4], data: BigInt64Array.from([0n, 49n, 7n, 7n]) },
  cond: { type: 'bool', dims: [], data: Uint8Array.of(cond ? 1 : 0) },
});

interface ModelGolden {
  K: number;
  N: number;
  bits: number;
  block_size: number;
  symmetric: boolean;
  seed: number;
  opset_import: Record<string, number>;
  node: {
    op_type: string;
    domain: string;
    name: string;
    inputs: string[];
    outputs: string[];
    attributes: Record<string, number>;
  };
  initializers: { name: string; data_type: number; dims: number[]; raw: string }[];
}

describe('quantize-weight-only', () => {
  it('writes what onnxruntime.quantization.MatMulNBitsQuantizer writes: names, attributes, bytes', () => {
    const goldens = (
      JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/blockwise-goldens.json'), 'utf8')) as {
        models: ModelGolden[];
      }
    ).models;
    assert.equal(goldens.length, 2);
    for (const gm of goldens) {
      const b = new GraphBuilder('g');
      const x = b.input('x', DataType.FLOAT, ['M', gm.K]);
      const w = b.initializer('W', floatTensor([gm.K, gm.N], goldenWeights(gm.seed, gm.K, gm.N)));
      b.output(b.op('MatMul', [x, w], {}, { name: 'mm', output: 'y' }), 'y', DataType.FLOAT, ['M', gm.N]);
      const m = b.model({ opset: 17 });
      const r = quantize(m, { bits: gm.bits, blockSize: gm.block_size, symmetric: gm.symmetric, accuracyLevel: 4 });
      assert.deepEqual(r.counts, { 'MatMul → MatMulNBits': 1 });
      assertValid(m);
      assert.deepEqual(Object.fromEntries(m.opsetImports), gm.opset_import);
      const [n] = m.graph.nodes();
      assert.equal(n.opType, gm.node.op_type);
      assert.equal(n.domain, gm.node.domain);
      assert.equal(n.name, gm.node.name);
      assert.deepEqual(
        n.inputs.map((v) => v?.name),
        gm.node.inputs,
      );
      assert.deepEqual(
        n.outputs.map((v) => v.name),
        gm.node.outputs,
      );
      assert.deepEqual(
        Object.fromEntries([...n.attributes.values()].map((a) => [a.name, Number(a.value)])),
        gm.node.attributes,
      );
      assert.deepEqual(
        [...m.graph.initializers.keys()],
        gm.initializers.map((t) => t.name),
      );
      for (const t of gm.initializers) {
        const got = m.graph.initializers.get(t.name)!.const!;
        assert.equal(got.dtype, t.data_type, t.name);
        assert.deepEqual([...got.dims], t.dims, t.name);
        assert.deepEqual(Buffer.from(got.bytes()), Buffer.from(t.raw, 'base64'), `${t.name} bytes`);
      }
    }
  });

  for (const bits of [4, 8]) {
    for (const symmetric of [false, true]) {
      it(`MatMulNBits ${bits}-bit ${symmetric ? 'sym' : 'asym'}: every case, onnxruntime = A·dequant(B) within 1e-5`, async () => {
        const m = zoo();
        const before = copy(m);
        const r = quantize(m, {
          bits,
          blockSize: 32,
          symmetric,
          opTypes: ['MatMul', 'Gemm', 'Gather'],
          excludeNodes: ['mm_excluded', 'not_there'],
        });
        assertValid(m);
        assert.deepEqual(r.counts, {
          'MatMul → MatMulNBits': 5,
          'Gemm → MatMulNBits': 2,
          'Gather → GatherBlockQuantized': 1,
          'MatMul skipped: weight not constant': 1,
          'MatMul skipped: excluded': 1,
        });
        const notes = r.notes!.join('\n');
        assert.match(notes, /MatMul 'mm_act': weight '.*' is not a constant; left float/);
        assert.match(notes, /MatMul 'mm_excluded': in excludeNodes; left float/);
        assert.match(notes, /excludeNodes names no node: not_there/);
        // The shared weight was quantized once, the float weights are gone (wx stays: excluded).
        assert.equal([...m.graph.initializers.keys()].filter((k) => k.startsWith('w1_Q')).length, 1);
        for (const k of ['w1', 'wg', 'wg2', 'emb']) assert.equal(m.graph.initializers.has(k), false, k);
        assert.equal(opCount(m, 'Constant'), 0, 'weights in Constant nodes released');
        assert.equal(opCount(m, 'Identity'), 0);
        assert.deepEqual(m.graph.valueInfo, [], 'the released value keeps no value_info');
        assert.equal(m.opsetImports.get('com.microsoft'), 1);
        assert.equal(m.irVersion, bits === 4 ? 10 : 8, 'int4 tables need IR 10');
        const twin = dequantizedTwin(m);
        for (const cond of [true, false]) {
          const feeds = zooFeeds(cond);
          const rel = relDiff(await run(twin, feeds), await run(m, feeds));
          const vsFloat = relDiff(await run(before, feeds), await run(m, feeds));
          console.log(
            `zoo ${bits}-bit sym=${symmetric} cond=${cond}: vs dequantized twin ${rel.toExponential(2)}, vs float ${vsFloat.toExponential(2)}`,
          );
          assert.ok(rel <= 1e-5, `relative difference ${rel}`);
          assert.ok(vsFloat > 1e-4 && vsFloat < (bits === 4 ? 0.3 : 0.03), `vs float ${vsFloat}`);
        }
        // wasm runs the contrib ops too.
        const feeds = zooFeeds(true);
        const s = await getBackend('wasm').createSession(serializeModel(m), { threads: 1 });
        const wasm = await s.run(feeds);
        await s.release();
        const rel = relDiff(await run(m, feeds), wasm);
        assert.ok(rel < 1e-5, `wasm vs node ${rel}`);
      });
    }
  }

  it('leaves float, with reasons: float16, batched and rank-raising weights, Gemm alpha/transA, Gather axis 1', () => {
    const b = new GraphBuilder('skips');
    const x = b.input('x', DataType.FLOAT, [3, 32]);
    const h = b.input('h', DataType.FLOAT16, [3, 32]);
    const half = new MemoryTensor(DataType.FLOAT16, [32, 16], new Uint16Array(512).fill(0x3c00));
    const outs = [
      b.op('MatMul', [h, b.initializer('w16', half)], {}, { name: 'mm_half' }),
      b.op('MatMul', [x, b.initializer('wb', randT([2, 32, 16]))], {}, { name: 'mm_batched' }),
      b.op('MatMul', [x, b.initializer('w1', randT([1, 32, 16]))], {}, { name: 'mm_rank' }),
      b.op('Gemm', [x, b.initializer('wa', randT([32, 16]))], { alpha: { float: 2 } }, { name: 'gemm_alpha' }),
      b.op('Gemm', [b.op('Transpose', [x]), b.initializer('wt', randT([32, 16]))], { transA: 1 }, { name: 'gemm_ta' }),
      b.op(
        'Gather',
        [b.initializer('tab', randT([32, 40])), b.initializer('i', int64Tensor([2], [0, 5]))],
        { axis: 1 },
        { name: 'gather_1' },
      ),
    ];
    outs.forEach((v, k) => b.output(v, `y${k}`));
    const m = b.model({ opset: 17 });
    const r = quantize(m, { opTypes: ['MatMul', 'Gemm', 'Gather'] });
    assert.equal(r.changed, false);
    assert.deepEqual(r.counts, {
      'MatMul skipped: weight not float32': 1,
      'MatMul skipped: batched weight': 1,
      'MatMul skipped: weight rank above input rank': 1,
      'Gemm skipped: Gemm alpha ≠ 1': 1,
      'Gemm skipped: Gemm transA': 1,
      'Gather skipped: Gather axis ≠ 0': 1,
    });
    const notes = r.notes!.join('\n');
    assert.match(notes, /MatMul 'mm_half': weight 'w16' is float16 \(only float32 weights\); left float/);
    assert.match(notes, /MatMul 'mm_rank': weight \[1, 32, 16\] has more dims than input 'x' \(rank 2\)/);
    assert.match(notes, /Gather 'gather_1': gathers along axis 1/);
    assert.equal(m.graph.nodes().filter((n) => n.domain === 'com.microsoft').length, 0);
    assertValid(m);
  });

  it('includeNodes restricts, accuracyLevel is written', () => {
    const m = zoo();
    const r = quantize(m, { includeNodes: ['gemm_plain', 'mm1'], opTypes: ['MatMul', 'Gemm'], accuracyLevel: 4 });
    assert.deepEqual(r.counts, { 'MatMul → MatMulNBits': 1, 'Gemm → MatMulNBits': 1 });
    const nbits = m.graph.nodes().filter((n) => n.opType === 'MatMulNBits');
    assert.deepEqual(
      nbits.map((n) => [n.name, n.getInt('accuracy_level'), n.getInt('block_size')]),
      [
        ['mm1_Q4', 4, 128],
        ['gemm_plain_Q4', 4, 128],
      ],
    );
    assert.equal(nbits[1].inputs.length, 4, 'gemm_plain has no bias; asymmetric: zero points');
    assertValid(m);
  });

  describe('format qdq', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'wq-qdq-'));
    after(() => rmSync(tmp, { recursive: true, force: true }));

    for (const [bits, symmetric] of [
      [4, false],
      [4, true],
      [8, false],
      [8, true],
    ] as const) {
      it(`${bits}-bit ${symmetric ? 'sym' : 'asym'}: valid opset-21 ONNX that onnxruntime fuses into MatMulNBits and matches`, async () => {
        const m = zoo(21);
        const r = quantize(m, { format: 'qdq', bits, symmetric, blockSize: 16, opTypes: ['MatMul', 'Gemm', 'Gather'] });
        assertValid(m);
        const qt = bits === 4 ? (symmetric ? 'int4' : 'uint4') : symmetric ? 'int8' : 'uint8';
        assert.deepEqual(r.counts, {
          [`MatMul → DequantizeLinear(${qt}) + MatMul`]: 6,
          [`Gemm → DequantizeLinear(${qt}) + Gemm`]: 2,
          [`Gather → DequantizeLinear(${qt}) + Gather`]: 1,
          'MatMul skipped: weight not constant': 1,
        });
        assert.equal(m.opsetImports.has('com.microsoft'), false, 'plain ONNX');
        assert.equal(opCount(m, 'DequantizeLinear'), 9, 'one DQ per consumer');
        // The shared weight: one copy per consumer, so that onnxruntime can fuse both.
        assert.ok(m.graph.initializers.has(`w1_DQ_Q${bits}`) && m.graph.initializers.has(`w1_DQ_Q${bits}_1`));
        assert.match(r.notes!.join('\n'), /weight 'w1' feeds several nodes: one quantized copy each/);
        const gemm = m.graph.nodes().find((n) => n.name === 'gemm_tb')!;
        assert.deepEqual(
          [gemm.getInt('transB', 0), gemm.getFloat('beta', 1), gemm.inputs[2]?.const?.dims],
          [0, 1, [16]],
        );
        const path = join(tmp, `opt-${bits}-${symmetric}.onnx`);
        const s = await ort.InferenceSession.create(serializeModel(m), {
          graphOptimizationLevel: 'all',
          optimizedModelFilePath: path,
          intraOpNumThreads: 1,
          extra: { session: { qdq_matmulnbits_accuracy_level: '0' } },
        });
        const feeds = zooFeeds(true);
        const ortFeeds = Object.fromEntries(
          Object.entries(feeds).map(([k, t]) => [
            k,
            new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims),
          ]),
        );
        const fused = await s.run(ortFeeds);
        await s.release();
        const opt = loadModel(path);
        const ops = new Map<string, number>();
        for (const g of [opt.graph, ...opt.graph.nodes().flatMap((n) => n.subgraphs())])
          for (const n of g) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
        const nbits = [opt.graph, ...opt.graph.nodes().flatMap((n) => n.subgraphs())].flatMap((g) =>
          g.nodes().filter((n) => n.opType === 'MatMulNBits'),
        );
        console.log(`qdq ${qt}: onnxruntime 'all' →`, Object.fromEntries(ops));
        // Both Gemms, mm1, mm_shared, mm_excluded, mm_nd and the two If-branch MatMuls.
        assert.equal(nbits.length, 8, 'every DQ → MatMul/Gemm fused');
        assert.ok(
          nbits.every((n) => (n.getInt('accuracy_level', 0) ?? 0) === 0),
          'accuracy level 0 kept',
        );
        assert.equal(ops.get('DequantizeLinear') ?? 0, 1, 'only the Gather table stays a DequantizeLinear');
        // Unfused (ORT's own DequantizeLinear, float MatMul) vs fused.
        const plain = await run(m, feeds, 'disabled');
        const asHost = Object.fromEntries(
          Object.entries(fused).map(([k, t]) => [
            k,
            { type: 'float32', dims: [...t.dims], data: t.data } as HostTensor,
          ]),
        );
        const rel = relDiff(plain, asHost);
        console.log(`qdq ${qt}: fused vs unfused max rel ${rel.toExponential(2)}`);
        assert.ok(rel <= 1e-5, `fused vs unfused ${rel}`);
      });
    }

    it('raises an older model to opset 21 first (upgrade-opset), refuses one that cannot be raised', async () => {
      const m = zoo(17);
      const before = copy(m);
      const r = quantize(m, { format: 'qdq', opTypes: ['MatMul', 'Gemm'], blockSize: 16 });
      assertValid(m);
      assert.equal(m.opset, 21);
      assert.ok(m.irVersion >= 10);
      assert.match(r.notes!.join('\n'), /ai\.onnx opset 17 → 21 first/);
      assert.equal(r.counts['MatMul → DequantizeLinear(uint4) + MatMul'], 6);
      const feeds = zooFeeds(false);
      const vsFloat = relDiff(await run(before, feeds), await run(m, feeds));
      assert.ok(vsFloat > 1e-4 && vsFloat < 0.3, `vs float ${vsFloat}`);
      // Nothing to quantize: the opset is left alone.
      const none = zoo(17);
      assert.equal(quantize(none, { format: 'qdq', includeNodes: ['mm_act'] }).changed, false);
      assert.equal(none.opset, 17);
      // GroupNormalization-18 cannot be carried to 21 (its scale/bias changed meaning).
      const b = new GraphBuilder('gn');
      const x = b.input('x', DataType.FLOAT, [1, 4, 8]);
      const gn = b.op('GroupNormalization', [x, b.initializer('s', randT([2])), b.initializer('c', randT([2]))], {
        num_groups: 2,
      });
      b.output(b.op('MatMul', [gn, b.initializer('w', randT([8, 16]))]), 'y', DataType.FLOAT);
      const old = b.model({ opset: 18 });
      assert.throws(
        () => quantize(old, { format: 'qdq' }),
        /format 'qdq' needs ai\.onnx opset ≥ 21 .*cannot be raised: .*GroupNormalization.*use format 'matmulnbits'/,
      );
      assert.equal(old.opset, 18);
    });
  });

  it('refuses an already-quantized model, and bad options with PassOptionError', () => {
    const m = zoo();
    quantize(m);
    assert.throws(() => quantize(m), /already weight-quantized \(com\.microsoft::MatMulNBits 'mm1_Q4'\)/);
    const q = zoo(21);
    quantize(q, { format: 'qdq' });
    assert.throws(
      () => quantize(q, { format: 'qdq' }),
      /already weight-quantized .*DequantizeLinear.*dequantizes a constant for MatMul/,
    );
    for (const [raw, re] of [
      [{ bits: 3 }, /'bits' must be 4 or 8/],
      [{ blockSize: 24 }, /'blockSize' must be a power of two ≥ 16/],
      [{ blockSize: 8 }, /power of two ≥ 16/],
      [{ symmetric: 'yes' }, /'symmetric' must be true or false/],
      [{ format: 'gguf' }, /'format' must be 'matmulnbits' or 'qdq'/],
      [{ opTypes: ['Conv'] }, /'opTypes' must be a non-empty list of MatMul, Gemm, Gather/],
      [{ opTypes: [] }, /'opTypes'/],
      [{ accuracyLevel: 5 }, /'accuracyLevel' must be an integer 0–4/],
      [{ format: 'qdq', accuracyLevel: 4 }, /session\.qdq_matmulnbits_accuracy_level/],
      [{ excludeNodes: 'mm1' }, /'excludeNodes' must be a list of node names/],
      [{ blocksize: 32 }, /unknown option 'blocksize'/],
    ] as const) {
      assert.throws(
        () => parseWeightOnlyOptions(raw as Record<string, unknown>),
        (e: Error) => e instanceof PassOptionError && re.test(e.message),
        JSON.stringify(raw),
      );
    }
    assert.deepEqual(parseWeightOnlyOptions({}), {
      bits: 4,
      blockSize: 128,
      symmetric: false,
      format: 'matmulnbits',
      opTypes: ['MatMul'],
      excludeNodes: [],
      accuracyLevel: 0,
    });
  });
});

describe('quantize-weight-only: real models', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'wq-real-'));
  before(async () => ensureModels());
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const size = (m: Model) => serializeModel(m).byteLength;

  it(
    'spam transformer: int4 block 32 and int8 keep ≥ 98% argmax agreement on the 1,209 test mails',
    { timeout: 120_000 },
    async () => {
      const src = join(REPO_ROOT, 'models/reference/spam-transformer.onnx');
      const float = loadModel(src);
      const data = `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`;
      /** Logits [n, 2] of every test mail, and the labels. */
      const logits = async (bytes: Uint8Array) => {
        const s = await getBackend('node').createSession(bytes);
        const out: number[] = [];
        const labels: number[] = [];
        try {
          const ds = await openDataset(data, { inputs: s.inputs, batchSize: 200 });
          for await (const batch of ds.batches()) {
            out.push(...((await s.run(batch.inputs)).logits.data as Float32Array));
            labels.push(...Array.from(batch.labels!, Number));
          }
        } finally {
          await s.release();
        }
        return { out, labels };
      };
      const ref = await logits(readFileSync(src));
      const n = ref.labels.length;
      const argmax = (x: number[], i: number) => (x[2 * i + 1] > x[2 * i] ? 1 : 0);
      const accuracy = (x: number[]) => ref.labels.filter((l, i) => argmax(x, i) === l).length / n;
      const all = ['MatMul', 'Gemm', 'Gather'];
      for (const [bits, format] of [
        [4, 'matmulnbits'],
        [8, 'matmulnbits'],
        [4, 'qdq'],
      ] as const) {
        const m = loadModel(src);
        const r = quantize(m, { bits, blockSize: 32, opTypes: all, format });
        assertValid(m);
        const q = await logits(serializeModel(m));
        const agreement = ref.labels.filter((_, i) => argmax(q.out, i) === argmax(ref.out, i)).length / n;
        let [dot, na, nb] = [0, 0, 0];
        for (let i = 0; i < q.out.length; i++)
          [dot, na, nb] = [dot + q.out[i] * ref.out[i], na + ref.out[i] ** 2, nb + q.out[i] ** 2];
        console.log(
          `spam-transformer ${format} int${bits} bs32: ${JSON.stringify(r.counts)}; size ${size(float)} → ${size(m)} bytes ` +
            `(×${(size(m) / size(float)).toFixed(3)}); accuracy ${(accuracy(ref.out) * 100).toFixed(2)}% → ${(accuracy(q.out) * 100).toFixed(2)}% ` +
            `(${n} mails); argmax agreement ${(agreement * 100).toFixed(2)}%, logit cosine ${(dot / Math.sqrt(na * nb)).toFixed(6)}`,
        );
        assert.equal(n, 1209);
        assert.ok(agreement >= 0.98, `argmax agreement ${agreement}`);
        assert.ok(size(m) < size(float) * (bits === 4 ? 0.25 : 0.4));
        if (format === 'qdq') {
          assert.equal(m.opset, 21, 'raised from 17 by upgrade-opset');
          assert.equal(r.counts['MatMul → DequantizeLinear(uint4) + MatMul'], 6);
          continue;
        }
        assert.equal(r.counts['MatMul → MatMulNBits'], 6);
        assert.equal(r.counts['Gemm → MatMulNBits'], 3);
        assert.equal(r.counts['Gather → GatherBlockQuantized'], 1);
        // Gemm's bias already is beta·C, one value per column: MatMulNBits reads that initializer.
        assert.deepEqual(
          m.graph
            .nodes()
            .filter((x) => x.opType === 'MatMulNBits' && x.inputs[5])
            .map((x) => x.inputs[5]!.name),
          ['encoder.layers.0.self_attn.out_proj.bias', 'encoder.layers.1.self_attn.out_proj.bias', 'fc.bias'],
        );
      }
    },
  );

  it(
    'Silero v5: no MatMul/Gemm/Gather on float weights (Conv, LSTM); valid and unchanged on node and wasm',
    { timeout: 60_000 },
    async () => {
      const src = modelPath('silero-v5');
      const m = loadModel(src);
      const r = quantize(m, { opTypes: ['MatMul', 'Gemm', 'Gather'] });
      assertValid(m);
      console.log(
        `silero-v5: changed ${r.changed}, counts ${JSON.stringify(r.counts)}, Conv ${opCount(m, 'Conv')}, LSTM ${opCount(m, 'LSTM')}, MatMul ${opCount(m, 'MatMul')}, Gemm ${opCount(m, 'Gemm')}`,
      );
      assert.equal(r.changed, false);
      assert.equal(opCount(m, 'MatMul') + opCount(m, 'Gemm'), 0);
      const feeds: Feeds = {
        input: { type: 'float32', dims: [1, 512], data: rand(512, -0.3, 0.3) },
        state: { type: 'float32', dims: [2, 1, 128], data: new Float32Array(256) },
        sr: { type: 'int64', dims: [], data: BigInt64Array.of(16000n) },
      };
      const bytes = serializeModel(m);
      const a = await run(src, feeds);
      for (const backend of ['node', 'wasm'] as const) {
        const s = await getBackend(backend).createSession(bytes, { threads: 1 });
        const b = await s.run(feeds);
        await s.release();
        const x = a.output.data as Float32Array;
        const y = b.output.data as Float32Array;
        let dot = 0;
        let nx = 0;
        let ny = 0;
        for (let i = 0; i < x.length; i++) [dot, nx, ny] = [dot + x[i] * y[i], nx + x[i] ** 2, ny + y[i] ** 2];
        const cosine = dot / Math.sqrt(nx * ny);
        console.log(`silero-v5 weight-only on ${backend}: output cosine vs float ${cosine.toFixed(8)}`);
        assert.ok(cosine > 0.99999);
      }
    },
  );

  it('PaddleOCR rec int4: OCR exact match on rendered lines', { timeout: 120_000 }, async () => {
    const src = modelPath('ocr-rec');
    const m = loadModel(src);
    const r = quantize(m, { bits: 4, blockSize: 32 });
    assertValid(m);
    const lines = ocrCorpus(32);
    const read = async (model: Uint8Array) => {
      const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 2 });
      const runner: OcrRunner = async (x) => {
        const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) });
        const y = out[s.outputNames[0]];
        return { data: y.data as Float32Array, dims: [...y.dims] };
      };
      try {
        return await ocrAccuracy(runner, lines, { keys: ocrKeysPath() });
      } finally {
        await s.release();
      }
    };
    const base = await read(readFileSync(src));
    const q = await read(serializeModel(m));
    const agree = q.perLine.filter((l, i) => l.read === base.perLine[i].read).length;
    console.log(
      `ocr-rec int4 bs32: ${JSON.stringify(r.counts)}; size ${readFileSync(src).byteLength} → ${size(m)} bytes; ` +
        `exact match ${(base.exactMatch * 100).toFixed(1)}% → ${(q.exactMatch * 100).toFixed(1)}%, CER ${(base.charErrorRate * 100).toFixed(2)}% → ` +
        `${(q.charErrorRate * 100).toFixed(2)}%, same reading as float on ${agree}/${lines.length} lines`,
    );
    assert.ok(r.counts['MatMul → MatMulNBits'] >= 9);
    assert.ok(q.exactMatch >= base.exactMatch - 0.05, `exact match ${q.exactMatch} vs ${base.exactMatch}`);
  });
});
