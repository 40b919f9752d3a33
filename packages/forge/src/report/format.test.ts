import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as f from './format.js';
import { escapeHtml, inlineScript, jsonForScript, markup, raw } from './html.js';

test('escapeHtml escapes the five characters that matter in text and quoted attributes', () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
  );
});

test('markup escapes interpolations, passes SafeHtml through, flattens arrays, drops null/false', () => {
  const name = '<b>"x"</b>';
  assert.equal(
    markup`<td title="${name}">${name}${raw('<i>ok</i>')}${[1, '<', null, false, undefined]}</td>`.value,
    '<td title="&lt;b&gt;&quot;x&quot;&lt;/b&gt;">&lt;b&gt;&quot;x&quot;&lt;/b&gt;<i>ok</i>1&lt;</td>',
  );
});

test('jsonForScript cannot close its element or open a comment, and parses back', () => {
  const value = { s: '</script><!-- <script>alert(1)</script> & \u2028\u2029', n: [1.5, -0, 1e-7] };
  const out = jsonForScript(value).value;
  assert.doesNotMatch(out, /[<>&\u2028\u2029]/);
  assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(value)));
  assert.equal(jsonForScript(undefined).value, 'null');
});

test('inlineScript refuses code that would end the element', () => {
  assert.throws(() => inlineScript('var s = "</SCRIPT>";'), /contains/);
  assert.throws(() => inlineScript('<!-- x'), /contains/);
  assert.equal(inlineScript('1').value, '<script>1</script>');
});

test('number formats carry units and a fixed locale', () => {
  assert.equal(f.ms(0.41234), '0.412 ms');
  assert.equal(f.ms(4.1834), '4.183 ms');
  assert.equal(f.ms(41.834), '41.83 ms');
  assert.equal(f.ms(418.34), '418.3 ms');
  assert.equal(f.ms(4183.4), '4,183 ms');
  assert.equal(f.pct(0.9046), '90.46%');
  assert.equal(f.pct(1), '100.00%');
  assert.equal(f.bytes(512), '512 B');
  assert.equal(f.bytes(431_204), '421.1 KiB');
  assert.equal(f.bytes(13_964_571), '13.32 MiB');
  assert.equal(f.bytes(3 * 2 ** 30), '3.00 GiB');
  assert.equal(f.int(25_557_032), '25,557,032');
  assert.equal(f.change(13_964_571, 3_617_433), '-74.1%');
  assert.equal(f.change(100, 112.34), '+12.3%');
  assert.equal(f.change(0, 5), '—');
  assert.equal(f.pp(0.7188, 0.7102), '-0.86 pp');
  assert.equal(f.ratio(0.4286), '0.43×');
  assert.equal(f.duration(850), '850 ms');
  assert.equal(f.duration(3412.7), '3.41 s');
  assert.equal(f.duration(185_200), '3 min 5.2 s');
  assert.equal(f.real(0.08713), '0.08713');
  assert.equal(f.real(1.2e-5), '1.2e-5');
  assert.equal(f.real(0), '0');
  assert.equal(f.cosine(0.99987412), '0.999874');
  assert.equal(f.perSec(239.14), '239.1 /s');
  assert.equal(f.baseName('/m/dir/resnet50.int8.onnx'), 'resnet50.int8.onnx');
  assert.equal(f.baseName('C:\\m\\a.onnx'), 'a.onnx');
});

test('non-finite values print as symbols', () => {
  assert.equal(f.ms(null), '— ms');
  assert.equal(f.pct(NaN), '—');
  assert.equal(f.real(Infinity), '∞');
  assert.equal(f.bytes(-Infinity), '-∞');
  assert.equal(f.snr(null, true), '∞ dB');
  assert.equal(f.snr(null, false), 'NaN');
  assert.equal(f.snr(38.214, false), '38.21 dB');
});
