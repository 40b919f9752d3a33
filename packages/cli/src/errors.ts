/** A failure the user can act on: printed as one line, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Bad arguments: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One line for any error: the message, first line only, without a stack. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim() || (e instanceof Error ? e.name : 'unknown error');
}
