import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, Value, createNode, type Model } from '@edgeforge/onnx';
import { getBackend } from '../runtime/index.js';
import { PassFailure, maxRelError, runPasses } from './manager.js';
import { Changes, PassOptionError, noOptions, type Pass } from './pass.js';
import { RecipeError, parsePassList, parseRecipe } from './recipe.js';

function model(): Model {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const r = b.op('Relu', [x], {}, { name: 'relu' });
  b.output(b.op('Identity', [r], {}, { name: 'id' }), 'y', DataType.FLOAT, [1, 4]);
  return b.model({ opset: 17 });
}

/** Removes Identity nodes (a correct pass). */
const dropIdentity: Pass<Record<string, never>> = {
  name: 'drop-identity',
  family: 'optimize',
  description: 'test pass',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('drop-identity'),
  run(m) {
    const c = new Changes();
    for (const n of m.graph) {
      if (n.opType !== 'Identity') continue;
      m.graph.replaceAllUsesWith(n.outputs[0], n.inputs[0]!);
      m.graph.remove(n);
      c.add('Identity removed');
    }
    return c.report();
  },
};

/** Breaks the model: leaves a dangling input. */
const breaker: Pass<Record<string, never>> = {
  ...dropIdentity,
  name: 'breaker',
  run(m) {
    const n = m.graph.nodes()[0];
    n.setInput(0, new Value('ghost'));
    return { changed: true, counts: { broken: 1 } };
  },
};

/** Changes the arithmetic: Relu → Sigmoid, valid but wrong. */
const wrong: Pass<Record<string, never>> = {
  ...dropIdentity,
  name: 'wrong',
  run(m) {
    const n = m.graph.nodes()[0];
    const s = createNode('Sigmoid', [n.inputs[0]]);
    m.graph.insertBefore(n, s);
    m.graph.replaceAllUsesWith(n.outputs[0], s.outputs[0]);
    m.graph.remove(n);
    return { changed: true, counts: { replaced: 1 } };
  },
};

const withOption: Pass<{ k: number }> = {
  ...dropIdentity,
  name: 'with-option',
  parseOptions(raw) {
    if (typeof raw.k !== 'number') throw new PassOptionError(`pass 'with-option': option k must be a number`);
    return { k: raw.k };
  },
  run: () => ({ changed: false, counts: {} }),
};

const registry = new Map<string, Pass<never>>(
  [dropIdentity, breaker, wrong, withOption].map((p) => [p.name, p as Pass<never>]),
);
const verifier = () => ({
  createSession: (bytes: Uint8Array) => getBackend('node').createSession(bytes),
  feeds: [{ x: { type: 'float32' as const, dims: [1, 4], data: new Float32Array([-1, 0.5, 2, -3]) } }],
});

describe('pass manager', () => {
  it('runs passes, reports counts and node totals, verifies outputs', async () => {
    const m = model();
    const r = await runPasses(m, parsePassList('drop-identity'), { registry, verify: verifier() });
    assert.equal(r.nodesBefore, 2);
    assert.equal(r.nodesAfter, 1);
    assert.deepEqual(r.steps[0].counts, { 'Identity removed': 1 });
    assert.equal(r.steps[0].verifiedMaxRelError, 0);
    assert.equal(m.graph.outputs[0].name, 'y');
  });

  it('names the pass that breaks the model', async () => {
    await assert.rejects(
      runPasses(model(), parsePassList('breaker'), { registry }),
      (e: Error) => e instanceof PassFailure && /pass 'breaker' produced an invalid model: .*ghost/.test(e.message),
    );
  });

  it('names the pass that changes the outputs', async () => {
    await assert.rejects(
      runPasses(model(), parsePassList('drop-identity,wrong'), { registry, verify: verifier() }),
      /pass 'wrong' changed the model's outputs/,
    );
  });

  it('refuses unknown passes and bad options before running anything', async () => {
    const m = model();
    await assert.rejects(
      runPasses(m, parsePassList('drop-identity,nope'), { registry }),
      (e: Error) => e instanceof RecipeError && /unknown pass 'nope'/.test(e.message),
    );
    assert.equal(m.graph.nodeCount, 2, 'nothing ran');
    await assert.rejects(
      runPasses(m, [{ pass: 'with-option', options: { k: 'x' } }], { registry }),
      /option k must be a number/,
    );
  });

  it('refuses a model that fails the checker', async () => {
    const m = model();
    m.graph.nodes()[0].setInput(0, new Value('ghost'));
    await assert.rejects(
      runPasses(m, parsePassList('drop-identity'), { registry }),
      /fails the checker before any pass/,
    );
  });
});

describe('verify tolerance', () => {
  const t = (data: number[]) => ({
    f: { type: 'float32' as const, dims: [data.length], data: Float32Array.from(data) },
  });
  it('accepts exactly |a−b| ≤ rtol·|a| + 1e-5', () => {
    const ref = t([1, 0, 1e-3, -50]);
    assert.ok(maxRelError(ref, t([1 + 9e-5, 9e-6, 1e-3 + 9e-6, -50.004]), 1e-4) <= 1e-4);
    // 2e-5 next to 1e-3 exceeds 1e-4·1e-3 + 1e-5
    assert.ok(maxRelError(ref, t([1, 0, 1e-3 + 2e-5, -50]), 1e-4) > 1e-4);
    assert.ok(maxRelError(ref, t([1, 2e-5, 1e-3, -50]), 1e-4) > 1e-4);
    assert.equal(maxRelError(ref, t([1, 0, 1e-3, -50]), 1e-4), 0);
    assert.equal(maxRelError(ref, t([1, 0, 1e-3]), 1e-4), Infinity);
  });
});

describe('recipes', () => {
  it('parses YAML and JSON forms', () => {
    const yaml = 'passes:\n  - drop-identity\n  - with-option: { k: 3 }\n  - pass: wrong\n    options: {}\n';
    assert.deepEqual(parseRecipe(yaml), [
      { pass: 'drop-identity', options: {} },
      { pass: 'with-option', options: { k: 3 } },
      { pass: 'wrong', options: {} },
    ]);
    assert.deepEqual(parseRecipe('["drop-identity"]'), [{ pass: 'drop-identity', options: {} }]);
  });

  it('says where a recipe is wrong', () => {
    assert.throws(
      () => parseRecipe('passes: [a, {b: 1}]', 'r.yaml'),
      /r\.yaml: step 2: options of 'b' must be a mapping/,
    );
    assert.throws(() => parseRecipe('{ "passes": [', 'r.json'), /r\.json: does not parse/);
    assert.throws(() => parseRecipe('passes: 3', 'r.yaml'), /expected a list of passes/);
  });
});
