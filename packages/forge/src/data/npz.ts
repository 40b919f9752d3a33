/**
 * NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip of `.npy` members, stored or
 * deflated. Only the members used are read, each as a stream of rows. Member names are used
 * without `.npy`.
 *
 * - `input=<member>:<model input>` maps a member to an input (repeatable); `input=<member>` picks
 *   the member for a single-input model. Unmapped members whose name is a model input map to it.
 * - `labels=<member>` names the class-id member (read whole).
 */
import { basename } from 'node:path';
import { DataError } from './errors.js';
import { npyDescription, readLabelArray, readNpyHeader, readNpyRows, type NpyHeader } from './npy.js';
import { optString, type DataSpec } from './spec.js';
import { scalarNormalize, type Chunk, type Column, type Source, type SourceContext } from './source.js';
import { openZipMember, readZipDirectory, type ZipMember } from './zip.js';

interface Entry {
  readonly key: string;
  readonly member: ZipMember;
  readonly header: NpyHeader;
  /** The model input it feeds, when mapped by `input=member:name`. */
  readonly target?: string;
}

export async function openNpz(spec: DataSpec, ctx: SourceContext): Promise<Source> {
  const path = spec.path!;
  const members = new Map<string, ZipMember>();
  for (const m of readZipDirectory(path)) if (m.name.endsWith('.npy')) members.set(m.name.slice(0, -4), m);
  if (members.size === 0) throw new DataError(`${path}: no .npy members in this archive`);
  const available = () => [...members.keys()].map((k) => `'${k}'`).join(', ');
  const need = (key: string): ZipMember => {
    const m = members.get(key);
    if (!m) throw new DataError(`${path}: no member '${key}' (members: ${available()})`);
    return m;
  };
  const header = async (m: ZipMember): Promise<NpyHeader> => {
    const r = openZipMember(path, m);
    try {
      const h = await readNpyHeader(r);
      if (h.shape.length === 0) throw new DataError(`${r.name}: a 0-d array has no samples`);
      const expected = h.size + h.shape.reduce((a, b) => a * b, 1) * h.itemSize;
      if (m.size < expected)
        throw new DataError(`${r.name}: truncated .npy data: header needs ${expected} bytes, member has ${m.size}`);
      return h;
    } finally {
      r.close();
    }
  };

  const labelsKey = optString(spec, 'labels');
  const labels = labelsKey !== undefined ? await readLabelArray(() => openZipMember(path, need(labelsKey))) : undefined;

  // Which members feed the model.
  const chosen: { key: string; target?: string }[] = [];
  for (const v of spec.options.get('input') ?? []) {
    const i = v.indexOf(':');
    const key = i < 0 ? v : v.slice(0, i);
    need(key);
    chosen.push(i < 0 ? { key } : { key, target: v.slice(i + 1) });
  }
  if (chosen.length === 0) {
    const candidates = [...members.keys()].filter((k) => k !== labelsKey);
    const modelNames = new Set((ctx.inputs ?? []).map((i) => i.name));
    const byName = candidates.filter((k) => modelNames.has(k));
    if (byName.length > 0) for (const k of byName) chosen.push({ key: k });
    else if (candidates.length === 1) chosen.push({ key: candidates[0] });
    else
      throw new DataError(
        `${path}: cannot tell which members feed the model (members: ${available()}); name them with input=<member>:<model input>`,
      );
  }
  const norm = scalarNormalize(spec);
  const entries: Entry[] = [];
  for (const c of chosen) {
    const member = need(c.key);
    entries.push({ key: c.key, member, header: await header(member), ...(c.target ? { target: c.target } : {}) });
  }
  const count = entries[0].header.shape[0];
  for (const e of entries)
    if (e.header.shape[0] !== count)
      throw new DataError(`${path}: member '${e.key}' has ${e.header.shape[0]} rows, '${entries[0].key}' has ${count}`);
  if (labels && labels.length !== count)
    throw new DataError(`${path}: labels '${labelsKey}' has ${labels.length} entries for ${count} samples`);

  const columns: Column[] = entries.map((e) => ({
    label: e.key,
    ...(e.target ? { input: e.target } : {}),
    type: norm ? 'float32' : e.header.type,
    sampleDims: e.header.shape.slice(1),
  }));

  async function* read(chunk: number, end: number): AsyncGenerator<Chunk> {
    const streams = entries.map((e) => readNpyRows(() => openZipMember(path, e.member), e.header, chunk, end, norm));
    try {
      for (let start = 0; start < end; start += chunk) {
        const parts = await Promise.all(streams.map((s) => s.next()));
        if (parts.some((p) => p.done)) return;
        const n = parts[0].value!.dims[0];
        yield {
          columns: parts.map((p) => p.value!),
          ...(labels ? { labels: labels.slice(start, start + n) } : {}),
        };
      }
    } finally {
      await Promise.all(streams.map((s) => s.return(undefined)));
    }
  }

  return {
    description: `npz ${basename(path)}: ${entries.map((e) => `${e.key} ${npyDescription(e.header)}`).join(', ')}${labelsKey ? `, labels ${labelsKey}` : ''}`,
    count,
    columns,
    hasLabels: labels !== undefined,
    read,
  };
}
