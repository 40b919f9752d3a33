/**
 * The one suite every `Backend` passes (after hono's `common.case.test.ts`): each backend's test
 * file calls `runBackendSuite`, and every skipped case names its reason. Real models, real
 * onnxruntime.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataType, GraphBuilder, int64Tensor, loadModel, saveModel, serializeModel } from '@edgeforge/onnx';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { BackendError, FeedError } from './errors.js';
import type { Backend, HostTensor, Session } from './types.js';

export type CaseName =
  | 'ocr-cls'
  | 'ocr-rec'
  | 'silero'
  | 'bytes'
  | 'types'
  | 'validation'
  | 'refuses'
  | 'run-failure'
  | 'external-data'
  | 'load-errors'
  | 'release'
  | 'optimization-levels';

export interface SuiteOptions {
  backend: Backend;
  /** Cases to skip, each with the reason printed in the report. */
  skip?: Partial<Record<CaseName, string>>;
}

/** A deterministic image-like input in [-1, 1] (PaddleOCR's normalization). */
export function ocrInput(dims: number[]): HostTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * Math.cos(i * 0.011);
  return { type: 'float32', dims, data };
}

function f32(dims: number[], fill = 0): HostTensor {
  return { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill) };
}

function sum(a: ArrayLike<number>, from = 0, to = a.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i];
  return s;
}

/** A model whose only node is an op nobody implements. */
export function madeUpOpModel(): Uint8Array {
  const b = new GraphBuilder('made-up');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  b.output(b.op('Frobnicate', [x], {}, { domain: 'com.example.madeup' }), 'y', DataType.FLOAT, [1, 4]);
  return serializeModel(b.model({ opset: 17, opsets: { 'com.example.madeup': 1 } }));
}

/** Reshape of [N,4] to [5]: loads fine, fails at run time. */
function badReshapeModel(): Uint8Array {
  const b = new GraphBuilder('bad-reshape');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const shape = b.initializer('shape', int64Tensor([1], [5]));
  b.output(b.op('Reshape', [x, shape]), 'y', DataType.FLOAT, [5]);
  return serializeModel(b.model({ opset: 17 }));
}

/** Identity for each element type the host tensors carry (float16 as raw bits, bool as 0/1). */
function identityModel(types: [string, number][]): Uint8Array {
  const b = new GraphBuilder('identity');
  for (const [name, dtype] of types) {
    const x = b.input(name, dtype, [2, 3]);
    b.output(b.op('Identity', [x]), `${name}_out`, dtype, [2, 3]);
  }
  return serializeModel(b.model({ opset: 17 }));
}

function assertOneLine(e: unknown, re: RegExp): true {
  assert.ok(e instanceof Error, 'an Error');
  assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
  assert.match(e.message, re);
  return true;
}

