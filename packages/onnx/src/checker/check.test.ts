/**
 * The checker against onnxruntime 1.30: every case is a tiny model built for one rule, checked
 * after a save/decode round trip (so the checker sees what ORT sees), and handed to
 * onnxruntime-node too. An `error` must be a model ORT refuses; a `warning` or a clean result must
 * be a model ORT loads. Then the whole ONNX conformance suite: no error on any model ORT loads.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { AttrType } from '../ir/attr.js';
import { GraphBuilder, floatTensor } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { Graph } from '../ir/graph.js';
import { FunctionDef, type Model } from '../ir/model.js';
import { ExternalTensor, MemoryTensor } from '../ir/tensor.js';
import { Value } from '../ir/value.js';
import { decodeModel } from '../serde/decode.js';
import { modelToProto } from '../serde/encode.js';
import { loadModel } from '../serde/io.js';
import { ModelProtoSchema, type ModelProto, type TensorProto } from '../serde/proto/onnx_pb.js';
import { CheckError, assertValid, checkModel, checkRules, type CheckIssue } from './index.js';

ort.env.logLevel = 'fatal';
const F = DataType.FLOAT;

/** The model's bytes, optionally edited at the protobuf level (for what the IR will not build). */
function bytesOf(m: Model, tamper?: (p: ModelProto) => void): Uint8Array {
  const p = modelToProto(m);
  tamper?.(p);
  return toBinary(ModelProtoSchema, p);
}

/** undefined when onnxruntime-node creates a session from the bytes, else its error. */
async function ortError(bytes: Uint8Array): Promise<string | undefined> {
  try {
    const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
    await s.release();
    return undefined;
  } catch (e) {
    return String((e as Error).message ?? e).split('\n')[0];
  }
}

const show = (issues: CheckIssue[]) =>
  issues.map((i) => `  ${i.severity} [${i.rule}] ${i.message}`).join('\n') || '  (no issues)';

interface Expect {
  /** `clean`: no issue at all. */
  severity: 'error' | 'warning' | 'clean';
  rule?: string;
  /** Substrings the issue's message must contain (the node label, the graph path …). */
  names?: string[];
}

/**
 * Checks the decoded model and asserts the expected issue; then asserts ORT agrees: refuses the
 * bytes for an error, loads them otherwise.
 */
async function expectIssue(
  m: Model,
  expect: Expect,
  tamper?: (p: ModelProto) => void,
): Promise<CheckIssue | undefined> {
  const bytes = bytesOf(m, tamper);
  const issues = checkModel(decodeModel(bytes));
  let found: CheckIssue | undefined;
  if (expect.severity === 'clean') {
    assert.deepEqual(issues, [], `expected no issues, got:\n${show(issues)}`);
  } else {
    found = issues.find((i) => i.rule === expect.rule && i.severity === expect.severity);
    assert.ok(found, `expected a ${expect.severity} from '${expect.rule}', got:\n${show(issues)}`);
    if (expect.severity === 'warning')
      assert.ok(!issues.some((i) => i.severity === 'error'), `expected no errors, got:\n${show(issues)}`);
    for (const s of expect.names ?? [])
      assert.ok(found.message.includes(s), `message should name ${s}: ${found.message}`);
  }
  const err = await ortError(bytes);
  if (expect.severity === 'error')
    assert.ok(err, `the checker reports an error, but onnxruntime loads the model:\n${show(issues)}`);
  else assert.equal(err, undefined, `onnxruntime refuses a model the checker passes: ${err}\n${show(issues)}`);
  return found;
}

/** x + w → y, named nodes. */
function addModel(opts: { opset?: number; irVersion?: number; constant?: boolean } = {}): Model {
  const b = new GraphBuilder('main');
  const x = b.input('x', F, [2]);
  const w = opts.constant ? b.constant(floatTensor([2], [1, 2]), 'w') : b.initializer('w', floatTensor([2], [1, 2]));
  b.output(b.op('Add', [x, w], {}, { name: 'add', output: 'y' }), undefined, F, [2]);
  return b.model({ opset: opts.opset ?? 13, ...(opts.irVersion ? { irVersion: opts.irVersion } : {}) });
}

/** if c then -(relu x) else relu x, the branches capturing %a. */
function ifModel(opts: { thenOut?: string } = {}): Model {
  const b = new GraphBuilder('main');
  const c = b.input('c', DataType.BOOL, []);
  const x = b.input('x', F, [2]);
  const a = b.op('Relu', [x], {}, { name: 'relu', output: 'a' });
  const tb = new GraphBuilder('then');
  const t0 = tb.op('Neg', [a], {}, { name: 'neg0', output: 't0' });
  tb.output(tb.op('Neg', [t0], {}, { name: 'neg', output: opts.thenOut ?? 't' }), undefined, F, [2]);
  const eb = new GraphBuilder('else');
  eb.output(eb.op('Identity', [a], {}, { name: 'id', output: 'e' }), undefined, F, [2]);
  const y = b.op('If', [c], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'cond', output: 'y' });
  b.output(b.op('Neg', [y], {}, { name: 'late', output: 'z' }), undefined, F, [2]);
  return b.model({ opset: 13 });
}

