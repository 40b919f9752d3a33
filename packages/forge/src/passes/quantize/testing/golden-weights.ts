/**
 * The weights of tools/quant-goldens/blockwise_goldens.py, regenerated: xorshift32 → exact float32
 * in [−1, 1), ×0.25·(1 + column mod 3), column 1 made positive (so its zero points differ). The
 * goldens carry a SHA-256 of the script's weights to prove the two generators agree.
 */
export function goldenWeights(seed: number, K: number, N: number): Float32Array {
  let x = seed >>> 0;
  const w = new Float32Array(K * N);
  for (let i = 0; i < K * N; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    const v = Math.fround((2 * (x >>> 8) - 2 ** 24) / 2 ** 24);
    const n = i % N;
    const s = Math.fround(Math.fround(v * 0.25) * (1 + (n % 3)));
    w[i] = N > 1 && n === 1 ? Math.abs(s) : s;
  }
  return w;
}
