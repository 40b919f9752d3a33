/**
 * Structured pruning side by side, in one run: for the Fashion-MNIST ResNet and PaddleOCR cls at
 * 25% and 50% of channels removed, parameters, MACs, file and gzip size, and onnxruntime-node
 * latency of the pruned model over the float model after the same optimize recipe, measured
 * interleaved in this one process (ratio < 1: pruned is faster). `--multiple-of n` keeps a multiple
 * of n channels per group (prune-channels' `multipleOf`). Accuracy before fine-tuning is measured in
 * the tests; recovering it is distillation's job.
 *
 *   node --import tsx --conditions=source bench/prune.ts [--iterations 100] [--batch 1] [--threads 1] [--multiple-of 1] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPair, getBackend, openDataset, optimizeModel, pruneModel } from '../packages/forge/src/index.ts';
import { inferShapes, loadModel, modelMacs, summarizeModel } from '../packages/onnx/src/index.ts';
import { ensureModels, modelPath, REPO_ROOT } from '../tools/models.ts';
import { printTable } from './print-table.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const iterations = Number(flag('--iterations')) || 100;
const batch = Number(flag('--batch')) || 1;
// One intra-op thread by default: on a shared 2-core machine that is what stays comparable.
const threads = Number(flag('--threads')) || 1;
const multipleOf = Number(flag('--multiple-of')) || 1;
const asJson = args.includes('--json');

const CASES = [
  {
    name: 'fashion-resnet',
    path: () => join(REPO_ROOT, 'models/reference/fashion-resnet.onnx'),
    shape: [1, 28, 28],
    input: 'input',
  },
  { name: 'ocr-cls', path: () => modelPath('ocr-cls'), shape: [3, 48, 192], input: 'x' },
];

await ensureModels();
const dir = mkdtempSync(join(tmpdir(), 'edgeforge-bench-prune-'));
const node = getBackend('node');
const rows: Record<string, unknown>[] = [];
try {
  for (const c of CASES) {
    const base = join(dir, `${c.name}.fp32.onnx`);
    await optimizeModel(c.path(), base);
    const shapes = { [c.input]: [batch, ...c.shape] };
    const stats = (p: string) => {
      const m = loadModel(p);
      inferShapes(m, { inputShapes: shapes, overwrite: true });
      return { params: summarizeModel(m).parameters.total, macs: modelMacs(m).total };
    };
    const probe = await node.createSession(base);
    const ds = await openDataset(`synthetic:seed=5,count=${batch}`, { inputs: probe.inputs, batchSize: batch, shapes });
    await probe.release();
    let feeds;
    for await (const b of ds.batches()) feeds = b.inputs;
    const b0 = stats(base);
    for (const amount of [0.25, 0.5]) {
      const out = join(dir, `${c.name}.${amount}.onnx`);
      const r = await pruneModel(c.path(), out, {
        method: 'channels',
        passOptions: { amount, multipleOf },
        inputShapes: shapes,
        data: false,
      });
      const p = await benchPair(
        node,
        { model: base, feeds: feeds! },
        { model: out, feeds: feeds! },
        { iterations, warmup: 10, threads },
      );
      const s = stats(out);
      rows.push({
        model: c.name,
        amount,
        paramsRatio: +(s.params / b0.params).toFixed(3),
        macsRatio: +(s.macs / b0.macs).toFixed(3),
        gzipRatio: +(r.gzipAfter / r.gzipBefore).toFixed(3),
        p50FloatMs: +p.a.latencyMs.p50.toFixed(3),
        p50PrunedMs: +p.b.latencyMs.p50.toFixed(3),
        latencyRatio: +p.ratio.toFixed(3),
      });
      if (!asJson) console.error(JSON.stringify(rows.at(-1)));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (asJson) console.log(JSON.stringify(rows, null, 2));
else {
  printTable(rows, 1);
  console.log(
    `\nlatencyRatio = p50(pruned) / p50(float after the same optimize recipe), onnxruntime-node, batch ${batch}, ${threads} thread(s), multipleOf ${multipleOf}, interleaved`,
  );
}
