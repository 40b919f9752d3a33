/**
 * edgeforge's default optimize recipe side by side with ONNX Runtime's own offline optimizer at the
 * `basic` level (session option optimizedModelFilePath, which writes portable ONNX), on the real
 * models: node counts (subgraphs included), vendor-specific ops, file sizes, session-creation time
 * and run latency (one thread) of each result, measured interleaved in this one process (ratio
 * edgeforge / ORT-basic; below 1 means edgeforge's is faster).
 *
 * A second table isolates `dedupe-initializers` sharing tensors across graphs: the default recipe
 * against the same recipe with `acrossGraphs: false`, for the models where that changes the file:
 * size, session creation, latency, whether onnxruntime ('all' level) builds the same graph from
 * both, and whether outputs are bitwise equal.
 *
 *   node --import tsx --conditions=source bench/optimize-vs-ort.ts [--rounds 7] [--runs 300] [--json]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_RECIPE,
  getBackend,
  latencyStats,
  optimizeModel,
  type Feeds,
  type HostTensor,
} from '../packages/forge/src/index.ts';
import { allGraphs, loadModel, summarizeModel } from '../packages/onnx/src/index.ts';
import { ensureModels, modelPath, type ModelName } from '../tools/models.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback;
const rounds = option('--rounds', 7);
const runs = option('--runs', 300);
const asJson = args.includes('--json');

const f32 = (dims: number[], f: (i: number) => number): HostTensor => ({
  type: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
});
const image = (dims: number[]) => f32(dims, (i) => Math.sin(i / 7) * 0.8);
const audio = (n: number) => f32([1, n], (i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000));
const sr: HostTensor = { type: 'int64', dims: [], data: BigInt64Array.from([16000n]) };
const FEEDS: Record<ModelName, () => Feeds> = {
  'ocr-det': () => ({ x: image([1, 3, 320, 320]) }),
  'ocr-rec': () => ({ x: image([1, 3, 48, 320]) }),
  'ocr-cls': () => ({ x: image([1, 3, 48, 192]) }),
  'silero-legacy': () => ({ input: audio(512), sr, h: f32([2, 1, 64], () => 0), c: f32([2, 1, 64], () => 0) }),
  'silero-v5': () => ({ input: audio(512), state: f32([2, 1, 128], () => 0), sr }),
};
const models = Object.keys(FEEDS) as ModelName[];

await ensureModels();
const dir = mkdtempSync(join(tmpdir(), 'edgeforge-opt-vs-ort-'));
const node = getBackend('node');

const count = (p: string) => {
  const sum = summarizeModel(loadModel(p));
  const vendor = Object.keys(sum.operators).filter((op) => op.includes('::') && !op.startsWith('ai.onnx'));
  return { nodes: sum.nodes, vendor };
};

/** Median session-creation ms of each file, alternating which goes first. */
async function createTimes(a: string, b: string): Promise<[number, number]> {
  const create = async (p: string) => {
    const t0 = performance.now();
    const s = await node.createSession(p);
    const t = performance.now() - t0;
    await s.release();
    return t;
  };
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      ta.push(await create(a));
      tb.push(await create(b));
    } else {
      tb.push(await create(b));
      ta.push(await create(a));
    }
  }
  return [latencyStats(ta).p50, latencyStats(tb).p50];
}

/** Median run ms of each file on one thread (sessions open side by side, runs interleaved); bitwise equal outputs. */
async function runTimes(a: string, b: string, feeds: Feeds): Promise<{ ms: [number, number]; bitwise: boolean }> {
  const [sa, sb] = [await node.createSession(a, { threads: 1 }), await node.createSession(b, { threads: 1 })];
  try {
    const ta: number[] = [];
    const tb: number[] = [];
    const time = async (s: typeof sa, t: number[]) => {
      const t0 = performance.now();
      await s.run(feeds);
      t.push(performance.now() - t0);
    };
    for (let i = 0; i < 5; i++) await Promise.all([sa.run(feeds), sb.run(feeds)]);
    for (let i = 0; i < runs; i++) {
      if (i % 2 === 0) {
        await time(sa, ta);
        await time(sb, tb);
      } else {
        await time(sb, tb);
        await time(sa, ta);
      }
    }
    const [oa, ob] = [await sa.run(feeds), await sb.run(feeds)];
    const bitwise = Object.keys(oa).every((k) => bytesOf(oa[k]).equals(bytesOf(ob[k])));
    return { ms: [latencyStats(ta).p50, latencyStats(tb).p50], bitwise };
  } finally {
    await sa.release();
    await sb.release();
  }
}

