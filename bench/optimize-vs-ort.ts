/**
 * edgeforge's default optimize recipe side by side with ONNX Runtime's own offline optimizer at the
 * `basic` level (session option optimizedModelFilePath, which writes portable ONNX), on the real
 * models: node counts (subgraphs included), vendor-specific ops, file sizes, and session-creation
 * time of each result measured
 * interleaved in this one process (ratio edgeforge / ORT-basic; below 1 means edgeforge's loads faster).
 *
 *   node --import tsx --conditions=source bench/optimize-vs-ort.ts [--rounds 7] [--json]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend, latencyStats, optimizeModel } from '../packages/forge/src/index.ts';
import { loadModel, summarizeModel } from '../packages/onnx/src/index.ts';
import { ensureModels, modelPath, type ModelName } from '../tools/models.ts';

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 7;
const asJson = args.includes('--json');
const models: ModelName[] = ['ocr-det', 'ocr-rec', 'ocr-cls', 'silero-legacy', 'silero-v5'];

await ensureModels();
const dir = mkdtempSync(join(tmpdir(), 'edgeforge-opt-vs-ort-'));
const node = getBackend('node');
const rows = [];
try {
  for (const name of models) {
    const src = modelPath(name);
    const ours = join(dir, `${name}.edgeforge.onnx`);
    const theirs = join(dir, `${name}.ort-basic.onnx`);
    await optimizeModel(src, ours);
    const s = await node.createSession(src, { graphOptimization: 'basic', optimizedModelPath: theirs });
    await s.release();
    const count = (p: string) => {
      const sum = summarizeModel(loadModel(p));
      const vendor = Object.keys(sum.operators).filter((op) => op.includes('::') && !op.startsWith('ai.onnx'));
      return { nodes: sum.nodes, vendor };
    };
    const create = async (p: string) => {
      const t0 = performance.now();
      const x = await node.createSession(p);
      const t = performance.now() - t0;
      await x.release();
      return t;
    };
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        a.push(await create(ours));
        b.push(await create(theirs));
      } else {
        b.push(await create(theirs));
        a.push(await create(ours));
      }
    }
    const o = count(ours);
    const t = count(theirs);
    const orig = count(src);
    rows.push({
      model: name,
      original: orig.nodes,
      edgeforge: o.nodes,
      ortBasic: t.nodes,
      edgeforgeVendorOps: o.vendor,
      ortBasicVendorOps: t.vendor,
      bytesOriginal: statSync(src).size,
      bytesEdgeforge: statSync(ours).size,
      bytesOrtBasic: statSync(theirs).size,
      createMsEdgeforge: latencyStats(a).p50,
      createMsOrtBasic: latencyStats(b).p50,
      createRatio: latencyStats(a).p50 / latencyStats(b).p50,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const kib = (b: number) => (b / 1024).toFixed(0);
if (asJson) console.log(JSON.stringify(rows));
else {
  console.log(
    'model          nodes: original  edgeforge  ORT basic   vendor ops (ef/ORT)   KiB: original  edgeforge  ORT basic' +
      '   session create ms ef / ORT   ratio',
  );
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(15)}${String(r.original).padStart(15)}${String(r.edgeforge).padStart(11)}${String(r.ortBasic).padStart(11)}` +
        `${`${r.edgeforgeVendorOps.length}/${r.ortBasicVendorOps.length}`.padStart(16)}` +
        [r.bytesOriginal, r.bytesEdgeforge, r.bytesOrtBasic].map((b, i) => kib(b).padStart(i ? 11 : 18)).join('') +
        `${`${r.createMsEdgeforge.toFixed(1)} / ${r.createMsOrtBasic.toFixed(1)}`.padStart(29)}${r.createRatio.toFixed(3).padStart(8)}`,
    );
  }
}
