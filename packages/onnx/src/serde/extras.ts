import { isFieldSet, type DescMessage, type Message } from '@bufbuild/protobuf';
import type { ProtoExtras } from '../ir/extras.js';

/** Whether a scalar/enum field value is its type's zero value (what proto2 writes only when present). */
function isZero(v: unknown): boolean {
  if (typeof v === 'number') return Object.is(v, 0);
  if (typeof v === 'bigint') return v === 0n;
  if (typeof v === 'string') return v === '';
  if (typeof v === 'boolean') return !v;
  if (v instanceof Uint8Array) return v.byteLength === 0;
  return false;
}

/**
 * What a decoded message carries beyond its values: unknown fields, and default-valued scalars that
 * were present on the wire. `undefined` when there is nothing (the common case: no allocation).
 */
export function captureExtras(schema: DescMessage, msg: Message): ProtoExtras | undefined {
  let present: string[] | undefined;
  for (const f of schema.fields) {
    if (f.fieldKind !== 'scalar' && f.fieldKind !== 'enum') continue;
    if (f.oneof) continue;
    const v = (msg as unknown as Record<string, unknown>)[f.localName];
    if (isZero(v) && isFieldSet(msg, f)) (present ??= []).push(f.localName);
  }
  const unknown = (msg as { $unknown?: unknown[] }).$unknown;
  const hasUnknown = Array.isArray(unknown) && unknown.length > 0;
  if (!present && !hasUnknown) return undefined;
  return { ...(present ? { present } : {}), ...(hasUnknown ? { unknown } : {}) };
}

/** Adds back default-valued fields that were present, before `create()`. */
export function restorePresent(
  schema: DescMessage,
  init: Record<string, unknown>,
  extras: ProtoExtras | undefined,
): void {
  if (!extras?.present) return;
  for (const name of extras.present) {
    if (init[name] !== undefined) continue;
    const f = schema.fields.find((x) => x.localName === name);
    if (!f || (f.fieldKind !== 'scalar' && f.fieldKind !== 'enum')) continue;
    init[name] = zeroOf(f.fieldKind === 'enum' ? 'enum' : f.scalar);
  }
}

function zeroOf(kind: unknown): unknown {
  // ScalarType codes: 9 string, 12 bytes, 8 bool, 3/4/6/16/18 64-bit ints.
  switch (kind) {
    case 9:
      return '';
    case 12:
      return new Uint8Array(0);
    case 8:
      return false;
    case 3:
    case 4:
    case 6:
    case 16:
    case 18:
      return 0n;
    default:
      return 0;
  }
}

/** Re-attaches unknown fields after `create()`. */
export function restoreUnknown<T extends Message>(msg: T, extras: ProtoExtras | undefined): T {
  if (extras?.unknown) (msg as { $unknown?: unknown }).$unknown = extras.unknown;
  return msg;
}

/** Sets `init[key] = value` unless it is the zero value (proto2 presence: write only what was there). */
export function put(init: Record<string, unknown>, key: string, value: unknown): void {
  if (!isZero(value)) init[key] = value;
}
