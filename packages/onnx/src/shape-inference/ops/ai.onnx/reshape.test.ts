import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, I64, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('reshape', () => {
  it('Reshape: 0 copies, −1 is solved, symbols cancel', () => {
    const { b, x } = withInput(['N', 3, 4, 5]);
    const flat = b.op('Reshape', [x, ints(b, [0, -1])]);
    const split = b.op('Reshape', [x, ints(b, [0, 3, 2, -1])]);
    const all = b.op('Reshape', [x, ints(b, [-1])]);
    const back = b.op('Reshape', [all, ints(b, [-1, 60])]);
    run(b);
    assert.equal(ty(flat), 'float[N,60]');
    assert.equal(ty(split), 'float[N,3,2,10]');
    assert.equal(ty(all), 'float[60*N]');
    assert.equal(ty(back), 'float[N,60]');
  });

  it('Reshape: static element counts must agree', () => {
    const { b, x } = withInput([2, 3]);
    const y = b.op('Reshape', [x, ints(b, [4, -1])]);
    const { report } = run(b);
    assert.equal(ty(y), '?');
    assert.equal(report.failed.length, 1);
  });

  it('Reshape: the target is an attribute before opset 5; allowzero from 14', () => {
    const { b, x } = withInput([2, 3, 4]);
    const y = b.op('Reshape', [x], { shape: [6, -1] });
    run(b, 4);
    assert.equal(ty(y), 'float[6,4]');
    const z = withInput([0, 3]);
    const r = z.b.op('Reshape', [z.x, ints(z.b, [3, 0])], { allowzero: 1 });
    run(z.b, 14);
    assert.equal(ty(r), 'float[3,0]');
  });

  it('Reshape: an unknown target of known length gives the rank', () => {
    const { b, x } = withInput([2, 3, 4]);
    const y = b.op('Reshape', [x, b.input('s', I64, [2])]);
    run(b);
    assert.equal(ty(y), 'float[?,?]');
  });

  it('resolves the PyTorch chain Shape → Gather → Unsqueeze → Concat → Reshape with a symbolic batch', () => {
    const { b, x } = withInput(['N', 64, 7, 7]);
    const shape = b.op('Shape', [x]);
    const n = b.op('Gather', [shape, ints(b, [0], [])], { axis: 0 });
    const n1 = b.op('Unsqueeze', [n, ints(b, [0])]);
    const target = b.op('Concat', [n1, ints(b, [-1])], { axis: 0 });
    const y = b.op('Reshape', [x, target]);
    // and the other way round: split a flat batch back, x.view(N, 64, 49)
    const c = b.op('Gather', [shape, ints(b, [1], [])]);
    const t2 = b.op('Concat', [n1, b.op('Unsqueeze', [c, ints(b, [0])]), ints(b, [-1])], { axis: 0 });
    const z = b.op('Reshape', [y, t2]);
    run(b);
    assert.equal(ty(shape), 'int64[4]');
    assert.equal(ty(n), 'int64[]');
    assert.equal(ty(target), 'int64[2]');
    assert.equal(ty(y), 'float[N,3136]');
    assert.equal(ty(z), 'float[N,64,49]');
  });

  it('resolves the Paddle chain Shape → Slice → Concat → Reshape and dims products (B·T)', () => {
    const { b, x } = withInput(['B', 'T', 8, 16]);
    const shape = b.op('Shape', [x]);
    const head = b.op('Slice', [shape, ints(b, [0]), ints(b, [2]), ints(b, [0])]);
    const y = b.op('Reshape', [x, b.op('Concat', [head, ints(b, [128])], { axis: 0 })]);
    const bt = b.op('Mul', [b.op('Gather', [shape, ints(b, [0], [])]), b.op('Gather', [shape, ints(b, [1], [])])]);
    const flat = b.op('Reshape', [y, b.op('Concat', [b.op('Unsqueeze', [bt, ints(b, [0])]), ints(b, [128])], { axis: 0 })]);
    const again = b.op('Reshape', [flat, b.op('Concat', [head, ints(b, [-1])], { axis: 0 })]);
    run(b);
    assert.equal(ty(y), 'float[B,T,128]');
    assert.equal(ty(flat), 'float[B*T,128]');
    assert.equal(ty(again), 'float[B,T,128]');
  });

  it('Flatten, Transpose, DepthToSpace, SpaceToDepth', () => {
    const { b, x } = withInput(['N', 8, 4, 6]);
    const f1 = b.op('Flatten', [x]);
    const f0 = b.op('Flatten', [x], { axis: 0 });
    const fn = b.op('Flatten', [x], { axis: -2 });
    const t = b.op('Transpose', [x], { perm: [0, 2, 3, 1] });
    const rev = b.op('Transpose', [x]);
    const d2s = b.op('DepthToSpace', [x], { blocksize: 2 });
    const s2d = b.op('SpaceToDepth', [x], { blocksize: 2 });
    run(b);
    assert.equal(ty(f1), 'float[N,192]');
    assert.equal(ty(f0), 'float[1,192*N]');
    assert.equal(ty(fn), 'float[8*N,24]');
    assert.equal(ty(t), 'float[N,4,6,8]');
    assert.equal(ty(rev), 'float[6,4,8,N]');
    assert.equal(ty(d2s), 'float[N,2,8,12]');
    assert.equal(ty(s2d), 'float[N,32,2,3]');
  });

  it('Squeeze/Unsqueeze take axes as an attribute before opset 13 and as an input from 13', () => {
    const old = withInput(['N', 1, 5, 1]);
    const sq11 = old.b.op('Squeeze', [old.x], { axes: [1, -1] });
    const un11 = old.b.op('Unsqueeze', [sq11], { axes: [0, 3] });
    run(old.b, 11);
    assert.equal(ty(sq11), 'float[N,5]');
    assert.equal(ty(un11), 'float[1,N,5,1]');
    const cur = withInput(['N', 1, 5, 1]);
    const sq13 = cur.b.op('Squeeze', [cur.x, ints(cur.b, [1, -1])]);
    const un13 = cur.b.op('Unsqueeze', [sq13, ints(cur.b, [-1, 1])]);
    const all = cur.b.op('Squeeze', [cur.b.input('s', F, [1, 3, 1])]);
    const symbolic = cur.b.op('Squeeze', [cur.x]);
    run(cur.b, 13);
    assert.equal(ty(sq13), 'float[N,5]');
    assert.equal(ty(un13), 'float[N,1,5,1]');
    assert.equal(ty(all), 'float[3]');
    assert.equal(ty(symbolic), 'float', 'N might be 1: rank unknown, never guessed');
  });

  it('Squeeze of an axis whose size is not 1 fails', () => {
    const { b, x } = withInput([2, 3]);
    const y = b.op('Squeeze', [x, ints(b, [0])]);
    const { report } = run(b, 13);
    assert.equal(ty(y), '?');
    assert.equal(report.failed.length, 1);
  });

  it('Expand broadcasts with its (possibly symbolic) target; Tile multiplies', () => {
    const { b, x } = withInput(['N', 1, 4]);
    const e = b.op('Expand', [x, ints(b, [2, 1, 3, 1])]);
    const t = b.op('Tile', [x, ints(b, [1, 5, 2])]);
    const unknownReps = b.op('Tile', [x, b.input('r', I64, [3])]);
    run(b);
    assert.equal(ty(e), 'float[2,N,3,4]');
    assert.equal(ty(t), 'float[N,5,8]');
    assert.equal(ty(unknownReps), 'float[?,?,?]');
  });
});