/** Loop n times: v += x, with the body's iteration input named `iterName`. */
function loopModel(iterName = 'i'): Model {
  const b = new GraphBuilder('main');
  const x = b.input('x', F, [2]);
  const n = b.initializer('n', new MemoryTensor(DataType.INT64, [], new BigInt64Array([2n])));
  const body = new GraphBuilder('body');
  body.input(iterName, DataType.INT64, []);
  const ci = body.input('cin', DataType.BOOL, []);
  const v = body.input('v', F, [2]);
  body.output(body.op('Identity', [ci], {}, { name: 'cid', output: 'cout' }), undefined, DataType.BOOL, []);
  body.output(body.op('Add', [v, x], {}, { name: 'acc', output: 'vout' }), undefined, F, [2]);
  const loop = b.node('Loop', [n, null, x], { body: body.graph }, { name: 'loop', outputs: ['y'] });
  b.output(loop.outputs[0], undefined, F, [2]);
  return b.model({ opset: 13 });
}

/** y = local::MyFn(x), MyFn = Neg(Relu(fx)). */
function functionModel(opts: { importDomain?: boolean; fnOpsets?: Record<string, number> } = {}): Model {
  const fb = new GraphBuilder(new Graph('MyFn'));
  const fx = fb.input('fx', F);
  const t = fb.op('Relu', [fx], {}, { name: 'frelu', output: 'ft' });
  fb.output(fb.op('Neg', [t], {}, { name: 'fneg', output: 'fy' }));
  const f = new FunctionDef('MyFn', 'local', fb.graph);
  for (const [k, v] of Object.entries(opts.fnOpsets ?? { '': 13 })) f.opsetImports.set(k, v);
  const b = new GraphBuilder('main');
  const x = b.input('x', F, [2]);
  b.output(b.op('MyFn', [x], {}, { name: 'call', domain: 'local', output: 'y' }), undefined, F, [2]);
  const m = b.model({ opset: 13, opsets: (opts.importDomain ?? true) ? { local: 1 } : {} });
  m.functions.push(f);
  return m;
}

/** MatMul(x, DequantizeLinear(w, s, z)) with a 4×4 weight. */
function dqModel(q: {
  opset: number;
  dtype?: number;
  scaleDims?: number[];
  axis?: number;
  blockSize?: number;
  constScale?: boolean;
  scaleType?: number;
  domain?: string;
}): Model {
  const b = new GraphBuilder('main');
  const dtype = q.dtype ?? DataType.INT8;
  const data = (n: number) =>
    dtype === DataType.INT4 || dtype === DataType.UINT4
      ? new Uint8Array(Math.ceil(n / 2))
      : dtype === DataType.INT16 || dtype === DataType.UINT16
        ? new Uint16Array(n)
        : new Uint8Array(n);
  const w = b.initializer('w', new MemoryTensor(dtype, [4, 4], data(16)));
  const sd = q.scaleDims ?? [];
  const n = sd.reduce((a, c) => a * c, 1);
  const st =
    q.scaleType === DataType.FLOAT16
      ? new MemoryTensor(DataType.FLOAT16, sd, new Uint16Array(n).fill(0x3800))
      : floatTensor(sd, new Array(n).fill(0.5));
  const s = q.constScale ? b.constant(st, 's') : b.initializer('s', st);
  const z = b.initializer('z', new MemoryTensor(dtype, sd, data(n)));
  const attrs: Record<string, number> = {};
  if (q.axis !== undefined) attrs.axis = q.axis;
  if (q.blockSize !== undefined) attrs.block_size = q.blockSize;
  const d = b.op('DequantizeLinear', [w, s, z], attrs, { name: 'dq', ...(q.domain ? { domain: q.domain } : {}) });
  const x = b.input('x', q.scaleType ?? F, [4, 4]);
  b.output(b.op('MatMul', [x, d], {}, { name: 'mm', output: 'y' }), undefined, q.scaleType ?? F, [4, 4]);
  return b.model({ opset: q.opset, ...(q.domain ? { opsets: { [q.domain]: 1 } } : {}) });
}

/** y = op(x[, extra initializers]), optionally inside both branches of an If. */
function opModel(
  op: string,
  opset: number,
  opts: { extra?: MemoryTensor[]; inIf?: boolean; attrs?: Record<string, number>; outType?: number } = {},
): Model {
  const b = new GraphBuilder('main');
  const x = b.input('x', F, [1, 1, 2, 2]);
  const out = opts.outType ?? F;
  const body = (g: GraphBuilder, tag: string) => {
    const extra = (opts.extra ?? []).map((t, i) => b.initializer(`k${i}`, t));
    return g.op(op, [x, ...extra], opts.attrs ?? {}, { name: `${op.toLowerCase()}${tag}`, output: `y${tag}` });
  };
  if (!opts.inIf) {
    b.output(body(b, ''), undefined, out);
    return b.model({ opset });
  }
  const c = b.input('c', DataType.BOOL, []);
  const tb = new GraphBuilder('then');
  tb.output(body(tb, 't'), undefined, out);
  const eb = new GraphBuilder('else');
  eb.output(body(eb, 'e'), undefined, out);
  const y = b.op('If', [c], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'cond', output: 'y' });
  b.output(y, undefined, out);
  return b.model({ opset });
}

