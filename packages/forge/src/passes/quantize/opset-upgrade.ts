/**
 * Raises a model's ai.onnx opset (7…10 → at most 11), rewriting the nodes whose operator changed
 * its signature on the way, the way `onnx.version_converter` does for ORT's quantizer ("opset < 10
 * is converted to 11"). Quantization needs it: `DynamicQuantizeLinear` exists from opset 11, and
 * paddle2onnx still writes opset 9 (PP-OCR).
 *
 * Rewritten (attribute → input, same arithmetic):
 * - `Clip` (6 → 11): `min` / `max` become scalar inputs of the input's element type;
 * - `Pad` (2 → 11): `pads` becomes an int64 input, `value` a scalar input;
 * - `Slice` (1 → 10): `starts` / `ends` / `axes` become int64 inputs;
 * - `TopK` (1 → 10): `k` becomes a [1] int64 input;
 * - `BatchNormalization` (7 → 9): the `spatial = 1` attribute is dropped (9 has no `spatial`);
 * - `Scatter` (deprecated at 11) becomes `ScatterElements`, its identical successor.
 *
 * Every other change between 7 and 11 only widens an operator (more types, negative axes, optional
 * inputs or attributes whose default keeps the old behaviour), so those nodes stay as they are.
 * Refused, naming the node: `Upsample` and `Resize` (their inputs and coordinate rules changed),
 * `Scan` below 9 (the batch axis went away), a `Dropout` whose mask is used (its type changed),
 * `ConvTranspose` with `auto_pad = SAME_*`, `BatchNormalization` with `spatial = 0`, opsets below
 * 7, model-local functions in the ai.onnx domain, and targets above 11.
 */
import {
  DataType,
  MemoryTensor,
  allGraphs,
  elemTypeOf,
  inferShapes,
  irVersionForOpset,
  type Graph,
  type Model,
  type Node,
  type Value,
} from '@edgeforge/onnx';
import { floatToHalf } from '../../runtime/tensor.js';
import type { ModelNames } from './model-names.js';

/** Highest target this module knows the changes up to. */
export const MAX_UPGRADE_OPSET = 11;

export interface OpsetUpgrade {
  from: number;
  to: number;
  /** Nodes rewritten, by op type. */
  rewritten: Record<string, number>;
}

/** A node's rewrite, or why the node blocks the upgrade. */
type Plan = (Rewrite & { blocked?: undefined }) | { blocked: string };

const isOnnx = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** Why `model` cannot be raised to `target` (empty when it can). */
export function opsetUpgradeBlockers(model: Model, target: number, names?: ModelNames): string[] {
  return collect(model, target, names).blockers;
}

/**
 * Raises the ai.onnx opset of `model` to `target` in place (and the IR version to the lowest that
 * covers it). Throws one line naming every blocking node, changing nothing, when it cannot.
 */
export function upgradeOpset(model: Model, target: number, names: ModelNames): OpsetUpgrade {
  const from = model.opset;
  if (from >= target) return { from, to: from, rewritten: {} };
  const { blockers, plans } = collect(model, target, names);
  if (blockers.length)
    throw new Error(`cannot raise ai.onnx opset ${from} to ${target}: ${blockers.slice(0, 5).join('; ')}`);
  const rewritten: Record<string, number> = {};
  for (const [n, p] of plans) {
    const op = n.opType;
    p.apply();
    rewritten[op] = (rewritten[op] ?? 0) + 1;
  }
  const key = model.opsetImports.has('ai.onnx') && !model.opsetImports.has('') ? 'ai.onnx' : '';
  model.opsetImports.set(key, target);
  model.irVersion = Math.max(model.irVersion, irVersionForOpset(target));
  return { from, to: target, rewritten };
}

type Rewrite = { apply: () => void };

function collect(model: Model, target: number, names?: ModelNames): { blockers: string[]; plans: [Node, Rewrite][] } {
  const from = model.opset;
  const blockers: string[] = [];
  const plans: [Node, Rewrite][] = [];
  if (from >= target) return { blockers, plans };
  if (target > MAX_UPGRADE_OPSET) blockers.push(`upgrades go up to opset ${MAX_UPGRADE_OPSET} (asked for ${target})`);
  if (from < 7) blockers.push(`opset ${from} is older than 7`);
  for (const f of model.functions)
    if ([...f.graph].some(isOnnx)) blockers.push(`function ${f.domain}::${f.name} uses ai.onnx ops`);
  if (blockers.length) return { blockers, plans };
  let inferred = false;
  const elemType = (v: Value | null | undefined): number | undefined => {
    if (!v) return undefined;
    if (elemTypeOf(v.type) === undefined && !inferred) {
      inferred = true;
      inferShapes(model, { valueInfo: false });
    }
    return elemTypeOf(v.type);
  };
  for (const g of allGraphs(model, { functions: false })) {
    for (const n of g) {
      if (!isOnnx(n)) continue;
      const p = planNode(n, g, from, target, elemType, names);
      if (!p) continue;
      if (p.blocked !== undefined) blockers.push(`${n} ${p.blocked}`);
      else plans.push([n, p]);
    }
  }
  return { blockers, plans };
}

