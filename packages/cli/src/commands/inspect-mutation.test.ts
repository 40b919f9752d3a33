/**
 * Mutation test: thousands of corrupted copies of the real models (bytes flipped, ranges
 * overwritten, files truncated). `inspect` must answer every one with either a report or one
 * error line and exit 1: never a crash, a stack trace or a hang.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath, type ModelName } from '../../../../tools/models.ts';
import { run } from '../testing.js';

function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function mutate(src: Uint8Array, rnd: (n: number) => number): { bytes: Uint8Array; how: string } {
  const b = Uint8Array.prototype.slice.call(src);
  switch (rnd(4)) {
    case 0: {
      const k = 1 + rnd(8);
      for (let i = 0; i < k; i++) b[rnd(b.length)] ^= 1 << rnd(8);
      return { bytes: b, how: `flip ${k} bits` };
    }
    case 1: {
      const at = rnd(b.length);
      const len = 1 + rnd(64);
      for (let i = at; i < Math.min(b.length, at + len); i++) b[i] = rnd(256);
      return { bytes: b, how: `overwrite ${len} bytes at ${at}` };
    }
    case 2: {
      const at = rnd(b.length);
      return { bytes: b.subarray(0, at), how: `truncate at ${at}` };
    }
    default: {
      // Header region: lengths and tags of the outer messages are where decoders get hurt.
      const at = rnd(Math.min(b.length, 512));
      b[at] = rnd(256);
      return { bytes: b, how: `header byte ${at}` };
    }
  }
}

describe('inspect survives corrupted models', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-mutation-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const plan: [ModelName, number][] = [
    ['ocr-cls', 1500],
    ['silero-legacy', 600],
    ['silero-v5', 600],
    ['ocr-rec', 150],
    ['ocr-det', 150],
  ];
  for (const [name, count] of plan) {
    it(`${name}: ${count} mutations`, { timeout: 600_000 }, async () => {
      const src = new Uint8Array(readFileSync(modelPath(name)));
      const rnd = prng(0x5eed + count);
      const p = join(tmp, `${name}.onnx`);
      let ok = 0;
      let rejected = 0;
      let slowest = 0;
      for (let i = 0; i < count; i++) {
        const { bytes, how } = mutate(src, rnd);
        writeFileSync(p, bytes);
        const t0 = performance.now();
        const r = await run('inspect', p, '--json');
        slowest = Math.max(slowest, performance.now() - t0);
        if (r.code === 0) {
          ok++;
          assert.doesNotThrow(() => JSON.parse(r.stdout), `${how}: invalid JSON`);
        } else {
          rejected++;
          assert.equal(r.code, 1, `${how}: exit ${r.code}: ${r.stderr}`);
          assert.equal(r.stderr.trim().split('\n').length, 1, `${how}: ${r.stderr}`);
          assert.ok(r.stderr.startsWith(`edgeforge: ${p}: `), `${how}: ${r.stderr}`);
        }
      }
      console.log(
        `${name}: ${count} mutations, ${ok} still inspectable, ${rejected} rejected with one line; slowest ${slowest.toFixed(0)} ms`,
      );
    });
  }
});