/** if c then x + w (w an initializer of the branch, optionally also its input) else x, at an IR version. */
function branchInitModel(irVersion: number, asInput: boolean): Model {
  const b = new GraphBuilder('main');
  const c = b.input('c', DataType.BOOL, []);
  const x = b.input('x', F, [2]);
  const tb = new GraphBuilder('then');
  const w = tb.initializer('w', floatTensor([2], [1, 2]));
  if (asInput) tb.graph.addInput(w);
  tb.output(tb.op('Add', [x, w], {}, { name: 'add', output: 't' }), undefined, F, [2]);
  const eb = new GraphBuilder('else');
  eb.output(eb.op('Identity', [x], {}, { name: 'id', output: 'e' }), undefined, F, [2]);
  b.output(
    b.op('If', [c], { then_branch: tb.graph, else_branch: eb.graph }, { name: 'cond', output: 'y' }),
    undefined,
    F,
    [2],
  );
  return b.model({ opset: 9, irVersion });
}

describe('checker rules against onnxruntime 1.30', () => {
  it('lists one rule per file', () => {
    assert.deepEqual(checkRules.map((r) => r.name).sort(), [
      'attributes',
      'defined-inputs',
      'graph-io',
      'ir-version',
      'op-exists',
      'qdq-opset',
      'ssa',
      'tensor-data',
      'topological-order',
    ]);
  });

  describe('ssa', () => {
    it('passes a plain graph, an initializer that is also a graph input, and reuse of names across sibling or later scopes', async () => {
      await expectIssue(addModel(), { severity: 'clean' });
      const m = addModel();
      m.graph.addInput(m.graph.initializers.get('w')!);
      await expectIssue(m, { severity: 'clean' });
      await expectIssue(ifModel({ thenOut: 'e' }), { severity: 'clean' }); // same name in then and else
      await expectIssue(ifModel({ thenOut: 'z' }), { severity: 'clean' }); // outer %z is defined after the If
    });
    it('refuses two nodes writing the same name', async () => {
      const m = addModel();
      const b = new GraphBuilder(m.graph);
      b.op('Add', [m.graph.inputs[0], m.graph.inputs[0]], {}, { name: 'add2', output: 'y' });
      await expectIssue(m, { severity: 'error', rule: 'ssa', names: ["Add 'add2'", '%y', "Add 'add'", 'main'] });
    });
    it('refuses a node output named like a graph input, and a graph input declared twice', async () => {
      await expectIssue(addModel(), { severity: 'error', rule: 'ssa', names: ["Add 'add'", 'graph input'] }, (p) => {
        p.graph!.node[0].output[0] = 'x';
        p.graph!.output[0].name = 'x';
      });
      await expectIssue(addModel(), { severity: 'error', rule: 'ssa', names: ["'x' is declared twice"] }, (p) =>
        p.graph!.input.push(structuredClone(p.graph!.input[0])),
      );
    });
    it('refuses two nodes with the same name', async () => {
      await expectIssue(addModel(), { severity: 'error', rule: 'ssa', names: ["node name 'add'"] }, (p) => {
        const n = structuredClone(p.graph!.node[0]);
        n.output[0] = 'y2';
        p.graph!.node.push(n);
      });
    });
    it('refuses a subgraph node output that redefines an outer name', async () => {
      await expectIssue(ifModel({ thenOut: 'x' }), {
        severity: 'error',
        rule: 'ssa',
        names: ["main/If 'cond'/then_branch", "Neg 'neg'", 'enclosing graph'],
      });
    });
    it('warns when a subgraph input shadows an outer name (ORT accepts it)', async () => {
      await expectIssue(loopModel('n'), {
        severity: 'warning',
        rule: 'ssa',
        names: ["main/Loop 'loop'/body", "subgraph input 'n'"],
      });
    });
  });

  describe('defined-inputs', () => {
    it('passes subgraphs that capture outer values', async () => {
      await expectIssue(ifModel(), { severity: 'clean' });
      await expectIssue(loopModel(), { severity: 'clean' });
    });
    it('refuses a node input nothing defines', async () => {
      const m = addModel();
      m.graph.firstNode!.setInput(1, new Value('nope'));
      await expectIssue(m, { severity: 'error', rule: 'defined-inputs', names: ["Add 'add'", '%nope', 'main'] });
    });
    it('refuses a graph output nothing defines', async () => {
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'defined-inputs', names: ['graph output %nope'] },
        (p) => (p.graph!.output[0].name = 'nope'),
      );
    });
    it('refuses an undefined capture in a subgraph', async () => {
      await expectIssue(
        ifModel(),
        { severity: 'error', rule: 'defined-inputs', names: ["main/If 'cond'/then_branch", "Neg 'neg0'", '%zz'] },
        (p) => {
          p.graph!.node[1].attribute[0].g!.node[0].input[0] = 'zz';
        },
      );
    });
    it('refuses, in the IR, inputs whose producer left the graph or whose name an inner scope shadows', () => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [2]);
      const a = b.op('Relu', [x], {}, { name: 'relu', output: 'a' });
      const user = b.node('Neg', [a], {}, { name: 'neg', outputs: ['y'] });
      b.output(user.outputs[0]);
      b.graph.remove(a.producer!, { safe: false });
      user.setInput(0, a);
      const issues = checkModel(b.model());
      assert.ok(
        issues.some(
          (i) =>
            i.rule === 'defined-inputs' &&
            i.severity === 'error' &&
            /Neg 'neg'.*no longer in any graph/.test(i.message),
        ),
        show(issues),
      );

      const m = loopModel();
      const body = m.graph.firstNode!.attr('body')!.value as Graph;
      body.inputs[0].name = 'x'; // the body's Add still reads the outer %x, but a saved model would read the body input
      const shadow = checkModel(m).find((i) => i.rule === 'defined-inputs');
      assert.ok(
        shadow &&
          shadow.severity === 'error' &&
          shadow.message.includes("Add 'acc'") &&
          shadow.message.includes('defines its own'),
        show(checkModel(m)),
      );
    });
  });

  describe('topological-order', () => {
    it('warns about an unsorted main graph, which ORT sorts itself', async () => {
      const found = await expectIssue(
        ifModel(),
        { severity: 'warning', rule: 'topological-order', names: ['graph.topologicalSort()'] },
        (p) => p.graph!.node.reverse(),
      );
      assert.equal(found?.graph, 'main');
    });
    it('warns when a subgraph captures a value a later node of the main graph produces', async () => {
      await expectIssue(
        ifModel(),
        { severity: 'warning', rule: 'topological-order', names: ["If 'cond'", 'then_branch reads %a', "Relu 'relu'"] },
        (p) => {
          p.graph!.node.push(p.graph!.node.shift()!);
        },
      );
    });
    it('refuses an unsorted subgraph', async () => {
      await expectIssue(
        ifModel(),
        {
          severity: 'error',
          rule: 'topological-order',
          names: ["main/If 'cond'/then_branch", "Neg 'neg'", '%t0', "Neg 'neg0'"],
        },
        (p) => {
          p.graph!.node[1].attribute[0].g!.node.reverse();
        },
      );
    });
    it('refuses an unsorted function body', async () => {
      await expectIssue(
        functionModel(),
        { severity: 'error', rule: 'topological-order', names: ['function local::MyFn', "Relu 'frelu'"] },
        (p) => p.functions[0].node.reverse(),
      );
    });
    it('refuses a cycle', async () => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [2]);
      const a = b.op('Relu', [x], {}, { name: 'r1', output: 'a' });
      const c = b.op('Add', [a, x], {}, { name: 'r2', output: 'c' });
      b.output(b.op('Neg', [c], {}, { name: 'n1', output: 'y' }), undefined, F, [2]);
      await expectIssue(
        b.model({ opset: 13 }),
        { severity: 'error', rule: 'topological-order', names: ["Relu 'r1'", "Add 'r2'", 'cycle'] },
        (p) => (p.graph!.node[0].input[0] = 'c'),
      );
    });
  });

  describe('ir-version', () => {
    it('passes the newest opset ORT 1.30 ships (26) at IR 13', async () => {
      await expectIssue(addModel({ opset: 26, irVersion: 13 }), { severity: 'clean' });
    });
    it('refuses IR 14, opset 27, and com.microsoft opset 2', async () => {
      await expectIssue(addModel({ opset: 25, irVersion: 14 }), {
        severity: 'error',
        rule: 'ir-version',
        names: ['IR version 14', 'max 13'],
      });
      await expectIssue(addModel({ opset: 27, irVersion: 13 }), {
        severity: 'error',
        rule: 'ir-version',
        names: ['ai.onnx opset 27', 'max 26'],
      });
      const m = addModel();
      m.opsetImports.set('com.microsoft', 2);
      await expectIssue(m, { severity: 'error', rule: 'ir-version', names: ['com.microsoft opset 2'] });
    });
    it('warns about an IR version lower than the opset needs (ORT loads it)', async () => {
      await expectIssue(addModel({ opset: 21, irVersion: 7 }), {
        severity: 'warning',
        rule: 'ir-version',
        names: ['IR version 7', 'opset 21 needs (IR 10'],
      });
    });
    it('warns at IR 3 about an initializer that is not a graph input', async () => {
      await expectIssue(addModel({ opset: 8, irVersion: 3 }), {
        severity: 'warning',
        rule: 'ir-version',
        names: ["initializer 'w' is not a graph input"],
      });
    });
    it('refuses at IR 3 a subgraph initializer that is not also an input of the subgraph (ORT checks subgraphs only)', async () => {
      await expectIssue(branchInitModel(3, false), {
        severity: 'error',
        rule: 'ir-version',
        names: ["initializer 'w' of a subgraph", "main/If 'cond'/then_branch"],
      });
      await expectIssue(branchInitModel(3, true), { severity: 'warning', rule: 'ir-version' }); // only IR 3 < opset 9's IR 4
      await expectIssue(branchInitModel(4, false), { severity: 'clean' });
    });
    it('refuses a model without opset imports, and ai.onnx imported at version 0', async () => {
      const m = addModel();
      m.opsetImports.clear();
      await expectIssue(m, { severity: 'error', rule: 'ir-version', names: ['imports no operator set'] });
      await expectIssue(addModel({ opset: 0, irVersion: 3 }), {
        severity: 'error',
        rule: 'ir-version',
        names: ["Add 'add'", 'version 0'],
      });
    });
    it("refuses a node of a domain the model does not import; warns for ORT's own domains, which ORT fills in", async () => {
      const custom = new GraphBuilder('main');
      custom.output(
        custom.op('Foo', [custom.input('x', F, [2])], {}, { name: 'foo', domain: 'my.domain', output: 'y' }),
        undefined,
        F,
        [2],
      );
      await expectIssue(custom.model(), {
        severity: 'error',
        rule: 'ir-version',
        names: ["my.domain::Foo 'foo'", "'my.domain'"],
      });
      const ms = new GraphBuilder('main');
      ms.output(
        ms.op('Gelu', [ms.input('x', F, [2])], {}, { name: 'gelu', domain: 'com.microsoft', output: 'y' }),
        undefined,
        F,
        [2],
      );
      await expectIssue(ms.model(), {
        severity: 'warning',
        rule: 'ir-version',
        names: ["com.microsoft::Gelu 'gelu'", 'does not import'],
      });
      await expectIssue(ms.model({ opsets: { 'com.microsoft': 1 } }), { severity: 'clean' });
    });
    it('passes a model-local function; refuses it when the model does not import its domain or the function lacks an import', async () => {
      await expectIssue(functionModel(), { severity: 'clean' });
      await expectIssue(functionModel({ importDomain: false }), {
        severity: 'error',
        rule: 'ir-version',
        names: ["local::MyFn 'call'", "'local'"],
      });
      await expectIssue(functionModel({ fnOpsets: {} }), {
        severity: 'error',
        rule: 'ir-version',
        names: ['function local::MyFn', "Relu 'frelu'"],
      });
    });
    it('refuses a function without imports even when nobody calls it (ORT checks every function at load)', async () => {
      const m = functionModel({ fnOpsets: {} });
      const call = m.graph.firstNode!;
      call.domain = '';
      call.opType = 'Relu';
      await expectIssue(m, {
        severity: 'error',
        rule: 'ir-version',
        names: ['function local::MyFn', 'does not import'],
      });
    });
    it('downgrades what is wrong inside the body of a function nobody calls (ORT does not look)', async () => {
      const m = functionModel();
      const call = m.graph.firstNode!;
      call.domain = '';
      call.opType = 'Relu';
      await expectIssue(
        m,
        { severity: 'warning', rule: 'topological-order', names: ['function local::MyFn', 'never called'] },
        (p) => p.functions[0].node.reverse(),
      );
    });
  });

  describe('op-exists', () => {
    it('refuses an op newer than the opset, in the main graph or a subgraph; passes it at its since-version', async () => {
      await expectIssue(opModel('GreaterOrEqual', 10, { extra: [floatTensor([1], [0])], outType: DataType.BOOL }), {
        severity: 'error',
        rule: 'op-exists',
        names: ["GreaterOrEqual 'greaterorequal'", 'opset 10', 'starts at opset 12'],
      });
      await expectIssue(
        opModel('GreaterOrEqual', 10, { extra: [floatTensor([1], [0])], inIf: true, outType: DataType.BOOL }),
        {
          severity: 'error',
          rule: 'op-exists',
          names: ['then_branch', "GreaterOrEqual 'greaterorequalt'"],
        },
      );
      await expectIssue(opModel('GreaterOrEqual', 12, { extra: [floatTensor([1], [0])], outType: DataType.BOOL }), {
        severity: 'clean',
      });
      await expectIssue(opModel('Celu', 11), { severity: 'error', rule: 'op-exists', names: ['Celu'] });
      await expectIssue(opModel('Celu', 12), { severity: 'clean' });
    });
    it('refuses Upsample from opset 10 and Scatter from 11 (deprecated); passes them just before', async () => {
      const scales = floatTensor([4], [1, 1, 2, 2]);
      await expectIssue(opModel('Upsample', 10, { extra: [scales] }), {
        severity: 'error',
        rule: 'op-exists',
        names: ['Upsample', 'deprecated', 'opset 10'],
      });
      await expectIssue(opModel('Upsample', 9, { extra: [scales] }), { severity: 'clean' });
      const idx = new MemoryTensor(DataType.INT64, [1, 1, 2, 2], new BigInt64Array(4));
      const upd = floatTensor([1, 1, 2, 2], [1, 2, 3, 4]);
      await expectIssue(opModel('Scatter', 11, { extra: [idx, upd] }), {
        severity: 'error',
        rule: 'op-exists',
        names: ['Scatter', 'deprecated'],
      });
      await expectIssue(opModel('Scatter', 10, { extra: [idx, upd] }), { severity: 'clean' });
    });
    it('passes what ORT registers before ONNX does (ThresholdedRelu at opset 9) and GroupNormalization-18', async () => {
      await expectIssue(opModel('ThresholdedRelu', 9), { severity: 'clean' });
      const one = floatTensor([1], [1]);
      await expectIssue(opModel('GroupNormalization', 18, { extra: [one, one], attrs: { num_groups: 1 } }), {
        severity: 'clean',
      });
    });
  });

  describe('qdq-opset', () => {
    it('passes per-tensor Q/DQ at 10, per-axis at 13, blocked and int4/int16 at 21, com.microsoft int4 at 17', async () => {
      await expectIssue(dqModel({ opset: 10 }), { severity: 'clean' });
      await expectIssue(dqModel({ opset: 13, scaleDims: [4], axis: 1 }), { severity: 'clean' });
      await expectIssue(dqModel({ opset: 21, scaleDims: [2, 4], axis: 0, blockSize: 2 }), { severity: 'clean' });
      await expectIssue(dqModel({ opset: 21, dtype: DataType.INT4 }), { severity: 'clean' });
      await expectIssue(dqModel({ opset: 21, dtype: DataType.UINT16 }), { severity: 'clean' });
      await expectIssue(dqModel({ opset: 17, dtype: DataType.INT4, domain: 'com.microsoft' }), { severity: 'clean' });
    });
    it('refuses per-axis (axis attribute) before opset 13, with the scale in an initializer or a Constant', async () => {
      await expectIssue(dqModel({ opset: 12, scaleDims: [4], axis: 1 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ["DequantizeLinear 'dq'", "'axis'", '≥ 13', 'has 12'],
      });
      await expectIssue(dqModel({ opset: 11, scaleDims: [4], axis: 1, constScale: true }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ["DequantizeLinear 'dq'", '≥ 13'],
      });
    });
    it('warns about a per-channel scale without axis before opset 13 (ORT loads it and dequantizes along axis 1)', async () => {
      await expectIssue(dqModel({ opset: 12, scaleDims: [4] }), {
        severity: 'warning',
        rule: 'qdq-opset',
        names: ["DequantizeLinear 'dq'", '%s has 4 elements'],
      });
    });
    it('refuses block_size, int4 and int16 before opset 21, float16 scales before 19', async () => {
      await expectIssue(dqModel({ opset: 20, scaleDims: [2, 4], axis: 0, blockSize: 2 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ["'block_size'", '≥ 21'],
      });
      await expectIssue(dqModel({ opset: 20, dtype: DataType.INT4 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ['int4', '≥ 21', 'com.microsoft'],
      });
      await expectIssue(dqModel({ opset: 19, dtype: DataType.UINT4 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ['uint4', '≥ 21'],
      });
      await expectIssue(dqModel({ opset: 19, dtype: DataType.INT16 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ['int16', '≥ 21'],
      });
      await expectIssue(dqModel({ opset: 18, scaleType: DataType.FLOAT16 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ['scale %s of type float16', '≥ 19'],
      });
    });
    it('refuses an int4 value feeding any ai.onnx op before opset 21', async () => {
      const b = new GraphBuilder('main');
      const w = b.initializer('w', new MemoryTensor(DataType.INT4, [4], new Uint8Array(2)));
      b.output(b.op('Cast', [w], { to: F }, { name: 'cast', output: 'y' }), undefined, F, [4]);
      await expectIssue(b.model({ opset: 19 }), {
        severity: 'error',
        rule: 'qdq-opset',
        names: ["Cast 'cast'", 'int4', '≥ 21'],
      });
      await expectIssue(b.model({ opset: 21 }), { severity: 'clean' });
    });
  });

  describe('graph-io', () => {
    it('refuses a model input without a type, but not an initializer that is also an input', async () => {
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'graph-io', names: ["graph input 'x' has no type"] },
        (p) => (p.graph!.input[0].type = undefined),
      );
      const m = addModel();
      m.graph.addInput(m.graph.initializers.get('w')!);
      await expectIssue(m, { severity: 'clean' }, (p) => (p.graph!.input[1].type = undefined));
    });
    it('warns about outputs without a type, no outputs at all, unnamed inputs', async () => {
      await expectIssue(
        addModel(),
        { severity: 'warning', rule: 'graph-io', names: ["graph output 'y' has no type"] },
        (p) => (p.graph!.output[0].type = undefined),
      );
      await expectIssue(
        addModel(),
        { severity: 'warning', rule: 'graph-io', names: ['no outputs'] },
        (p) => (p.graph!.output = []),
      );
      await expectIssue(
        addModel(),
        { severity: 'warning', rule: 'graph-io', names: ['graph input #1 has no name'] },
        (p) => {
          const vi = structuredClone(p.graph!.input[0]);
          vi.name = '';
          p.graph!.input.push(vi);
        },
      );
    });
    it('refuses an unnamed graph output', async () => {
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'graph-io', names: ['graph output #0 has no name'] },
        (p) => (p.graph!.output[0].name = ''),
      );
    });
    it('refuses a subgraph that returns an outer value directly', async () => {
      await expectIssue(
        ifModel(),
        { severity: 'error', rule: 'graph-io', names: ["main/If 'cond'/then_branch", '%a', 'Identity'] },
        (p) => {
          p.graph!.node[1].attribute[0].g!.output[0].name = 'a';
        },
      );
    });
  });

  describe('tensor-data', () => {
    it('passes raw_data and typed fields of the right size', async () => {
      await expectIssue(addModel(), { severity: 'clean' }, (p) => {
        const t = p.graph!.initializer[0];
        delete (t as Partial<typeof t>).rawData;
        t.floatData = [1, 2];
      });
    });
    it('refuses raw_data or float_data of the wrong size, and present-but-empty raw_data', async () => {
      await expectIssue(
        addModel(),
        {
          severity: 'error',
          rule: 'tensor-data',
          names: ["initializer 'w'", 'raw_data has 4 bytes', 'float[2] needs 8'],
        },
        (p) => {
          p.graph!.initializer[0].rawData = new Uint8Array(4);
        },
      );
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'tensor-data', names: ['float_data has 3 values'] },
        (p) => {
          const t = p.graph!.initializer[0];
          delete (t as Partial<typeof t>).rawData;
          t.floatData = [1, 2, 3];
        },
      );
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'tensor-data', names: ['raw_data has 0 bytes'] },
        (p) => {
          const t = p.graph!.initializer[0];
          t.rawData = new Uint8Array(0);
          t.floatData = [1, 2];
        },
      );
    });
    it("refuses a Constant node's tensor of the wrong size, naming the node", async () => {
      await expectIssue(
        addModel({ constant: true }),
        { severity: 'error', rule: 'tensor-data', names: ['Constant', "attribute 'value'", 'raw_data has 4 bytes'] },
        (p) => {
          p.graph!.node[0].attribute[0].t!.rawData = new Uint8Array(4);
        },
      );
    });
    it('refuses packed int4 of the wrong length', async () => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [3]);
      const w = b.initializer('w', new MemoryTensor(DataType.INT4, [3], new Uint8Array(2)));
      const s = b.initializer('s', floatTensor([], [1]));
      b.output(
        b.op('Add', [x, b.op('DequantizeLinear', [w, s], {}, { name: 'dq' })], {}, { name: 'add', output: 'y' }),
        undefined,
        F,
        [3],
      );
      await expectIssue(b.model({ opset: 21 }), { severity: 'clean' });
      await expectIssue(
        b.model({ opset: 21 }),
        { severity: 'error', rule: 'tensor-data', names: ['int4[3] needs 2'] },
        (p) => (p.graph!.initializer[0].rawData = new Uint8Array(1)),
      );
    });
    it('warns about the wrong size in an unused initializer (ORT drops it); refuses one without a data type', async () => {
      const unused = (p: ModelProto, edit: (t: TensorProto) => void) => {
        const t = structuredClone(p.graph!.initializer[0]);
        t.name = 'u';
        edit(t);
        p.graph!.initializer.push(t);
      };
      await expectIssue(
        addModel(),
        { severity: 'warning', rule: 'tensor-data', names: ["initializer 'u'", 'unused'] },
        (p) => unused(p, (t) => (t.rawData = new Uint8Array(3))),
      );
      await expectIssue(
        addModel(),
        { severity: 'error', rule: 'tensor-data', names: ["initializer 'u' has no data type"] },
        (p) => unused(p, (t) => (t.dataType = 0)),
      );
    });
    it('refuses external data whose file is missing, without reading anything', () => {
      const m = addModel();
      m.graph.addInitializer(
        'w',
        new ExternalTensor(F, [2], { path: '/nonexistent/w.bin', location: 'w.bin', offset: 0, length: 8 }),
      );
      const issues = checkModel(m);
      assert.ok(
        issues.some((i) => i.rule === 'tensor-data' && i.severity === 'error' && i.message.includes("'w.bin'")),
        show(issues),
      );
    });
  });

  describe('attributes', () => {
    it('passes well-typed attributes of common ops', async () => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [1, 1, 4, 4]);
      const w = b.initializer('w', floatTensor([1, 1, 3, 3]));
      const c = b.op(
        'Conv',
        [x, w],
        { strides: [1, 1], pads: [1, 1, 1, 1], group: 1, auto_pad: 'NOTSET' },
        { name: 'conv' },
      );
      b.output(b.op('Transpose', [c], { perm: [0, 1, 3, 2] }, { name: 't', output: 'y' }), undefined, F, [1, 1, 4, 4]);
      await expectIssue(b.model({ opset: 17 }), { severity: 'clean' });
    });
    it('refuses attributes of the wrong type', async () => {
      const b = new GraphBuilder('main');
      const x = b.input('x', F, [2, 3]);
      b.output(b.op('Transpose', [x], { perm: { floats: [1, 0] } }, { name: 'tr', output: 'y' }), undefined, F, [3, 2]);
      await expectIssue(b.model(), {
        severity: 'error',
        rule: 'attributes',
        names: ["Transpose 'tr'", "'perm' is FLOATS", 'expects INTS'],
      });
      const g = new GraphBuilder('main');
      const a = g.input('a', F, [2, 2]);
      g.output(g.op('Gemm', [a, a], { alpha: 1 }, { name: 'gemm', output: 'y' }), undefined, F, [2, 2]);
      await expectIssue(g.model(), {
        severity: 'error',
        rule: 'attributes',
        names: ["Gemm 'gemm'", "'alpha' is INT", 'expects FLOAT'],
      });
    });
    it('refuses an If without else_branch and a Loop without body', async () => {
      await expectIssue(
        ifModel(),
        { severity: 'error', rule: 'attributes', names: ["If 'cond'", "'else_branch' is missing"] },
        (p) => p.graph!.node[1].attribute.pop(),
      );
      await expectIssue(
        loopModel(),
        { severity: 'error', rule: 'attributes', names: ["Loop 'loop'", "'body' is missing"] },
        (p) => p.graph!.node[0].attribute.pop(),
      );
    });
  });
});

