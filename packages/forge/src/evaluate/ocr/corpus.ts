/**
 * A deterministic corpus of clean, printed-looking text lines for the OCR accuracy check: words,
 * short sentences, numbers, prices, dates, times, identifiers, e-mail addresses, with ASCII
 * punctuation. Generated from a seed with a fixed PRNG and the word list below, so the same
 * `(count, seed)` always gives the same lines on every machine.
 */
import { mulberry32 } from '../../data/prng.js';

/** Common English words (lower case, 2–10 letters). */
const WORDS = (
  'about above across after again against air all almost also always amount and animal answer any area ' +
  'around ask away back base became because been before began being below best better between big black ' +
  'board boat body book both bring build busy call came can car care carry case center change check city ' +
  'class clear close cold color come common could country course cover cross cut dark day deep delivery ' +
  'did different direct does done door down draw during each early earth east easy eight end enough even ' +
  'every example eye face fact family far farm fast father few field figure find fine fire first fish five ' +
  'floor follow food foot form found four free friend from front full game garden gave general get girl ' +
  'give glass going gold good great green ground group grow half hand happy hard have head hear heart ' +
  'heavy help here high hold home horse hour house idea inch invoice island just keep kind king know land ' +
  'large last late learn leave left less letter life light line list little live long look machine made ' +
  'main make many map mark market may measure money month more morning most mother mountain move much ' +
  'music must name near need never new next night north note number object office often old once only ' +
  'open order other over page paper part pass people picture piece place plain plan plant play point ' +
  'port power press print problem product pull quick rain reach read ready real receipt record red rest ' +
  'right river road rock room round rule run said same saw school science sea second see sentence serve ' +
  'set several shape ship short should show side simple since size slow small snow some song soon sound ' +
  'south space special stand star start state station step still stood stop story street strong study ' +
  'such summer sun supply sure surface table tail take talk team test than that their them then there ' +
  'these thing think third this those though thought three through time today together told took top ' +
  'total toward town travel tree true turn under unit until upon usual valley very voice wait walk warm ' +
  'watch water weather week weight well were west what wheel where which while white whole wind window ' +
  'winter with without wood word work world would write year yellow young'
).split(' ');

const NAMES = 'anna ben carla david emma felix grace henry irene jonas karen leo maria nina oscar paula'.split(' ');
const DOMAINS = ['example.com', 'mail.org', 'shop.net', 'post.io', 'office.co'];
const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
const STREETS = ['Main St', 'Oak Ave', 'Park Rd', 'Hill Lane', 'Bay Blvd', 'Lake Dr'];
const CITIES = ['Boston', 'Denver', 'Austin', 'Seattle', 'Dublin', 'Oslo', 'Lyon', 'Porto'];
const UNITS = ['kg', 'g', 'ml', 'cm', 'mm', 'km', 'pcs', 'GB', 'MB', 'kW'];
const CURRENCIES = ['USD', 'EUR', 'GBP', 'CHF'];

type Rand = () => number;

const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const word = (r: Rand): string => pick(r, WORDS);
const words = (r: Rand, lo: number, hi: number): string[] => Array.from({ length: int(r, lo, hi) }, () => word(r));
const money = (r: Rand): string => {
  const whole = r() < 0.7 ? int(r, 1, 999) : int(r, 1000, 99999);
  const s = String(whole).replace(/\B(?=(\d{3})+$)/g, ','); // 12345 → 12,345
  return `${s}.${pad(int(r, 0, 99), 2)}`;
};

