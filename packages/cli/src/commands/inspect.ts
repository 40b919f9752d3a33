import { statSync } from 'node:fs';
import { formatShape, loadModel, summarizeModel, type ModelSummary } from '@edgeforge/onnx';
import { bytes, count, json, table } from '../output.js';

export interface InspectOptions {
  json?: boolean;
  top?: number;
}

/** The JSON document `inspect --json` prints: the summary plus the file it came from. */
export interface InspectResult extends ModelSummary {
  file: string;
  fileBytes: number;
}

export function inspect(path: string, opts: InspectOptions): { text: string; result: InspectResult } {
  const model = loadModel(path);
  const summary = summarizeModel(model, { top: opts.top ?? 10 });
  const result: InspectResult = { file: path, fileBytes: statSync(path).size, ...summary };
  return { text: opts.json ? json(result) : render(result), result };
}

function render(r: InspectResult): string {
  const out: string[] = [];
  const opsets = Object.entries(r.opsets)
    .map(([d, v]) => `${d || 'ai.onnx'} ${v}`)
    .join(', ');
  out.push(`${r.file}  (${bytes(r.fileBytes)}${r.externalData.length ? ` + ${bytes(r.externalData.reduce((s, e) => s + e.bytes, 0))} external` : ''})`);
  out.push(
    table([
      ['IR version', r.irVersion],
      ['producer', `${r.producer.name} ${r.producer.version}`.trim() || '-'],
      ['opsets', opsets || '-'],
      ['nodes', `${r.nodes} in ${r.graphs} graph${r.graphs === 1 ? '' : 's'}${r.functions ? `, ${r.functions} functions` : ''}`],
    ]),
  );
  out.push('', 'inputs');
  out.push(table(r.inputs.map((i) => [i.name, i.type, formatShape(i.shape)])) || '  (none)');
  out.push('', 'outputs');
  out.push(table(r.outputs.map((i) => [i.name, i.type, formatShape(i.shape)])) || '  (none)');
  const p = r.parameters;
  out.push('', `parameters  ${count(p.total)} (${p.total}) in ${bytes(p.bytes)}; float ${count(p.float)} (${p.float})`);
  out.push(
    table(
      [
        ['dtype', 'elements', 'bytes', 'tensors'],
        ...Object.entries(p.byDtype).map(([d, s]) => [d, s.count, bytes(s.bytes), s.tensors]),
      ],
      { align: ['l', 'r', 'r', 'r'] },
    ),
  );
  out.push(
    `  stored in: initializers ${count(p.bySource.initializer)}, Constant nodes ${count(p.bySource.constantNode)}` +
      (p.bySource.sparseInitializer ? `, sparse initializers ${count(p.bySource.sparseInitializer)}` : ''),
  );
  if (r.macs) {
    out.push('', `MACs (estimated, batch 1 where symbolic)  ${count(r.macs.total)}${r.macs.unknownNodes ? `  (${r.macs.unknownNodes} nodes with unknown shapes not counted)` : ''}`);
    out.push(table(Object.entries(r.macs.byOp).map(([op, n]) => [op, count(n)]), { align: ['l', 'r'] }));
  }
  out.push('', 'operators');
  out.push(table(Object.entries(r.operators).map(([op, n]) => [op, n]), { align: ['l', 'r'] }));
  out.push('', `largest tensors`);
  out.push(
    table(
      r.largestTensors.map((t) => [t.name, t.dtype, formatShape(t.shape), bytes(t.bytes), t.source + (t.external ? ` (${t.external})` : ''), t.graph === 'main' ? '' : t.graph]),
    ) || '  (none)',
  );
  if (r.externalData.length) {
    out.push('', 'external data');
    out.push(table(r.externalData.map((e) => [e.location, `${e.tensors} tensors`, bytes(e.bytes)])));
  }
  return out.join('\n');
}