function bytesOf(t: HostTensor): Buffer {
  const d = t.data;
  if (Array.isArray(d)) return Buffer.from(JSON.stringify(d));
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Node count of the graph onnxruntime builds at its default ('all') level, subgraphs included. */
async function ortAllNodes(p: string): Promise<number> {
  const out = `${p}.ort-all.onnx`;
  await (await node.createSession(p, { optimizedModelPath: out })).release();
  let n = 0;
  for (const g of allGraphs(loadModel(out))) n += g.nodeCount;
  return n;
}

const perGraphSteps = DEFAULT_RECIPE.map((s) =>
  s.pass === 'dedupe-initializers' ? { ...s, options: { acrossGraphs: false } } : s,
);

const rows = [];
const across = [];
try {
  for (const name of models) {
    const src = modelPath(name);
    const ours = join(dir, `${name}.edgeforge.onnx`);
    const theirs = join(dir, `${name}.ort-basic.onnx`);
    await optimizeModel(src, ours);
    const s = await node.createSession(src, { graphOptimization: 'basic', optimizedModelPath: theirs });
    await s.release();
    const [createOurs, createTheirs] = await createTimes(ours, theirs);
    const feeds = FEEDS[name]();
    const run = await runTimes(ours, theirs, feeds);
    const o = count(ours);
    const t = count(theirs);
    rows.push({
      model: name,
      original: count(src).nodes,
      edgeforge: o.nodes,
      ortBasic: t.nodes,
      edgeforgeVendorOps: o.vendor,
      ortBasicVendorOps: t.vendor,
      bytesOriginal: statSync(src).size,
      bytesEdgeforge: statSync(ours).size,
      bytesOrtBasic: statSync(theirs).size,
      createMsEdgeforge: createOurs,
      createMsOrtBasic: createTheirs,
      createRatio: createOurs / createTheirs,
      runMsEdgeforge: run.ms[0],
      runMsOrtBasic: run.ms[1],
      runRatio: run.ms[0] / run.ms[1],
    });

    // The same recipe without sharing across graphs: only where that gives another file.
    const perGraph = join(dir, `${name}.per-graph.onnx`);
    await optimizeModel(src, perGraph, { steps: perGraphSteps });
    if (statSync(perGraph).size === statSync(ours).size) continue;
    const [createPer, createShared] = await createTimes(perGraph, ours);
    const r = await runTimes(perGraph, ours, feeds);
    const [ortPer, ortShared] = [await ortAllNodes(perGraph), await ortAllNodes(ours)];
    across.push({
      model: name,
      bytesPerGraph: statSync(perGraph).size,
      bytesShared: statSync(ours).size,
      createMsPerGraph: createPer,
      createMsShared: createShared,
      runMsPerGraph: r.ms[0],
      runMsShared: r.ms[1],
      ortAllNodesPerGraph: ortPer,
      ortAllNodesShared: ortShared,
      bitwise: r.bitwise,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const kib = (b: number) => (b / 1024).toFixed(0);
if (asJson) console.log(JSON.stringify({ rows, acrossGraphs: across }));
else {
  console.log(
    'model          nodes: original  edgeforge  ORT basic   vendor ops (ef/ORT)   KiB: original  edgeforge  ORT basic' +
      '   session create ms ef / ORT   ratio   run ms (1 thread) ef / ORT   ratio',
  );
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(15)}${String(r.original).padStart(15)}${String(r.edgeforge).padStart(11)}${String(r.ortBasic).padStart(11)}` +
        `${`${r.edgeforgeVendorOps.length}/${r.ortBasicVendorOps.length}`.padStart(16)}` +
        [r.bytesOriginal, r.bytesEdgeforge, r.bytesOrtBasic].map((b, i) => kib(b).padStart(i ? 11 : 18)).join('') +
        `${`${r.createMsEdgeforge.toFixed(1)} / ${r.createMsOrtBasic.toFixed(1)}`.padStart(29)}${r.createRatio.toFixed(3).padStart(8)}` +
        `${`${r.runMsEdgeforge.toFixed(3)} / ${r.runMsOrtBasic.toFixed(3)}`.padStart(29)}${r.runRatio.toFixed(3).padStart(8)}`,
    );
  }
  console.log(
    '\ndedupe-initializers across graphs (default recipe with acrossGraphs: false → default)\n' +
      'model          KiB: per-graph  shared   create ms: per-graph  shared   run ms: per-graph  shared' +
      '   ORT-all nodes   bitwise',
  );
  for (const r of across) {
    console.log(
      `${r.model.padEnd(15)}${kib(r.bytesPerGraph).padStart(15)}${kib(r.bytesShared).padStart(8)}` +
        `${r.createMsPerGraph.toFixed(1).padStart(22)}${r.createMsShared.toFixed(1).padStart(8)}` +
        `${r.runMsPerGraph.toFixed(3).padStart(19)}${r.runMsShared.toFixed(3).padStart(8)}` +
        `${`${r.ortAllNodesPerGraph} / ${r.ortAllNodesShared}`.padStart(16)}${String(r.bitwise).padStart(10)}`,
    );
  }
}
