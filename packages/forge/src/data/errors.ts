/** Bad data or a bad data spec: the message is one line saying what and where. */
export class DataError extends Error {
  override name = 'DataError';
}

/** `path: no such file` and friends, from a Node file-system error. */
export function fileError(path: string, e: unknown): DataError {
  if (e instanceof DataError) return e;
  const err = e as NodeJS.ErrnoException;
  const why =
    err.code === 'ENOENT'
      ? 'no such file'
      : err.code === 'EISDIR'
        ? 'is a directory, not a file'
        : err.code === 'ENOTDIR'
          ? 'is not a directory'
          : err.code === 'EACCES'
            ? 'permission denied'
            : (err.message ?? String(e));
  return new DataError(`${path}: ${why}`);
}