describe('checker API', () => {
  it('assertValid throws a one-line CheckError naming the first error and the count, and returns warnings otherwise', () => {
    const m = addModel({ opset: 27, irVersion: 14 });
    assert.throws(
      () => assertValid(m),
      (e: unknown) =>
        e instanceof CheckError &&
        !e.message.includes('\n') &&
        /IR version 14/.test(e.message) &&
        /and 1 more error/.test(e.message) &&
        e.issues.length === 2,
    );
    assert.deepEqual(assertValid(addModel()), []);
    const warned = assertValid(addModel({ opset: 21, irVersion: 7 }));
    assert.equal(warned.length, 1);
    assert.equal(warned[0].severity, 'warning');
  });

  it('sets the node and graph of an issue, and can run or skip rules by name', () => {
    const m = addModel();
    m.graph.firstNode!.setInput(1, new Value('nope'));
    const [issue] = checkModel(m, { rules: ['defined-inputs'] });
    assert.equal(issue.node, "Add 'add'");
    assert.equal(issue.graph, 'main');
    assert.deepEqual(checkModel(m, { skip: ['defined-inputs'] }), []);
    assert.throws(() => checkModel(m, { rules: ['no-such-rule'] }), /unknown checker rule 'no-such-rule'/);
  });

  it('never throws on malformed models: it reports them', () => {
    const empty = new GraphBuilder('').model();
    assert.deepEqual(
      checkModel(empty).map((i) => `${i.severity} ${i.rule}`),
      ['warning graph-io'],
    );

    // Dangling everything, unnamed values, a node reading its own output, a graph holding itself.
    const b = new GraphBuilder('main');
    const ghost = new Value('');
    const n = b.node('Weird', [ghost, new Value('nowhere')], { x: 1 }, { outputs: ['o'] });
    n.setInput(2, n.outputs[0]);
    n.setAttr({ name: 'g', type: AttrType.GRAPH, value: b.graph });
    n.setAttr({ name: 'u', type: AttrType.UNDEFINED, value: undefined });
    b.graph.outputs.push(new Value('missing'));
    const m = b.model();
    m.irVersion = Number.NaN;
    m.opsetImports.clear();
    m.graph.addInitializer('bad', new MemoryTensor(F, [0], new Float32Array(0)));
    let issues: CheckIssue[] = [];
    assert.doesNotThrow(() => (issues = checkModel(m)));
    const rules = new Set(issues.filter((i) => i.severity === 'error').map((i) => i.rule));
    for (const r of ['defined-inputs', 'topological-order', 'attributes', 'ir-version'])
      assert.ok(rules.has(r), `${r} missing:\n${show(issues)}`);
  });
});

