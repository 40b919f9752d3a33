import type { Backend, Feeds, Session, SessionOptions } from '../runtime/types.js';
import { latencyStats, type LatencyStats } from './stats.js';

export interface BenchOptions {
  /** Intra-op threads for the session (default: the runtime's choice). */
  threads?: number;
  graphOptimization?: SessionOptions['graphOptimization'];
  /** Untimed runs before measuring (default 5). */
  warmup?: number;
  /** Timed runs (default 50); ignored when `durationMs` is set. */
  iterations?: number;
  /** Measure for this long instead of a fixed count (at least 3 runs). */
  durationMs?: number;
  /** Session creations to time for cold start (median reported; default 3). */
  creates?: number;
  /** Samples in the batch the feeds hold, for throughput (default: first dim of the first feed). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BenchMeasurement {
  backend: string;
  threads: number | null;
  warmup: number;
  iterations: number;
  batch: number;
  latencyMs: LatencyStats;
  /** Inferences (samples) per second at the mean latency. */
  throughputPerSec: number;
  /** Median time to create a session (load + optimize), ms. */
  sessionCreateMs: number;
  sessionCreateSamplesMs: number[];
  /** Peak resident set size of this process so far (includes the runtime itself). */
  peakRssBytes: number;
  /** RSS growth from before the first session to after the timed runs. */
  rssDeltaBytes: number;
  samplesMs: number[];
}

function batchOf(feeds: Feeds, batch?: number): number {
  if (batch) return batch;
  const first = Object.values(feeds)[0];
  return first && first.dims.length > 0 && first.dims[0] > 0 ? first.dims[0] : 1;
}

async function createTimed(backend: Backend, model: string | Uint8Array, opts: SessionOptions, creates: number) {
  const times: number[] = [];
  let session: Session | undefined;
  for (let i = 0; i < creates; i++) {
    if (session) await session.release();
    const t0 = performance.now();
    session = await backend.createSession(model, opts);
    times.push(performance.now() - t0);
  }
  return { session: session!, times };
}

/** One model's numbers from its timed runs and session creations. */
function measurement(
  backend: string,
  o: BenchOptions,
  warmup: number,
  samples: number[],
  creates: number[],
  feeds: Feeds,
  peakRssBytes: number,
  rssDeltaBytes: number,
): BenchMeasurement {
  const latencyMs = latencyStats(samples);
  const batch = batchOf(feeds, o.batch);
  return {
    backend,
    threads: o.threads ?? null,
    warmup,
    iterations: samples.length,
    batch,
    latencyMs,
    throughputPerSec: (1000 * batch) / latencyMs.mean,
    sessionCreateMs: latencyStats(creates).p50,
    sessionCreateSamplesMs: creates,
    peakRssBytes,
    rssDeltaBytes,
    samplesMs: samples,
  };
}

function sessionOptions(o: BenchOptions): SessionOptions {
  return {
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.graphOptimization ? { graphOptimization: o.graphOptimization } : {}),
  };
}

/**
 * Benchmarks one model: cold start (session creation, median of `creates`), warm-up, then timed
 * runs. Latency is wall time of `session.run` including feed/fetch copies, as an application sees it.
 */
export async function benchModel(
  backend: Backend,
  model: string | Uint8Array,
  feeds: Feeds,
  o: BenchOptions = {},
): Promise<BenchMeasurement> {
  const rss0 = process.memoryUsage().rss;
  const { session, times } = await createTimed(backend, model, sessionOptions(o), Math.max(1, o.creates ?? 3));
  try {
    const warmup = o.warmup ?? 5;
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const samples: number[] = [];
    const total = o.durationMs ? undefined : (o.iterations ?? 50);
    const deadline = o.durationMs ? performance.now() + o.durationMs : Infinity;
    while (total !== undefined ? samples.length < total : performance.now() < deadline || samples.length < 3) {
      const t0 = performance.now();
      await session.run(feeds);
      samples.push(performance.now() - t0);
      o.onProgress?.(samples.length, total ?? samples.length);
    }
    return measurement(
      session.backend,
      o,
      warmup,
      samples,
      times,
      feeds,
      process.resourceUsage().maxRSS * 1024,
      process.memoryUsage().rss - rss0,
    );
  } finally {
    await session.release();
  }
}

export interface PairMeasurement {
  a: BenchMeasurement;
  b: BenchMeasurement;
  /** p50(b) / p50(a): below 1 means b is faster. */
  ratio: number;
  /** Ratio of mean latencies, and of median session-creation times. */
  meanRatio: number;
  sessionCreateRatio: number;
}

/**
 * Benchmarks two models side by side in one process: sessions created alternately, runs
 * interleaved (a b, b a, a b …) so machine noise and thermal drift hit both alike. The ratio is the
 * claim; absolute numbers are for context.
 */
export async function benchPair(
  backend: Backend,
  a: { model: string | Uint8Array; feeds: Feeds },
  b: { model: string | Uint8Array; feeds: Feeds },
  o: BenchOptions = {},
): Promise<PairMeasurement> {
  const opts = sessionOptions(o);
  const creates = Math.max(1, o.creates ?? 3);
  const createA: number[] = [];
  const createB: number[] = [];
  let sa: Session | undefined;
  let sb: Session | undefined;
  const rss0 = process.memoryUsage().rss;
  try {
    for (let i = 0; i < creates; i++) {
      for (const which of i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
        const t0 = performance.now();
        if (which === 'a') {
          if (sa) await sa.release();
          sa = await backend.createSession(a.model, opts);
          createA.push(performance.now() - t0);
        } else {
          if (sb) await sb.release();
          sb = await backend.createSession(b.model, opts);
          createB.push(performance.now() - t0);
        }
      }
    }
    const warmup = o.warmup ?? 5;
    for (let i = 0; i < warmup; i++) {
      await sa!.run(a.feeds);
      await sb!.run(b.feeds);
    }
    const ta: number[] = [];
    const tb: number[] = [];
    const total = o.durationMs ? undefined : (o.iterations ?? 50);
    const deadline = o.durationMs ? performance.now() + o.durationMs : Infinity;
    const timed = async (s: Session, feeds: Feeds, into: number[]) => {
      const t0 = performance.now();
      await s.run(feeds);
      into.push(performance.now() - t0);
    };
    for (let i = 0; total !== undefined ? i < total : performance.now() < deadline || i < 3; i++) {
      if (i % 2 === 0) {
        await timed(sa!, a.feeds, ta);
        await timed(sb!, b.feeds, tb);
      } else {
        await timed(sb!, b.feeds, tb);
        await timed(sa!, a.feeds, ta);
      }
      o.onProgress?.(i + 1, total ?? i + 1);
    }
    const peak = process.resourceUsage().maxRSS * 1024;
    const delta = process.memoryUsage().rss - rss0;
    const ma = measurement(backend.name, o, warmup, ta, createA, a.feeds, peak, delta);
    const mb = measurement(backend.name, o, warmup, tb, createB, b.feeds, peak, delta);
    return {
      a: ma,
      b: mb,
      ratio: mb.latencyMs.p50 / ma.latencyMs.p50,
      meanRatio: mb.latencyMs.mean / ma.latencyMs.mean,
      sessionCreateRatio: mb.sessionCreateMs / ma.sessionCreateMs,
    };
  } finally {
    await sa?.release();
    await sb?.release();
  }
}
