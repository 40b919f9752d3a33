/**
 * Test helpers: .npy and .zip files written byte by byte, so the readers are tested against
 * files whose every byte the test chose (and not against a writer that shares their assumptions).
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** A .npy file: magic, version, little-endian header length, dict padded to 64 bytes, data. */
export function npy(
  descr: string,
  shape: number[],
  data: ArrayBufferView,
  { version = 1, fortran = false }: { version?: 1 | 2 | 3; fortran?: boolean } = {},
): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), pre);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

export interface ZipEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate */
  method: 0 | 8;
}

/**
 * A zip archive. With `zip64`, like NumPy: local headers carry a zip64 extra field, central
 * entries saturate sizes and offset to 0xFFFFFFFF with the real values in the zip64 extra, and the
 * end record points to a zip64 end record.
 */
export function zip(entries: ZipEntry[], { zip64 = false }: { zip64?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.method === 8 ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = crc32(e.data) >>> 0;
    const localExtra = zip64 ? 20 : 0;
    const local = new DataView(new ArrayBuffer(30 + name.length + localExtra));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, zip64 ? 45 : 20, true);
    local.setUint16(8, e.method, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, zip64 ? 0xffffffff : body.length, true);
    local.setUint32(22, zip64 ? 0xffffffff : e.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, localExtra, true);
    new Uint8Array(local.buffer).set(name, 30);
    if (zip64) {
      local.setUint16(30 + name.length, 1, true);
      local.setUint16(32 + name.length, 16, true);
      local.setBigUint64(34 + name.length, BigInt(e.data.length), true);
      local.setBigUint64(42 + name.length, BigInt(body.length), true);
    }
    const cExtra = zip64 ? 28 : 0;
    const c = new DataView(new ArrayBuffer(46 + name.length + cExtra));
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, zip64 ? 45 : 20, true);
    c.setUint16(6, zip64 ? 45 : 20, true);
    c.setUint16(10, e.method, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, zip64 ? 0xffffffff : body.length, true);
    c.setUint32(24, zip64 ? 0xffffffff : e.data.length, true);
    c.setUint16(28, name.length, true);
    c.setUint16(30, cExtra, true);
    c.setUint32(42, zip64 ? 0xffffffff : offset, true);
    new Uint8Array(c.buffer).set(name, 46);
    if (zip64) {
      const p = 46 + name.length;
      c.setUint16(p, 1, true);
      c.setUint16(p + 2, 24, true);
      c.setBigUint64(p + 4, BigInt(e.data.length), true);
      c.setBigUint64(p + 12, BigInt(body.length), true);
      c.setBigUint64(p + 20, BigInt(offset), true);
    }
    parts.push(new Uint8Array(local.buffer), body);
    central.push(new Uint8Array(c.buffer));
    offset += local.byteLength + body.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  parts.push(...central);
  offset += cdSize;
  if (zip64) {
    const z = new DataView(new ArrayBuffer(56 + 20));
    z.setUint32(0, 0x06064b50, true);
    z.setBigUint64(4, 44n, true);
    z.setUint16(12, 45, true);
    z.setUint16(14, 45, true);
    z.setBigUint64(24, BigInt(entries.length), true);
    z.setBigUint64(32, BigInt(entries.length), true);
    z.setBigUint64(40, BigInt(cdSize), true);
    z.setBigUint64(48, BigInt(cdOffset), true);
    z.setUint32(56, 0x07064b50, true);
    z.setBigUint64(64, BigInt(offset), true);
    z.setUint32(72, 1, true);
    parts.push(new Uint8Array(z.buffer));
  }
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, zip64 ? 0xffff : entries.length, true);
  end.setUint16(10, zip64 ? 0xffff : entries.length, true);
  end.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  end.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  parts.push(new Uint8Array(end.buffer));
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let p = 0;
  for (const x of parts) {
    out.set(x, p);
    p += x.length;
  }
  return out;
}

/** Every item of an async iterable (Node 20 has no Array.fromAsync). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}