const TEMPLATES: readonly ((r: Rand) => string)[] = [
  // sentences
  (r) => cap(words(r, 2, 5).join(' ')) + pick(r, ['.', '.', '!', '?', '', ':']),
  (r) => `${cap(word(r))}, ${words(r, 1, 3).join(' ')}.`,
  (r) => `"${cap(words(r, 1, 3).join(' '))}" ${word(r)}`,
  (r) => `${cap(word(r))} (${words(r, 1, 2).join(' ')})`,
  (r) => words(r, 2, 4).join(' ').toUpperCase(),
  (r) => `${cap(word(r))}-${word(r)} ${word(r)}; ${word(r)}`,
  // prices and amounts
  (r) => `${cap(pick(r, ['total', 'price', 'amount', 'subtotal', 'tax']))}: $${money(r)}`,
  (r) => `${pick(r, CURRENCIES)} ${money(r)}`,
  (r) => `${int(r, 1, 12)} x ${cap(word(r))} @ $${money(r)}`,
  (r) => `${cap(pick(r, ['discount', 'rate', 'growth', 'tax']))} ${int(r, 1, 99)}%`,
  (r) => `+${int(r, 0, 40)}.${int(r, 0, 9)}% / -${int(r, 0, 40)}.${int(r, 0, 9)}%`,
  // dates and times
  (r) => `${int(r, 1990, 2035)}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)}`,
  (r) => `${pad(int(r, 1, 28), 2)}/${pad(int(r, 1, 12), 2)}/${int(r, 1990, 2035)}`,
  (r) => `${pick(r, MONTHS)} ${int(r, 1, 28)}, ${int(r, 1990, 2035)}`,
  (r) =>
    `${cap(pick(r, ['date', 'due', 'issued', 'shipped']))}: ${pad(int(r, 1, 28), 2)}.${pad(int(r, 1, 12), 2)}.${int(r, 1990, 2035)}`,
  (r) => `${pad(int(r, 0, 23), 2)}:${pad(int(r, 0, 59), 2)}:${pad(int(r, 0, 59), 2)}`,
  (r) => `${int(r, 1, 12)}:${pad(int(r, 0, 59), 2)} ${pick(r, ['AM', 'PM'])}`,
  // identifiers, contact details, addresses
  (r) => `${pick(r, ['INV', 'PO', 'REF', 'SKU'])}-${int(r, 10000, 999999)}`,
  (r) => `Order #${int(r, 1000, 9999999)}`,
  (r) => `+${int(r, 1, 49)} (${int(r, 200, 999)}) ${int(r, 200, 999)}-${pad(int(r, 0, 9999), 4)}`,
  (r) => `${pick(r, NAMES)}.${word(r)}@${pick(r, DOMAINS)}`,
  (r) => `www.${word(r)}${word(r)}.com/${word(r)}`,
  (r) => `${int(r, 1, 999)} ${pick(r, STREETS)}, ${pick(r, CITIES)}`,
  (r) => `${cap(word(r))} ${int(r, 1, 999)}, ${cap(pick(r, ['floor', 'room', 'unit', 'gate']))} ${int(r, 1, 40)}`,
  // numbers with units
  (r) => `${int(r, 1, 999)}.${int(r, 0, 9)} ${pick(r, UNITS)}`,
  (r) => `${cap(pick(r, ['qty', 'weight', 'size', 'length']))}: ${int(r, 1, 500)} ${pick(r, UNITS)}`,
  (r) => `${int(r, 100, 999999)}`,
  (r) => `${int(r, 1, 99)} + ${int(r, 1, 99)} = ${int(r, 2, 198)}`,
  (r) => `[${word(r)}] ${word(r)} & ${word(r)}`,
];

/** Lines are between these lengths (characters, inclusive). */
export const OCR_CORPUS_MIN_CHARS = 5;
export const OCR_CORPUS_MAX_CHARS = 30;

/**
 * `count` distinct lines of 5–30 ASCII characters (letters, digits, space and the punctuation
 * `. , : ; ! ? " ( ) [ ] - + = / @ # $ % &`), cycling through all templates so every kind of line is
 * represented. Deterministic in `(count, seed)`.
 */
export function ocrCorpus(count = 200, seed = 20240601): string[] {
  if (!(Number.isInteger(count) && count > 0)) throw new RangeError(`ocrCorpus: bad count ${count}`);
  const r = mulberry32(seed);
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0, tries = 0; out.length < count; tries++) {
    if (tries > count * 1000) throw new Error(`ocrCorpus: could not make ${count} distinct lines`);
    const line = TEMPLATES[i % TEMPLATES.length](r);
    if (line.length < OCR_CORPUS_MIN_CHARS || line.length > OCR_CORPUS_MAX_CHARS || seen.has(line)) continue;
    seen.add(line);
    out.push(line);
    i++;
  }
  return out;
}
