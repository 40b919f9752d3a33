/**
 * Sequential byte reading over a file (plain or gzip), a byte range of a file, or a zip member:
 * what lets datasets stream batches instead of loading whole files.
 */
import { createReadStream, openSync, readSync, closeSync, statSync } from 'node:fs';
import { createGunzip, createInflateRaw } from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { DataError, fileError } from './errors.js';

/** Reads exact byte counts from a stream of chunks; returns fewer only at the end of the stream. */
export class ByteReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;
  #consumed = 0;
  readonly #iter: AsyncIterator<Uint8Array>;

  constructor(
    private readonly stream: Readable,
    /** Names the source in errors (`file.gz`, `data.npz: member x.npy`). */
    readonly name: string,
  ) {
    this.#iter = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  }

  /** Bytes handed out so far. */
  get position(): number {
    return this.#consumed;
  }

  /** The next `n` bytes in a fresh buffer (aligned for any typed array); shorter only at the end. */
  async read(n: number): Promise<Uint8Array> {
    while (this.#buffered < n && !this.#done) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.#iter.next();
      } catch (e) {
        throw this.#streamError(e);
      }
      if (r.done) this.#done = true;
      else if (r.value.length > 0) {
        this.#chunks.push(r.value);
        this.#buffered += r.value.length;
      }
    }
    const take = Math.min(n, this.#buffered);
    const out = new Uint8Array(take);
    let filled = 0;
    while (filled < take) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, take - filled);
      out.set(k === c.length ? c : c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= take;
    this.#consumed += take;
    return out;
  }

  /** Exactly `n` bytes, or a `DataError` saying what was being read. */
  async readExactly(n: number, what: string): Promise<Uint8Array> {
    const b = await this.read(n);
    if (b.length < n) throw new DataError(`${this.name}: truncated: ended in ${what}`);
    return b;
  }

  #streamError(e: unknown): DataError {
    const err = e as NodeJS.ErrnoException;
    if (err.code?.startsWith('Z_') || /incorrect header|invalid|unexpected end/i.test(err.message ?? ''))
      return new DataError(`${this.name}: corrupt compressed data (${err.message})`);
    return fileError(this.name, e);
  }

  close(): void {
    // Errors after the reader is done (a CRC check on a member not read to its end) are moot.
    this.stream.on('error', () => undefined);
    this.stream.destroy();
  }
}

/** True when the file starts with the gzip magic bytes. */
export function isGzip(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = new Uint8Array(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } catch (e) {
    throw fileError(path, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Size of a file, or a one-line error naming it. */
export function fileSize(path: string): number {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new DataError(`${path}: is a directory, not a file`);
    return st.size;
  } catch (e) {
    throw fileError(path, e);
  }
}

/** A reader over a whole file, gunzipping when the file is gzip. */
export function openFile(path: string): { reader: ByteReader; gzip: boolean } {
  fileSize(path);
  const gzip = isGzip(path);
  const raw = createReadStream(path);
  const stream = gzip ? chain(raw, createGunzip()) : raw;
  return { reader: new ByteReader(stream, path), gzip };
}

/** The `length` bytes at `offset` of a file as a stream, inflated (raw deflate) when `deflate`. */
export function rangeStream(path: string, offset: number, length: number, deflate: boolean): Readable {
  const raw = length > 0 ? createReadStream(path, { start: offset, end: offset + length - 1 }) : Readable.from([]);
  return deflate ? chain(raw, createInflateRaw()) : raw;
}

/**
 * `a` piped into `b`, returning `b`: an error in either surfaces when reading `b`, and destroying
 * `b` (a reader closed early) destroys `a`, closing the file.
 */
export function chain<T extends NodeJS.WritableStream & Readable>(a: Readable, b: T): T {
  pipeline(a, b, () => {
    // errors reach the reader through `b`
  });
  return b;
}