const SUITE = '/usr/share/libonnx-testdata/data';

describe(
  'ONNX conformance suite',
  { skip: existsSync(SUITE) ? false : `${SUITE} is missing (apt-get install libonnx-testdata)` },
  () => {
    it('reports no error on any model onnxruntime-node loads', async (t) => {
      const paths: string[] = [];
      for (const cat of readdirSync(SUITE).sort()) {
        for (const test of readdirSync(join(SUITE, cat)).sort()) {
          const p = join(SUITE, cat, test, 'model.onnx');
          if (existsSync(p)) paths.push(p);
        }
      }
      let loadable = 0;
      let clean = 0;
      let warned = 0;
      const falseErrors: string[] = [];
      for (const p of paths) {
        const issues = checkModel(loadModel(p));
        const errors = issues.filter((i) => i.severity === 'error');
        if (errors.length === 0) clean++;
        if (issues.length > errors.length) warned++;
        if ((await ortError(readFileSync(p))) !== undefined) continue;
        loadable++;
        if (errors.length) falseErrors.push(`${p.slice(SUITE.length + 1)}: ${errors[0].message}`);
      }
      t.diagnostic(
        `models: ${paths.length}, ORT-loadable: ${loadable}, checker-clean (no error): ${clean}, with warnings: ${warned}`,
      );
      assert.ok(paths.length > 1000, `only ${paths.length} models found`);
      assert.ok(loadable > 900, `only ${loadable} models load in onnxruntime`);
      assert.deepEqual(falseErrors, [], 'errors on models onnxruntime loads');
    });
  },
);
