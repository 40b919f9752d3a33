/**
 * HTML building with escaping by default: `markup\`<td>${name}</td>\`` escapes every interpolated
 * string and number; only `SafeHtml` (the result of `markup` itself, or `raw` for trusted constants)
 * passes through. Attribute values must be quoted in the template (`title="${x}"`).
 */

/** Markup that is already safe to insert. Build it with `markup`, never from user data directly. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/**
 * Tagged template: interpolations are escaped unless they are `SafeHtml`; arrays are concatenated.
 * (Not named `html`: Prettier would reformat the markup of templates tagged `html`.)
 */
export function markup(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Trusted markup (constants of this module only: CSS, scripts). */
export function raw(s: string): SafeHtml {
  return new SafeHtml(s);
}

/**
 * JSON for a `<script type="application/json">` (or any script) element: `<`, `>` and `&` become
 * `\u003c`-style escapes, so no string in the data can close the element (`</script>`) or open an
 * HTML comment (`<!--`); U+2028/U+2029 are escaped too. `JSON.parse(element.textContent)` returns
 * the same value as `JSON.parse(JSON.stringify(value))`.
 */
export function jsonForScript(value: unknown): SafeHtml {
  const json = JSON.stringify(value) ?? 'null';
  return raw(json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** A `<script>` element with trusted code; refuses code that would end the element early. */
export function inlineScript(code: string, attrs = ''): SafeHtml {
  if (/<\/script|<!--/i.test(code)) throw new Error('inline script contains "</script" or "<!--"');
  return raw(`<script${attrs}>${code}</script>`);
}