export function runBackendSuite({ backend, skip = {} }: SuiteOptions): void {
  const name = backend.name;
  const opts = { threads: 1 };
  const test = (c: CaseName, title: string, fn: () => Promise<void>) =>
    it(`${c}: ${title}`, skip[c] ? { skip: skip[c] } : {}, fn);

  describe(`${name} backend`, () => {
    let tmp: string;
    before(async () => {
      await ensureModels();
      tmp = mkdtempSync(join(tmpdir(), `edgeforge-${name}-`));
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    test(
      'ocr-cls',
      'PaddleOCR direction classifier: signature from the model, [1,2] probabilities summing to 1',
      async () => {
        const s = await backend.createSession(modelPath('ocr-cls'), opts);
        try {
          assert.equal(s.backend, name);
          assert.equal(s.threads, 1);
          assert.deepEqual(s.inputs, [
            {
              name: 'x',
              type: 'float32',
              dims: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
            },
          ]);
          assert.deepEqual(s.outputs, [
            { name: 'softmax_0.tmp_0', type: 'float32', dims: ['p2o.DynamicDimension.3', 2] },
          ]);
          const out = await s.run({ x: ocrInput([1, 3, 48, 192]) });
          const y = out['softmax_0.tmp_0'];
          assert.equal(y.type, 'float32');
          assert.deepEqual(y.dims, [1, 2]);
          const p = y.data as Float32Array;
          assert.ok(p[0] >= 0 && p[1] >= 0, `probabilities ${p[0]}, ${p[1]}`);
          assert.ok(Math.abs(sum(p) - 1) < 1e-5, `sum ${sum(p)}`);
          // a batch of 3 gives 3 rows, each a distribution
          const b = await s.run({ x: ocrInput([3, 3, 48, 192]) });
          const pb = b['softmax_0.tmp_0'].data as Float32Array;
          assert.deepEqual(b['softmax_0.tmp_0'].dims, [3, 2]);
          for (let r = 0; r < 3; r++) assert.ok(Math.abs(pb[2 * r] + pb[2 * r + 1] - 1) < 1e-5);
        } finally {
          await s.release();
        }
      },
    );

    test('ocr-rec', 'PaddleOCR v4 recognizer: [1,40,6625] per-step distributions', async () => {
      const s = await backend.createSession(modelPath('ocr-rec'), opts);
      try {
        const out = await s.run({ x: ocrInput([1, 3, 48, 320]) });
        const y = out[s.outputs[0].name];
        assert.deepEqual(y.dims, [1, 40, 6625]);
        const p = y.data as Float32Array;
        for (const t of [0, 17, 39]) {
          const total = sum(p, t * 6625, (t + 1) * 6625);
          assert.ok(Math.abs(total - 1) < 1e-4, `step ${t} sums to ${total}`);
        }
      } finally {
        await s.release();
      }
    });

    test('silero', 'Silero VAD v5: float, int64 scalar and state inputs; a subset of outputs', async () => {
      const s = await backend.createSession(modelPath('silero-v5'), opts);
      try {
        assert.deepEqual(
          s.inputs.map((i) => [i.name, i.type, i.dims]),
          [
            ['input', 'float32', [null, null]],
            ['state', 'float32', [2, null, 128]],
            ['sr', 'int64', []],
          ],
        );
        const input = f32([1, 512]);
        for (let i = 0; i < 512; i++) (input.data as Float32Array)[i] = 0.3 * Math.sin(i / 5);
        const feeds = {
          input,
          state: f32([2, 1, 128]),
          sr: { type: 'int64' as const, dims: [], data: new BigInt64Array([16000n]) },
        };
        const out = await s.run(feeds);
        assert.deepEqual(Object.keys(out).sort(), ['output', 'stateN']);
        assert.deepEqual(out.output.dims, [1, 1]);
        assert.deepEqual(out.stateN.dims, [2, 1, 128]);
        const p = (out.output.data as Float32Array)[0];
        assert.ok(p >= 0 && p <= 1, `speech probability ${p}`);
        const only = await s.run(feeds, ['output']);
        assert.deepEqual(Object.keys(only), ['output']);
        assert.equal((only.output.data as Float32Array)[0], p);
      } finally {
        await s.release();
      }
    });

    test('bytes', 'a session from the model bytes equals the one from its path', async () => {
      const a = await backend.createSession(modelPath('ocr-cls'), opts);
      const b = await backend.createSession(new Uint8Array(readFileSync(modelPath('ocr-cls'))), opts);
      try {
        assert.deepEqual(b.inputs, a.inputs);
        const x = { x: ocrInput([1, 3, 48, 192]) };
        assert.deepEqual((await b.run(x))['softmax_0.tmp_0'], (await a.run(x))['softmax_0.tmp_0']);
      } finally {
        await a.release();
        await b.release();
      }
    });

    test('types', 'host tensors of every numeric type and bool go through onnxruntime and back unchanged', async () => {
      const types: [string, number, HostTensor][] = [
        ['f32', DataType.FLOAT, { type: 'float32', dims: [2, 3], data: Float32Array.of(1.5, -2, 0, 3e-8, 1e9, -0) }],
        [
          'f16',
          DataType.FLOAT16,
          { type: 'float16', dims: [2, 3], data: Uint16Array.of(0x3c00, 0xc000, 0, 1, 0x7bff, 0x8000) },
        ],
        ['f64', DataType.DOUBLE, { type: 'float64', dims: [2, 3], data: Float64Array.of(Math.PI, -1e300, 0, 1, 2, 3) }],
        ['i8', DataType.INT8, { type: 'int8', dims: [2, 3], data: Int8Array.of(-128, 127, 0, 1, 2, 3) }],
        ['u8', DataType.UINT8, { type: 'uint8', dims: [2, 3], data: Uint8Array.of(0, 255, 1, 2, 3, 4) }],
        [
          'i32',
          DataType.INT32,
          { type: 'int32', dims: [2, 3], data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3) },
        ],
        [
          'i64',
          DataType.INT64,
          { type: 'int64', dims: [2, 3], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n) },
        ],
        ['b', DataType.BOOL, { type: 'bool', dims: [2, 3], data: Uint8Array.of(1, 0, 1, 1, 0, 0) }],
      ];
      const s = await backend.createSession(identityModel(types.map(([n, d]) => [n, d])), opts);
      try {
        const feeds = Object.fromEntries(types.map(([n, , t]) => [n, t]));
        const out = await s.run(feeds);
        for (const [n, , t] of types) assert.deepEqual(out[`${n}_out`], t, n);
      } finally {
        await s.release();
      }
    });

    test(
      'validation',
      'unknown, missing, wrong type, rank, static dim, data length: one line naming the input',
      async () => {
        const cls = await backend.createSession(modelPath('ocr-cls'), opts);
        const vad = await backend.createSession(modelPath('silero-v5'), opts);
        const err = (re: RegExp) => (e: unknown) => e instanceof FeedError && assertOneLine(e, re);
        const X = `expected float32 \\[p2o\\.DynamicDimension\\.0,3,p2o\\.DynamicDimension\\.1,p2o\\.DynamicDimension\\.2\\]`;
        try {
          await assert.rejects(
            cls.run({ image: ocrInput([1, 3, 48, 192]) }),
            err(/^unknown input 'image'; the model's inputs are 'x' float32 \[p2o\.DynamicDimension\.0,3,/),
          );
          await assert.rejects(
            vad.run({ input: f32([1, 512]), state: f32([2, 1, 128]) }),
            err(
              /^missing input 'sr'; the model's inputs are 'input' float32 \[\?,\?\], 'state' float32 \[2,\?,128\], 'sr' int64 \[\]$/,
            ),
          );
          await assert.rejects(
            cls.run({ x: { type: 'int64', dims: [1, 3, 48], data: new BigInt64Array(144) } }),
            err(new RegExp(`^input 'x': ${X}, got int64 \\[1,3,48\\]$`)),
          );
          await assert.rejects(
            cls.run({ x: f32([1, 3, 48]) }),
            err(new RegExp(`^input 'x': ${X}, got float32 \\[1,3,48\\] \\(rank 3, expected 4\\)$`)),
          );
          await assert.rejects(
            cls.run({ x: f32([1, 1, 48, 192]) }),
            err(new RegExp(`^input 'x': ${X}, got float32 \\[1,1,48,192\\] \\(dim 1 is 1, expected 3\\)$`)),
          );
          await assert.rejects(
            vad.run({
              input: f32([1, 512]),
              state: f32([2, 1, 64]),
              sr: { type: 'int64', dims: [], data: BigInt64Array.of(16000n) },
            }),
            err(/^input 'state': expected float32 \[2,\?,128\], got float32 \[2,1,64\] \(dim 2 is 64, expected 128\)$/),
          );
          await assert.rejects(
            cls.run({ x: { type: 'float32', dims: [1, 3, 48, 192], data: new Float32Array(10) } }),
            err(/^input 'x': dims \[1,3,48,192\] need 27648 elements, data has 10$/),
          );
          await assert.rejects(
            cls.run({ x: { type: 'float32', dims: [1, 3, 48, 192], data: new Float64Array(27648) } as never }),
            err(/^input 'x': float32 data must be a Float32Array, got Float64Array$/),
          );
          await assert.rejects(
            cls.run({ x: ocrInput([1, 3, 48, 192]) }, ['probs']),
            err(/^unknown output 'probs'; the model's outputs are 'softmax_0\.tmp_0' \[p2o\.DynamicDimension\.3,2\]$/),
          );
        } finally {
          await cls.release();
          await vad.release();
        }
      },
    );

    test('refuses', 'a model with an op no backend implements: one line naming the op', async () => {
      await assert.rejects(
        backend.createSession(madeUpOpModel(), opts),
        (e: unknown) =>
          e instanceof BackendError &&
          e.backend === name &&
          assertOneLine(
            e,
            new RegExp(
              `^${name} backend cannot run this model: Fatal error: com\\.example\\.madeup:Frobnicate\\(-1\\) is not a registered function/op$`,
            ),
          ),
      );
    });

    test('run-failure', 'a failure inside onnxruntime at run time: one line without C++ locations', async () => {
      const s = await backend.createSession(badReshapeModel(), opts);
      try {
        await assert.rejects(
          s.run({ x: f32([1, 4]) }),
          (e: unknown) =>
            e instanceof BackendError &&
            assertOneLine(
              e,
              new RegExp(`^${name} backend failed to run the model: .*cannot be reshaped to the requested shape`),
            ) &&
            !/\.(h|cc):\d+|ERROR_CODE|OrtRun/.test(e.message) &&
            /reshape_helper/.test(e.detail),
        );
      } finally {
        await s.release();
      }
    });

    test(
      'external-data',
      'a model with external data runs from its path; from bytes it is refused clearly',
      async () => {
        const path = join(tmp, 'cls.onnx');
        const saved = saveModel(loadModel(modelPath('ocr-cls')), path, { externalDataThreshold: 1024 });
        assert.ok(saved.externalTensors > 20, `${saved.externalTensors} tensors moved to cls.onnx.data`);
        const a = await backend.createSession(modelPath('ocr-cls'), opts);
        const b = await backend.createSession(path, opts);
        try {
          const x = { x: ocrInput([1, 3, 48, 192]) };
          assert.deepEqual((await b.run(x))['softmax_0.tmp_0'], (await a.run(x))['softmax_0.tmp_0']);
        } finally {
          await a.release();
          await b.release();
        }
        await assert.rejects(backend.createSession(new Uint8Array(readFileSync(path)), opts), (e: unknown) =>
          assertOneLine(
            e,
            /^model bytes reference external data \(.*'cls\.onnx\.data'.*\); create the session from the model's file path$/,
          ),
        );
      },
    );

    test('load-errors', 'a missing file and bytes that are not ONNX: one line each', async () => {
      const missing = join(tmp, 'nope.onnx');
      await assert.rejects(backend.createSession(missing, opts), (e: unknown) =>
        assertOneLine(e, /nope\.onnx: no such file$/),
      );
      await assert.rejects(backend.createSession(new Uint8Array([1, 2, 3, 4]), opts), (e: unknown) =>
        assertOneLine(e, /^model bytes: not a valid ONNX protobuf/),
      );
      await assert.rejects(backend.createSession(modelPath('ocr-cls'), { threads: 0 }), (e: unknown) =>
        assertOneLine(e, new RegExp(`^${name} backend: threads must be a positive integer, got 0$`)),
      );
    });

    test('release', 'release is idempotent and a released session refuses to run', async () => {
      const s: Session = await backend.createSession(modelPath('ocr-cls'), opts);
      await s.release();
      await s.release();
      await assert.rejects(s.run({ x: ocrInput([1, 3, 48, 192]) }), (e: unknown) =>
        assertOneLine(e, new RegExp(`^${name} backend: the session was released$`)),
      );
    });

    test('optimization-levels', 'disabled, basic and all give the same probabilities', async () => {
      const x = { x: ocrInput([1, 3, 48, 192]) };
      const results: Float32Array[] = [];
      for (const level of ['disabled', 'basic', 'all'] as const) {
        const s = await backend.createSession(modelPath('ocr-cls'), { ...opts, graphOptimization: level });
        try {
          results.push((await s.run(x))['softmax_0.tmp_0'].data as Float32Array);
        } finally {
          await s.release();
        }
      }
      for (const r of results.slice(1))
        for (let i = 0; i < 2; i++) assert.ok(Math.abs(r[i] - results[0][i]) < 1e-5, `${r[i]} vs ${results[0][i]}`);
    });
  });
}
