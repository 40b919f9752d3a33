/**
 * blockwise: byte-for-byte against ONNX Runtime 1.30's own weight-only tool (goldens written by
 * tools/quant-goldens/blockwise_goldens.py): MatMulNBits 4/8-bit asymmetric and symmetric, the QDQ
 * int4 form and GatherBlockQuantized data, on K=64/N=8/bs=32, K=80/N=5/bs=32 (ragged last block,
 * odd k_blocks), K=96/N=3/bs=16, K=45/N=4/bs=16 (odd K) and hand-made rounding ties. Then
 * onnxruntime runs MatMulNBits and the QDQ form and both match A @ dequant(B).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, MemoryTensor, serializeModel } from '@edgeforge/onnx';
import { getBackend } from '../../runtime/index.js';
import {
  dequantizeBlocks,
  packMatMulNBits,
  quantizeBlocks,
  quantizeMatMulNBits,
  quantizeTable,
  type BlockBits,
  type BlockRounding,
} from './blockwise.js';
import { packValues } from './params.js';
import { goldenWeights } from './testing/golden-weights.js';

interface Packed {
  B: string;
  B_dims: number[];
  scales: string;
  scales_dims: number[];
  zero_points?: string;
  zero_points_dims?: number[];
}
interface GatherGolden {
  data: string;
  scales: string;
  scales_dims: number[];
  zero_points?: string;
}
interface Case {
  name: string;
  K: number;
  N: number;
  block_size: number;
  seed?: number;
  weight?: string;
  weight_sha256?: string;
  [variant: string]: unknown;
}
interface Goldens {
  onnxruntime: string;
  cases: Case[];
}

const GOLDENS = JSON.parse(
  readFileSync(join(import.meta.dirname, 'testdata/blockwise-goldens.json'), 'utf8'),
) as Goldens;

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const bytesOf = (a: Float32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function caseWeights(c: Case): Float32Array {
  if (c.weight) return new Float32Array(b64(c.weight).slice().buffer);
  const w = goldenWeights(c.seed!, c.K, c.N);
  assert.equal(createHash('sha256').update(bytesOf(w)).digest('hex'), c.weight_sha256, `${c.name}: generator`);
  return w;
}

/** Index of the first differing byte, for a readable failure. */
function sameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} bytes, ORT wrote ${want.length}`);
  const i = got.findIndex((b, k) => b !== want[k]);
  assert.equal(i, -1, `${what}: byte ${i} is 0x${got[i]?.toString(16)}, ORT wrote 0x${want[i]?.toString(16)}`);
}

describe('blockwise: byte parity with onnxruntime 1.30 (quantize_matmul_4bits/8bits, QDQ, Gather)', () => {
  it(`goldens come from onnxruntime ${GOLDENS.onnxruntime}`, () => {
    assert.equal(GOLDENS.onnxruntime, '1.30.0');
    assert.ok(GOLDENS.cases.length >= 5);
  });

  for (const c of GOLDENS.cases) {
    for (const symmetric of [false, true]) {
      const tag = symmetric ? 'sym' : 'asym';
      for (const bits of [4, 8] as BlockBits[]) {
        it(`${c.name} MatMulNBits ${bits}-bit ${tag}`, () => {
          const g = c[`nbits${bits}_${tag}`] as Packed;
          const t = quantizeMatMulNBits(caseWeights(c), c.K, c.N, { bits, blockSize: c.block_size, symmetric });
          assert.deepEqual(t.bDims, g.B_dims);
          assert.deepEqual(t.scalesDims, g.scales_dims);
          sameBytes(t.B, b64(g.B), 'B');
          sameBytes(bytesOf(t.scales), b64(g.scales), 'scales');
          if (symmetric) assert.equal(t.zeroPoints, undefined);
          else {
            assert.deepEqual(t.zeroPointsDims, g.zero_points_dims);
            sameBytes(t.zeroPoints!, b64(g.zero_points!), 'zero_points');
          }
        });
      }
      it(`${c.name} QDQ int4 ${tag}`, () => {
        const g = c[`qdq4_${tag}`] as Packed;
        const q = quantizeBlocks(caseWeights(c), c.K, c.N, { bits: 4, blockSize: c.block_size, symmetric }, 'qdq');
        assert.equal(q.signed, symmetric);
        assert.deepEqual([q.kBlocks, c.N], g.scales_dims);
        sameBytes(packValues(q.values, symmetric ? 'int4' : 'uint4'), b64(g.B), 'weight');
        sameBytes(bytesOf(q.scales), b64(g.scales), 'scales');
        if (!symmetric) sameBytes(packValues(q.zeroPoints, 'uint4'), b64(g.zero_points!), 'zero_points');
      });
      const gg = c[`gather4_${tag}`] as GatherGolden | undefined;
      if (gg) {
        it(`${c.name} GatherBlockQuantized int4 ${tag} (table [${c.N}, ${c.K}])`, () => {
          const w = caseWeights(c);
          const table = new Float32Array(c.K * c.N);
          for (let k = 0; k < c.K; k++) for (let n = 0; n < c.N; n++) table[n * c.K + k] = w[k * c.N + n];
          const t = quantizeTable(table, c.N, c.K, { bits: 4, blockSize: c.block_size, symmetric });
          assert.deepEqual([t.rows, t.dBlocks], gg.scales_dims);
          sameBytes(packValues(t.values, symmetric ? 'int4' : 'uint4'), b64(gg.data), 'data');
          sameBytes(bytesOf(t.scales), b64(gg.scales), 'scales');
          if (!symmetric) sameBytes(packValues(t.zeroPoints, 'uint4'), b64(gg.zero_points!), 'zero_points');
        });
      }
    }
  }

  it('the ties case discriminates: any other rounding misses the golden bytes', () => {
    const c = GOLDENS.cases.find((x) => x.name === 'ties')!;
    const w = caseWeights(c);
    const quantize = (rounding: BlockRounding, bits: BlockBits, symmetric: boolean) =>
      quantizeBlocks(w, c.K, c.N, { bits, blockSize: c.block_size, symmetric }, rounding);
    const wrong = (got: Uint8Array, want: string) => got.some((b, i) => b !== b64(want)[i]);
    for (const symmetric of [false, true]) {
      const tag = symmetric ? 'sym' : 'asym';
      for (const bits of [4, 8] as BlockBits[]) {
        const g = c[`nbits${bits}_${tag}`] as Packed;
        // Ties-to-even with MatMulNBits' own order (zero point added before rounding).
        const even = quantize('matmulnbits', bits, symmetric);
        even.values.set(quantize('numpy', bits, symmetric).values.map((v) => (symmetric ? v + 2 ** (bits - 1) : v)));
        assert.ok(wrong(packMatMulNBits(even).B, g.B), `nbits${bits}_${tag}`);
      }
      const qdq = c[`qdq4_${tag}`] as Packed;
      const other = quantize('numpy', 4, symmetric).values;
      assert.ok(wrong(packValues(other, symmetric ? 'int4' : 'uint4'), qdq.B), `qdq4_${tag}`);
      const gather = c[`gather4_${tag}`] as GatherGolden;
      const away = quantize('qdq', 4, symmetric).values;
      const table = new Int32Array(w.length);
      for (let k = 0; k < c.K; k++) for (let n = 0; n < c.N; n++) table[n * c.K + k] = away[k * c.N + n];
      assert.ok(wrong(packValues(table, symmetric ? 'int4' : 'uint4'), gather.data), `gather4_${tag}`);
    }
  });

  it('refuses bad block sizes and bit widths', () => {
    const w = new Float32Array(32);
    for (const blockSize of [8, 24, 0, 17.5])
      assert.throws(() => quantizeBlocks(w, 32, 1, { bits: 4, blockSize, symmetric: false }, 'qdq'), /power of two/);
    assert.throws(
      () => quantizeBlocks(w, 32, 1, { bits: 3 as BlockBits, blockSize: 16, symmetric: false }, 'qdq'),
      /bits must be 4 or 8/,
    );
    assert.throws(() => quantizeBlocks(w, 16, 1, { bits: 4, blockSize: 16, symmetric: false }, 'qdq'), /32 values/);
  });

  it('all-zero and constant blocks: finite, exact zeros', () => {
    const K = 32;
    const w = new Float32Array(K * 2);
    for (let k = 0; k < K; k++) w[k * 2 + 1] = 0.5;
    for (const rounding of ['matmulnbits', 'qdq', 'numpy'] as BlockRounding[]) {
      for (const symmetric of [false, true]) {
        const q = quantizeBlocks(w, K, 2, { bits: 4, blockSize: 16, symmetric }, rounding);
        const d = dequantizeBlocks(q);
        for (let k = 0; k < K; k++) {
          assert.equal(Math.abs(d[k * 2]), 0, `${rounding} ${symmetric} zero column`);
          assert.ok(Math.abs(d[k * 2 + 1] - 0.5) < 1e-7, `${rounding} ${symmetric} constant column: ${d[k * 2 + 1]}`);
        }
      }
    }
  });
});

/** Runs MatMulNBits (or QDQ → MatMul) on onnxruntime-node and compares with A @ dequant(B) in float64. */
describe('blockwise: onnxruntime computes A @ dequant(B)', () => {
  const K = 80;
  const N = 5;
  const M = 3;
  const w = goldenWeights(2, K, N);
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37) * 2);

  function reference(deq: Float32Array): Float64Array {
    const y = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[m * K + k] * deq[k * N + n];
        y[m * N + n] = s;
      }
    return y;
  }

  async function run(bytes: Uint8Array): Promise<Float32Array> {
    const s = await getBackend('node').createSession(bytes, { threads: 1 });
    try {
      const out = await s.run({ a: { type: 'float32', dims: [M, K], data: a } });
      return out.y.data as Float32Array;
    } finally {
      await s.release();
    }
  }

  function maxRel(got: Float32Array, want: Float64Array): number {
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
    return worst;
  }

  for (const bits of [4, 8] as BlockBits[]) {
    for (const symmetric of [false, true]) {
      it(`MatMulNBits ${bits}-bit ${symmetric ? 'sym' : 'asym'} (K=${K}, N=${N}, bs=32)`, async () => {
        const q = quantizeBlocks(w, K, N, { bits, blockSize: 32, symmetric }, 'matmulnbits');
        const t = packMatMulNBits(q);
        const b = new GraphBuilder('g');
        const x = b.input('a', DataType.FLOAT, [M, K]);
        const inputs = [
          x,
          b.initializer('B', new MemoryTensor(DataType.UINT8, t.bDims, t.B)),
          b.initializer('scales', new MemoryTensor(DataType.FLOAT, t.scalesDims, t.scales)),
        ];
        if (t.zeroPoints)
          inputs.push(b.initializer('zp', new MemoryTensor(DataType.UINT8, t.zeroPointsDims!, t.zeroPoints)));
        const y = b.op('MatMulNBits', inputs, { K, N, bits, block_size: 32 }, { domain: 'com.microsoft' });
        b.output(y, 'y', DataType.FLOAT, [M, N]);
        const model = b.model({ opset: 17, opsets: { 'com.microsoft': 1 } });
        const rel = maxRel(await run(serializeModel(model)), reference(dequantizeBlocks(q)));
        console.log(`MatMulNBits ${bits}-bit sym=${symmetric}: max |y − A·deq(B)| / max|y| = ${rel.toExponential(2)}`);
        assert.ok(rel < 1e-5, `relative error ${rel}`);
      });
    }
  }
});
