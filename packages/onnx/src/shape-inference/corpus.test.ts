/**
 * Shape inference over ONNX's conformance suite (Debian libonnx-testdata): no wrong answers.
 *
 * 1. Declared outputs: every node output's type is stripped (graph inputs keep theirs), inference
 *    runs, and every graph output whose declared shape is fully static is compared: element type
 *    and every inferred dim must match (an unknown dim or a missing type is allowed; a wrong one
 *    is not).
 * 2. The same with the test's small reference inputs turned into constants, which exercises the
 *    rules that read constants (Reshape targets, Slice starts, Resize scales, TopK k, …).
 * 3. Every main-graph node output, not only the graph outputs, against what onnxruntime actually
 *    produces on the reference inputs; and onnxruntime still loads every model with the inferred
 *    types saved in it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf, shapeOf, type TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { loadModel, serializeModel } from '../serde/io.js';
import { ort, ortLoads, readTensorPb, toOrt } from '../testing/ort.js';
import { inferShapes } from './infer.js';
import { compare, crossCheckWithOrt } from './testing/ort-check.js';

const SUITE = '/usr/share/libonnx-testdata/data';
const CATEGORIES = ['node', 'simple', 'pytorch-converted', 'pytorch-operator'];

/** Outputs whose declared type is itself not what the model computes (none needed so far). */
const ALLOW: Record<string, string> = {};

function suite(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const cat of CATEGORIES) {
    if (!existsSync(join(SUITE, cat))) continue;
    for (const t of readdirSync(join(SUITE, cat)).sort()) {
      if (existsSync(join(SUITE, cat, t, 'model.onnx'))) out.push({ name: `${cat}/${t}`, dir: join(SUITE, cat, t) });
    }
  }
  return out;
}

/** Turns graph inputs with a small reference tensor into initializers (no longer inputs, so truly constant). */
function promoteSmallInputs(m: Model, dir: string): number {
  let n = 0;
  [...m.graph.inputs].forEach((v, i) => {
    if (v.const) return;
    const t = readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`));
    if (!t || t.size > 64 || t.dtype === DataType.STRING) return;
    v.const = t;
    m.graph.initializers.set(v.name, v);
    m.graph.inputs.splice(m.graph.inputs.indexOf(v), 1);
    n++;
  });
  return n;
}

interface Tally {
  declared: number;
  match: number;
  partial: number;
  none: number;
  mismatches: string[];
}

function inferDeclared(promote: boolean): Tally {
  const t: Tally = { declared: 0, match: 0, partial: 0, none: 0, mismatches: [] };
  for (const { name, dir } of suite()) {
    const m = loadModel(join(dir, 'model.onnx'));
    const declared = new Map<Value, TypeInfo | undefined>();
    for (const n of m.graph) {
      for (const o of n.outputs) {
        if (m.graph.outputs.includes(o)) declared.set(o, o.type);
        o.type = undefined;
      }
    }
    m.graph.valueInfo.length = 0;
    if (promote) promoteSmallInputs(m, dir);
    inferShapes(m);
    for (const [o, d] of declared) {
      const shape = shapeOf(d);
      const et = elemTypeOf(d);
      if (!d || d.kind !== 'tensor' || et === undefined || !shape || !shape.every((x) => typeof x === 'number'))
        continue;
      t.declared++;
      const r = compare(o.type, et, shape as number[]);
      if (r === 'match') t.match++;
      else if (r === 'partial') t.partial++;
      else if (r === 'none') t.none++;
      else if (!ALLOW[`${name}:${o.name}`]) t.mismatches.push(`${name}: ${o.name}: ${r}`);
    }
  }
  return t;
}

describe(
  'shape inference on the conformance suite',
  { skip: existsSync(SUITE) ? false : `${SUITE} is missing (apt-get install libonnx-testdata)` },
  () => {
    it('never contradicts a declared output type', (t) => {
      const r = inferDeclared(false);
      t.diagnostic(
        `declared static outputs ${r.declared}: inferred exactly ${r.match}, partly ${r.partial}, not at all ${r.none}, mismatched ${r.mismatches.length}`,
      );
      assert.ok(r.declared > 1200);
      assert.deepEqual(r.mismatches, []);
      assert.ok(r.match > 1000, `only ${r.match} outputs inferred exactly`);
    });

    it('never contradicts a declared output type when the small reference inputs are constants', (t) => {
      const r = inferDeclared(true);
      t.diagnostic(
        `declared static outputs ${r.declared}: inferred exactly ${r.match}, partly ${r.partial}, not at all ${r.none}, mismatched ${r.mismatches.length}`,
      );
      assert.deepEqual(r.mismatches, []);
      assert.ok(r.match > 1150, `only ${r.match} outputs inferred exactly`);
    });

    it('agrees with onnxruntime on every node output it infers (reference inputs, both as inputs and as constants)', async (t) => {
      const tmp = mkdtempSync(join(tmpdir(), 'edgeforge-si-'));
      try {
        for (const promote of [false, true]) {
          const s = { models: 0, ran: 0, compared: 0, match: 0 };
          const mismatches: string[] = [];
          const rejected: string[] = [];
          for (const { name, dir } of suite()) {
            s.models++;
            const path = join(dir, 'model.onnx');
            const probe = loadModel(path);
            const feeds: Record<string, ort.Tensor> = {};
            let usable = true;
            probe.graph.inputs.forEach((v, i) => {
              if (v.const) return;
              const tensor = readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`));
              if (!tensor) usable = false;
              else {
                try {
                  feeds[v.name] = toOrt(tensor);
                } catch {
                  usable = false;
                }
              }
            });
            if (!usable) continue;
            const m = loadModel(path);
            for (const n of m.graph) for (const o of n.outputs) o.type = undefined;
            m.graph.valueInfo.length = 0;
            if (promote) promoteSmallInputs(m, dir);
            inferShapes(m);
            if (!promote && !(await ortLoads(path))) {
              // onnxruntime must accept the inferred types (value_info) as well as it accepted the original.
              const file = join(tmp, 'inferred.onnx');
              writeFileSync(file, serializeModel(m));
              const err = await ortLoads(file);
              if (err) rejected.push(`${name}: ${err.slice(0, 200)}`);
            }
            let r;
            try {
              r = await crossCheckWithOrt(path, m, feeds, tmp);
            } catch {
              continue; // onnxruntime cannot run this test (training ops, bfloat16, sequences as outputs, old opsets)
            }
            s.ran++;
            s.compared += r.compared;
            s.match += r.match;
            mismatches.push(...r.mismatches.map((x) => `${name}: ${x}`));
          }
          const what = promote ? 'constant reference inputs' : 'reference inputs';
          t.diagnostic(
            `${what}: ${s.ran}/${s.models} models ran; ${s.compared} node outputs compared, ${s.match} inferred exactly, ${mismatches.length} mismatched`,
          );
          assert.deepEqual(mismatches, []);
          assert.deepEqual(rejected, [], 'onnxruntime rejects models carrying the inferred value_info');
          assert.ok(s.ran > 950, `only ${s.ran} models ran`);
        }
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  },
);
