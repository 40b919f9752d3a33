import { statSync } from 'node:fs';
import { formatShape, summarizeModel, type CheckIssue, type Dim, type ModelSummary } from '@edgeforge/onnx';
import { loadChecked } from '../load.js';
import { bytes, count, json, table } from '../output.js';

export interface InspectOptions {
  json?: boolean;
  top?: number;
  /** Fix symbolic input dims for shape inference and MAC estimates. */
  inputShapes?: Record<string, Dim[]>;
  /** Run the checker first and refuse models onnxruntime would refuse (default true). */
  check?: boolean;
}

/** The JSON document `inspect --json` prints: the summary plus the file it came from. */
export interface InspectResult extends ModelSummary {
  file: string;
  fileBytes: number;
  /** Checker findings that do not stop onnxruntime (errors stop `inspect` unless --no-check). */
  check: { ran: boolean; warnings: CheckIssue[] };
}

export function inspect(path: string, opts: InspectOptions): { text: string; result: InspectResult } {
  const { model, issues } = loadChecked(path, opts.check ?? true);
  const summary = summarizeModel(model, {
    top: opts.top ?? 10,
    macs: { ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}) },
  });
  const result: InspectResult = {
    file: path,
    fileBytes: statSync(path).size,
    ...summary,
    check: { ran: opts.check ?? true, warnings: issues.filter((i) => i.severity === 'warning') },
  };
  return { text: opts.json ? json(result) : render(result), result };
}

function render(r: InspectResult): string {
  const out: string[] = [];
  const opsets = Object.entries(r.opsets)
    .map(([d, v]) => `${d || 'ai.onnx'} ${v}`)
    .join(', ');
  out.push(
    `${r.file}  (${bytes(r.fileBytes)}${r.externalData.length ? ` + ${bytes(r.externalData.reduce((s, e) => s + e.bytes, 0))} external` : ''})`,
  );
  out.push(
    table([
      ['IR version', r.irVersion],
      ['producer', `${r.producer.name} ${r.producer.version}`.trim() || '-'],
      ['opsets', opsets || '-'],
      [
        'nodes',
        `${r.nodes} in ${r.graphs} graph${r.graphs === 1 ? '' : 's'}${r.functions ? `, ${r.functions} functions` : ''}`,
      ],
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
    const note = r.macs.unknownNodes
      ? `  (${r.macs.unknownNodes} nodes with symbolic or unknown shapes not counted; fix them with --input-shape)`
      : '';
    out.push('', `MACs (estimated)  ${count(r.macs.total)} (${r.macs.total})${note}`);
    out.push(
      table(
        Object.entries(r.macs.byOp).map(([op, n]) => [op, count(n)]),
        { align: ['l', 'r'] },
      ),
    );
  }
  out.push('', 'operators');
  out.push(
    table(
      Object.entries(r.operators).map(([op, n]) => [op, n]),
      { align: ['l', 'r'] },
    ),
  );
  out.push('', `largest tensors`);
  out.push(
    table(
      r.largestTensors.map((t) => [
        t.name,
        t.dtype,
        formatShape(t.shape),
        bytes(t.bytes),
        t.source + (t.external ? ` (${t.external})` : ''),
        t.graph === 'main' ? '' : t.graph,
      ]),
    ) || '  (none)',
  );
  out.push(
    '',
    r.check.ran
      ? `checker: onnxruntime would load this model${r.check.warnings.length ? `; ${r.check.warnings.length} warning(s):` : ''}`
      : 'checker: skipped (--no-check)',
  );
  for (const w of r.check.warnings.slice(0, 10)) out.push(`  [${w.rule}] ${w.message}`);
  if (r.check.warnings.length > 10) out.push(`  … ${r.check.warnings.length - 10} more (--json lists all)`);
  if (r.externalData.length) {
    out.push('', 'external data');
    out.push(table(r.externalData.map((e) => [e.location, `${e.tensors} tensors`, bytes(e.bytes)])));
  }
  return out.join('\n');
}
