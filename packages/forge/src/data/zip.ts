/**
 * Just enough zip to read `.npz` files lazily: the central directory (zip64 included, as NumPy
 * writes every member with zip64 extra fields), then one member at a time as a stream, stored or
 * deflated, CRC-checked when read to its end. Nothing else of the archive is read.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { ByteReader, chain, fileSize, rangeStream } from './byte-stream.js';
import { DataError, fileError } from './errors.js';

export interface ZipMember {
  readonly name: string;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the member's local header. */
  readonly headerOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

function readAt(fd: number, path: string, offset: number, length: number): DataView {
  const buf = new Uint8Array(length);
  const n = readSync(fd, buf, 0, length, offset);
  if (n < length) throw new DataError(`${path}: truncated zip file (wanted ${length} bytes at ${offset}, got ${n})`);
  return new DataView(buf.buffer);
}

function u64(v: DataView, o: number): number {
  const n = v.getBigUint64(o, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataError('zip64 field too large');
  return Number(n);
}

/** Lists the members of a zip file from its central directory. */
export function readZipDirectory(path: string): ZipMember[] {
  const size = fileSize(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, e);
  }
  try {
    const tailLen = Math.min(size, 22 + MAX_COMMENT);
    const tail = readAt(fd, path, size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.getUint32(i, true) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new DataError(`${path}: not a zip (.npz) file: no end-of-central-directory record`);
    let entries = tail.getUint16(eocd + 10, true);
    let cdSize = tail.getUint32(eocd + 12, true);
    let cdOffset = tail.getUint32(eocd + 16, true);
    if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.getUint32(loc, true) !== ZIP64_LOCATOR)
        throw new DataError(`${path}: corrupt zip file: zip64 locator missing`);
      const z = readAt(fd, path, u64(tail, loc + 8), 56);
      if (z.getUint32(0, true) !== ZIP64_EOCD) throw new DataError(`${path}: corrupt zip file: bad zip64 record`);
      entries = u64(z, 32);
      cdSize = u64(z, 40);
      cdOffset = u64(z, 48);
    }
    if (cdOffset + cdSize > size) throw new DataError(`${path}: truncated zip file: central directory past the end`);
    const cd = readAt(fd, path, cdOffset, cdSize);
    const members: ZipMember[] = [];
    let p = 0;
    const dec = new TextDecoder();
    for (let k = 0; k < entries; k++) {
      if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL)
        throw new DataError(`${path}: corrupt zip file: bad central directory entry ${k}`);
      const flags = cd.getUint16(p + 8, true);
      const method = cd.getUint16(p + 10, true);
      const crc = cd.getUint32(p + 16, true);
      let compressedSize = cd.getUint32(p + 20, true);
      let uncompressed = cd.getUint32(p + 24, true);
      const nameLen = cd.getUint16(p + 28, true);
      const extraLen = cd.getUint16(p + 30, true);
      const commentLen = cd.getUint16(p + 32, true);
      let headerOffset = cd.getUint32(p + 42, true);
      const name = dec.decode(new Uint8Array(cd.buffer, p + 46, nameLen));
      // zip64 extra field: the 64-bit values of whichever fields are saturated, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.getUint16(e, true);
        const len = cd.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (uncompressed === 0xffffffff) {
            uncompressed = u64(cd, q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = u64(cd, q);
            q += 8;
          }
          if (headerOffset === 0xffffffff) headerOffset = u64(cd, q);
        }
        e += 4 + len;
      }
      if (flags & 1) throw new DataError(`${path}: member '${name}' is encrypted`);
      members.push({ name, method, crc, compressedSize, size: uncompressed, headerOffset });
      p = extraEnd + commentLen;
    }
    return members;
  } finally {
    closeSync(fd);
  }
}

/** Verifies the CRC-32 of everything that passes, when the stream ends. */
class CrcCheck extends Transform {
  #crc = 0;
  #bytes = 0;
  constructor(
    private readonly member: ZipMember,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#bytes += chunk.length;
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.#bytes !== this.member.size)
      cb(new DataError(`${this.what}: corrupt: ${this.#bytes} bytes, the zip directory says ${this.member.size}`));
    else if (this.#crc >>> 0 !== this.member.crc) cb(new DataError(`${this.what}: corrupt: CRC-32 mismatch`));
    else cb();
  }
}

/** A byte reader over one member (stored or deflated), named `<zip>: <member>` in errors. */
export function openZipMember(path: string, m: ZipMember): ByteReader {
  const what = `${path}: ${m.name}`;
  if (m.method !== 0 && m.method !== 8)
    throw new DataError(`${what}: compression method ${m.method} is not supported (only stored and deflate)`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, e);
  }
  let local: DataView;
  try {
    local = readAt(fd, path, m.headerOffset, 30);
  } finally {
    closeSync(fd);
  }
  if (local.getUint32(0, true) !== LOCAL) throw new DataError(`${what}: corrupt zip file: bad local header`);
  const dataOffset = m.headerOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
  const inner = rangeStream(path, dataOffset, m.compressedSize, m.method === 8);
  return new ByteReader(chain(inner, new CrcCheck(m, what)), what);
}
