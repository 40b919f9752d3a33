import { main } from './main.js';

/** Runs the CLI in-process and captures what it prints (tests only). */
export async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (s) => (stdout += s.endsWith('\n') ? s : `${s}\n`),
    stderr: (s) => (stderr += s.endsWith('\n') ? s : `${s}\n`),
  });
  return { code, stdout, stderr };
}
