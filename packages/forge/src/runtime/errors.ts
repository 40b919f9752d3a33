import type { BackendName } from './types.js';

/** A feed (or requested output) does not fit the model; the message is one line naming the input. */
export class FeedError extends Error {
  override name = 'FeedError';
  constructor(
    /** The input concerned, when there is one. */
    readonly input: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * onnxruntime refused to load or run a model. `message` is one line
 * (`wasm backend cannot run this model: <onnxruntime's first line>`); `detail` is onnxruntime's
 * full message.
 */
export class BackendError extends Error {
  override name = 'BackendError';
  constructor(
    readonly backend: BackendName,
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

/**
 * The informative first line of an onnxruntime error: without onnxruntime-web's
 * `Can't create a session. ERROR_CODE: 1, ERROR_MESSAGE:` wrapper and without the C++ source
 * location and `[ONNXRuntimeError] : 1 : FAIL :` prefix.
 */
export function ortFirstLine(message: string): string {
  let m = message.replace(/^[^\n]*?ERROR_CODE: \d+, ERROR_MESSAGE: /, '');
  m = m.replace(/^[^\n]*\[ONNXRuntimeError\] : \d+ : \w+ : /, '');
  // C++ source locations and signatures: `/src/x/reshape_helper.h:91 onnxruntime::Foo::Foo(const T&, bool) `.
  m = m.replace(/\S+\.(?:cc|cpp|h):\d+ [^()\n]*\([^()\n]*\)(?: const)? /g, '');
  const line = m
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return line ?? message.trim();
}