/** Did the operator change at `version` on the way from `from` to `to`? */
const crosses = (from: number, to: number, version: number) => from < version && to >= version;

function planNode(
  n: Node,
  g: Graph,
  from: number,
  to: number,
  elemType: (v: Value | null | undefined) => number | undefined,
  names: ModelNames | undefined,
): Plan | undefined {
  const constant = (base: string, t: MemoryTensor): Value => {
    const name = names ? names.value(base) : g.freshName(base);
    return g.addInitializer(name, t);
  };
  const base = n.name || n.outputs[0]?.name || n.opType;
  switch (n.opType) {
    case 'Clip': {
      if (!crosses(from, to, 11)) return undefined;
      const min = n.getFloat('min');
      const max = n.getFloat('max');
      if (min === undefined && max === undefined) return undefined;
      const t = elemType(n.inputs[0]);
      if (t === undefined || !SCALAR[t]) return { blocked: `has min/max for an input of unknown or non-float type` };
      return {
        apply: () => {
          n.attributes.delete('min');
          n.attributes.delete('max');
          n.setInput(1, min === undefined ? null : constant(`${base}_min`, SCALAR[t]!(min)));
          if (max !== undefined) n.setInput(2, constant(`${base}_max`, SCALAR[t]!(max)));
        },
      };
    }
    case 'Pad': {
      if (!crosses(from, to, 11)) return undefined;
      const pads = n.getInts('pads');
      if (!pads) return { blocked: 'has no pads attribute' };
      const value = n.getFloat('value', 0);
      const t = value === 0 ? undefined : elemType(n.inputs[0]);
      if (value !== 0 && (t === undefined || !SCALAR[t]))
        return { blocked: 'pads with a value for an input of unknown or non-float type' };
      return {
        apply: () => {
          n.attributes.delete('pads');
          n.attributes.delete('value');
          n.setInput(1, constant(`${base}_pads`, ints(pads)));
          if (value !== 0) n.setInput(2, constant(`${base}_value`, SCALAR[t!]!(value)));
        },
      };
    }
    case 'Slice': {
      if (!crosses(from, to, 10)) return undefined;
      const starts = n.getInts('starts');
      const ends = n.getInts('ends');
      const axes = n.getInts('axes');
      if (!starts || !ends) return { blocked: 'has no starts/ends attributes' };
      return {
        apply: () => {
          for (const a of ['starts', 'ends', 'axes']) n.attributes.delete(a);
          n.setInput(1, constant(`${base}_starts`, ints(starts)));
          n.setInput(2, constant(`${base}_ends`, ints(ends)));
          if (axes) n.setInput(3, constant(`${base}_axes`, ints(axes)));
        },
      };
    }
    case 'TopK': {
      if (!crosses(from, to, 10)) return undefined;
      const k = n.getInt('k');
      if (k === undefined) return { blocked: 'has no k attribute' };
      return {
        apply: () => {
          n.attributes.delete('k');
          n.setInput(1, constant(`${base}_k`, ints([k])));
        },
      };
    }
    case 'BatchNormalization': {
      if (!crosses(from, to, 9) || !n.attributes.has('spatial')) return undefined;
      if (n.getInt('spatial', 1) !== 1) return { blocked: 'has spatial = 0, which opset 9 removed' };
      return { apply: () => void n.attributes.delete('spatial') };
    }
    case 'Dropout': {
      if (!crosses(from, to, 10)) return undefined;
      const mask = n.outputs[1];
      if (mask && (mask.uses().length > 0 || mask.isGraphOutput()))
        return { blocked: 'has a used mask output, whose type changed at opset 10' };
      return undefined;
    }
    case 'ConvTranspose': {
      if (!crosses(from, to, 11)) return undefined;
      const pad = n.getString('auto_pad', 'NOTSET');
      return pad.startsWith('SAME')
        ? { blocked: `has auto_pad = ${pad}, whose padding rule changed at 11` }
        : undefined;
    }
    case 'Scatter':
      return crosses(from, to, 11) ? { apply: () => void (n.opType = 'ScatterElements') } : undefined;
    case 'Upsample':
      return crosses(from, to, 10) ? { blocked: 'is deprecated from opset 10 (no rewrite to Resize here)' } : undefined;
    case 'Resize':
      return crosses(from, to, 11) ? { blocked: 'changed its inputs and coordinate rules at opset 11' } : undefined;
    case 'Scan':
      return crosses(from, to, 9) ? { blocked: 'lost its batch axis at opset 9' } : undefined;
    default:
      return undefined;
  }
}

function ints(values: readonly number[]): MemoryTensor {
  return new MemoryTensor(
    DataType.INT64,
    [values.length],
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

/** Scalars of the float types Clip-6 and Pad-2 accept. */
const SCALAR: Partial<Record<number, (x: number) => MemoryTensor>> = {
  [DataType.FLOAT]: (x) => new MemoryTensor(DataType.FLOAT, [], Float32Array.of(x)),
  [DataType.DOUBLE]: (x) => new MemoryTensor(DataType.DOUBLE, [], Float64Array.of(x)),
  [DataType.FLOAT16]: (x) => new MemoryTensor(DataType.FLOAT16, [], Uint16Array.of(floatToHalf(x))),
};
