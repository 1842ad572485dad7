// Seeded generators of request bodies for the differential fuzzer (fuzz.mjs)
// and the crash test (crash.mjs).
//
// A body is built as a small tree and printed as raw JSON text, so that
// spellings JSON.parse would normalise (1e309, -0, 1.0, duplicate keys,
// "__proto__" keys, lone surrogates) reach the product exactly as written:
//   string, number, boolean, null   a JSON value, printed with JSON.stringify
//   raw(text)                       any JSON text, printed as it is
//   obj([[key, node], ...])         an object whose members keep their order
//                                   (a key may repeat)
//   arr([node, ...])                an array
// Every case draws from its own PRNG, seeded from (seed, case index), so a
// case is reproduced from those two numbers alone.

// ---------------------------------------------------------------------------
// PRNG: sfc32 seeded through splitmix32
// ---------------------------------------------------------------------------

function splitmix32(a) {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

export class Rng {
  constructor(seed, index = 0) {
    const mix = splitmix32((Math.imul(seed | 0, 0x3243f6a9) ^ Math.imul(index | 0, 0x85ebca6b) ^ (Math.floor(index / 2 ** 32) * 0x27d4eb2f)) | 0);
    this.a = mix(); this.b = mix(); this.c = mix(); this.d = mix();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32() {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float() { return this.u32() / 4294967296; }
  int(lo, hi) { return lo + Math.floor(this.float() * (hi - lo + 1)); } // inclusive
  chance(p) { return this.float() < p; }
  pick(list) { return list[this.int(0, list.length - 1)]; }
  // index into `weights` chosen with probability proportional to its weight
  weighted(weights) {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i];
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
  // a random double from all bit patterns (no NaN/Infinity)
  anyDouble() {
    const buf = new DataView(new ArrayBuffer(8));
    for (;;) {
      buf.setUint32(0, this.u32());
      buf.setUint32(4, this.u32());
      const x = buf.getFloat64(0);
      if (Number.isFinite(x)) return x;
    }
  }
}

// ---------------------------------------------------------------------------
// The tree and its printing
// ---------------------------------------------------------------------------

export const raw = (s) => ({ t: 'raw', s });
export const obj = (e) => ({ t: 'obj', e });
export const arr = (a) => ({ t: 'arr', a });

const isNode = (x, t) => x !== null && typeof x === 'object' && x.t === t;
export const isObj = (x) => isNode(x, 'obj');
export const isArr = (x) => isNode(x, 'arr');

// Prints the tree as JSON text.  Iterative, so that nesting as deep as jsonb
// allows does not exhaust the JavaScript stack.
export function print(root) {
  const out = [];
  const stack = [root];
  while (stack.length) {
    const x = stack.pop();
    if (x !== null && typeof x === 'object' && x.t === 'tok') {
      out.push(x.s);
    } else if (x === null || typeof x !== 'object') {
      out.push(typeof x === 'number' && !Number.isFinite(x) ? 'null' : JSON.stringify(x));
    } else if (x.t === 'raw') {
      out.push(x.s);
    } else if (x.t === 'arr') {
      stack.push(TOK(']'));
      for (let i = x.a.length - 1; i >= 0; i--) {
        stack.push(x.a[i]);
        if (i > 0) stack.push(TOK(','));
      }
      out.push('[');
    } else if (x.t === 'obj') {
      stack.push(TOK('}'));
      for (let i = x.e.length - 1; i >= 0; i--) {
        stack.push(x.e[i][1]);
        stack.push(TOK(`${JSON.stringify(x.e[i][0])}:`));
        if (i > 0) stack.push(TOK(','));
      }
      out.push('{');
    } else {
      throw new Error(`not a body tree node: ${JSON.stringify(x)}`);
    }
  }
  return out.join('');
}
const TOK = (s) => ({ t: 'tok', s });

// The value JSON.parse gives a member: the last one with that key.
export function member(o, key) {
  let v;
  for (const [k, x] of o.e) if (k === key) v = x;
  return v;
}
export function setMember(o, key, value) {
  const i = o.e.findIndex(([k]) => k === key);
  if (i < 0) o.e.push([key, value]);
  else {
    o.e[i][1] = value;
    o.e = o.e.filter(([k], j) => k !== key || j === i);
  }
}
export function deleteMember(o, key) {
  o.e = o.e.filter(([k]) => k !== key);
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

// Numbers as text: spellings JSON.parse and jsonb read differently from how
// they print, and the boundaries of every numeric rule.
export const SPECIAL_NUMBERS = [
  '0', '-0', '0.0', '-0.0', '0e0', '-0E-0', '1', '1.0', '1.00000', '1e0', '1E0', '1e+0', '10e-1', '0.1e1',
  '5', '5.0', '5e0', '5.0000000000000001', '4.9999999999999999', '6', '-1', '2.5', '-1.5', '-0.5', '7.5',
  '5e-324', '-5e-324', '2.2250738585072014e-308', '4.9406564584124654e-324', '2.4703282292062327e-324',
  '2.4703282292062328e-324', '1e-400', '-1e-400', '1e308', '1.7976931348623157e308', '1.7976931348623158e308',
  '1.7976931348623159e308', '1e309', '-1e309', '1e400', '-1e400', '1e99999',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740991', '-9007199254740992',
  '9007199254740991.0', '9007199254740991.5', '9007199254740990.5', '4.5e15', '1e15', '1e20', '1e21', '1e22',
  '123456789012345678901234567890', '0.000001', '0.0000001', '1e-6', '1e-7', '123.456e5', '1E2',
  '90', '90.0', '-90', '90.00000000000001', '-90.00000000000001', '91', '-91', '180', '-180',
  '180.00000000000003', '-180.00000000000003', '181', '-181', '0.30000000000000004', '0.1', '100',
  '1234567.125', '-1234567.125', '3.141592653589793', '2.718281828459045', '1e-5', '1.5e300',
  '0.00000000000000000000000000000000000000000000001', '1' + '0'.repeat(25), '-' + '9'.repeat(30),
  '0.' + '9'.repeat(40), '4294967295', '4294967296', '2147483647', '-2147483648', '18446744073709551616',
];

// A JSON number text with random digits, fraction and exponent.
export function randomNumberText(r) {
  const sign = r.chance(0.3) ? '-' : '';
  let int;
  if (r.chance(0.3)) int = '0';
  else {
    const n = r.pick([1, 1, 1, 2, 3, 5, 8, 12, 15, 16, 17, 18, 20, 25, 40]);
    int = String(r.int(1, 9));
    for (let i = 1; i < n; i++) int += String(r.int(0, 9));
  }
  let frac = '';
  if (r.chance(0.5)) {
    const n = r.pick([1, 1, 2, 3, 6, 8, 9, 15, 17, 20, 30]);
    frac = '.';
    for (let i = 0; i < n; i++) frac += String(r.int(0, 9));
  }
  let exp = '';
  if (r.chance(0.3)) {
    exp = r.pick(['e', 'E']) + r.pick(['', '+', '-']) + String(r.pick([r.int(0, 9), r.int(0, 30), r.int(0, 330), r.int(300, 340), r.int(0, 999)]));
  }
  return sign + int + frac + exp;
}

export function numberText(r) {
  switch (r.weighted([4, 3, 2, 1])) {
    case 0: return r.pick(SPECIAL_NUMBERS);
    case 1: return randomNumberText(r);
    case 2: return String(r.int(-20, 20));
    default: return String(r.anyDouble());
  }
}

// Code points for strings: ASCII, controls (escaped by JSON), Latin-1, the
// rest of the BMP (combining marks, RTL, zero-width, fullwidth, specials),
// astral (surrogate pairs).  Lone surrogates and U+0000 are rare on purpose:
// jsonb cannot hold them, so those cases are not comparable.
const CODE_RANGES = [
  [0x20, 0x7e, 40], [0x01, 0x1f, 3], [0x7f, 0x9f, 1], [0xa0, 0xff, 6], [0x100, 0x17f, 3],
  [0x300, 0x36f, 2], [0x590, 0x6ff, 2], [0x200b, 0x200f, 1], [0x2028, 0x2029, 1], [0x4e00, 0x9fff, 4],
  [0xff01, 0xff5e, 2], [0xfff0, 0xffff, 1], [0x1f300, 0x1faff, 3], [0x10000, 0x10ffff, 1],
  [0x212a, 0x212a, 1], [0x17f, 0x17f, 1], [0x2212, 0x2212, 1],
];
const CODE_WEIGHTS = CODE_RANGES.map((x) => x[2]);

export function randomChar(r, { unsafe = 0 } = {}) {
  if (unsafe && r.chance(unsafe)) return r.pick(['\u0000', '\ud800', '\udfff', '\udc00x', 'a\ud83d']);
  const [lo, hi] = CODE_RANGES[r.weighted(CODE_WEIGHTS)];
  return String.fromCodePoint(r.int(lo, hi));
}

export function randomString(r, { max = 24, unsafe = 0 } = {}) {
  const n = r.chance(0.1) ? 0 : r.int(1, max);
  let s = '';
  for (let i = 0; i < n; i++) s += randomChar(r, { unsafe });
  return s;
}

const METACHARS = [
  "Robert'); DROP TABLE fanfare.consumers;--", '<script>alert(1)</script>', '$(rm -rf /)', '`id`', '\\', '"', "'", '%s%n%x',
  '\\u0000', '{"a":1}', '[]', 'null', 'true', '0', '', ' ', '\t', '\n', '\r\n', 'ß', 'İ', 'ǅ', 'ﬃ', '\u0301e', 'e\u0301',
  '\u202e', '\ufeff', '\ufffd', '\uffff', '😀', '👩‍👩‍👧‍👦', '𝕏', 'ＡＢＣ', '١٢٣', 'NaN', 'Infinity', '-0',
];

export function anyString(r) {
  switch (r.weighted([5, 2, 1, 1])) {
    case 0: return randomString(r);
    case 1: return r.pick(METACHARS);
    case 2: return r.pick(METACHARS) + randomString(r, { max: 6 });
    default: return randomString(r, { max: 300 });
  }
}

// ---------------------------------------------------------------------------
// Timestamps: built from parts, each of which can be off; the oracle decides.
// ---------------------------------------------------------------------------

const pad = (n, w) => String(n).padStart(w, '0');

export function timestampText(r, { sloppy = 0.15 } = {}) {
  const off = () => r.chance(sloppy);
  const year = off()
    ? r.pick(['0000', '10000', '+002024', '-0001', '999', '0001', '9999', '２０２４', '0004', '1600', '1900', '2000', '2100'])
    : pad(r.pick([r.int(1, 9999), r.int(1900, 2100), r.int(1900, 2100), 1, 9999, 4, 1600, 2000, 1900, 2024, 2023]), 4);
  const month = off() ? r.pick(['00', '13', '1', '99']) : pad(r.pick([r.int(1, 12), 2, 2, 1, 12, 4, 6, 9, 11]), 2);
  const day = off() ? r.pick(['00', '32', '1', '３１']) : pad(r.pick([r.int(1, 28), 29, 30, 31, 1, r.int(1, 31)]), 2);
  const sep = off() ? r.pick(['t', '', '  ', '_', 'TT']) : r.pick(['T', 'T', 'T', ' ']);
  const hh = off() ? r.pick(['24', '25', '1', '99']) : pad(r.pick([r.int(0, 23), 0, 23]), 2);
  const mm = off() ? r.pick(['60', '5', '']) : pad(r.pick([r.int(0, 59), 0, 59]), 2);
  let ss = off() ? r.pick(['60', '61', '5']) : pad(r.pick([r.int(0, 59), 0, 59]), 2);
  let time = `${hh}:${mm}`;
  if (!off() || r.chance(0.5)) time += `:${ss}`;
  if (r.chance(0.4)) {
    const n = off() ? r.pick([0, 10, 11, 20]) : r.int(1, 9);
    let f = '';
    for (let i = 0; i < n; i++) f += String(r.int(0, 9));
    time += (off() ? r.pick([',', '.']) : '.') + f;
  }
  let zone;
  const offHH = off() ? r.pick(['24', '2', '99']) : pad(r.pick([r.int(0, 23), 0, 1, 15, 16, 23]), 2);
  const offMM = off() ? r.pick(['60', '0', '99']) : pad(r.pick([r.int(0, 59), 0, 30, 59]), 2);
  switch (r.int(0, 6)) {
    case 0: case 1: zone = off() ? r.pick(['z', ' Z', '', 'UTC', 'GMT', '+02:00[Europe/Paris]']) : 'Z'; break;
    case 2: zone = `${r.pick(['+', '-'])}${offHH}`; break;
    case 3: zone = `${r.pick(['+', '-'])}${offHH}${offMM}`; break;
    case 4: zone = `${r.pick(['+', '-'])}${offHH}:${offMM}`; break;
    case 5: zone = ` ${r.pick(['+', '-'])}${offHH}:${offMM}`; break;
    default: zone = `${off() ? r.pick(['\u2212', '+', '-', '+-']) : r.pick(['+', '-'])}${offHH}:${offMM}${off() ? ':00' : ''}`;
  }
  let s = `${year}-${month}-${day}${sep}${time}${zone}`;
  if (r.chance(sloppy / 3)) s = r.pick([' ', '\n', '\t', '']) + s + r.pick([' ', '\n', '\u200b', '']);
  return s;
}

// ---------------------------------------------------------------------------
// Emails (FORMAT.md's corner cases, plus generated ones)
// ---------------------------------------------------------------------------

export const VALID_EMAILS = [
  'USER@EXAMPLE.COM', 'user+tag@example.com', 'a@b.co', 'a@1.com', 'a@123.456.com', 'a@b.c-d.com',
  'a@example.verylongtopleveldomainname', '+@example.com', '-@example.com', '_@example.com', 'a.b.c@d-e.f-g.hi',
  'x'.repeat(300) + '@example.com', 'a@' + 'b'.repeat(100) + '.com', 'A_B-C+D@X1-Y2.Z3.ab',
];
export const INVALID_EMAILS = [
  'a@b.c', 'a@b.c0m', 'user@127.0.0.1', 'user@[127.0.0.1]', 'a@xn--bcher-kva.com', 'a@b.xn--p1ai', 'a@b--c.com',
  'a@b_c.com', 'a@b.com.', '"a"@b.com', "o'brien@example.com", 'a!b@c.com', 'a#b@c.com', 'a$b@c.com', 'a%b@c.com',
  'a=b@c.com', 'a*b@c.com', 'a/b@c.com', 'a{b}@c.com', 'ü@example.com', 'a@bücher.de', 'ａ@example.com',
  'a@example.com\u200b', ' a@example.com', 'a@example.com ', 'a@example.com\n', 'user@localhost', 'mailto:a@b.com',
  '<user@example.com>', 'a@@b.com', 'a@b@c.com', '@b.com', 'a@', 'a', '', '.a@b.com', 'a.@b.com', 'a..b@c.com',
  'a@.b.com', 'a@b..com', 'a@-b.com', 'a@b-.com', 'a@b.c-', 'ſ@example.com', 'a@example.\u212aom', 'a@b.co\r',
  'a@b.COM\u0301', 'a b@c.com', 'a@b.c_m', 'a@b.-com',
];

export function emailText(r, unique) {
  switch (r.weighted([4, 2, 2, 1])) {
    case 0: return `u${unique}.${r.pick(['a', 'Zed', 'x_y', 'p+q', 'm-n'])}@${r.pick(['example.com', 'Mail.Example.ORG', 'a-b.c-d.io', 'x1.yz'])}`;
    case 1: return r.pick(VALID_EMAILS);
    case 2: return r.pick(INVALID_EMAILS);
    default: {
      // a generated one with a random character spliced in
      const base = `u${unique}@example.com`;
      const at = r.int(0, base.length);
      return base.slice(0, at) + randomChar(r) + base.slice(at);
    }
  }
}

// ---------------------------------------------------------------------------
// Decimals (aov, ltv)
// ---------------------------------------------------------------------------

const digits = (r, n) => {
  let s = '';
  for (let i = 0; i < n; i++) s += String(r.int(0, 9));
  return s;
};

export function decimalText(r, { sloppy = 0.2 } = {}) {
  if (r.chance(sloppy)) {
    return r.pick(['', '1.', '.5', '-1', '+1', '1e5', '1E5', ' 1', '1 ', '1,5', '１', '0x10', 'NaN', 'Infinity',
      '1234567890123', '1.123456789', '00000000000000', '1.2.3', '٣', '-0', '0.', digits(r, 13), `${digits(r, 3)}.${digits(r, 9)}`]);
  }
  let s = digits(r, r.pick([1, 1, 2, 3, 5, 8, 12, 12]));
  if (r.chance(0.5)) s += '.' + digits(r, r.int(1, 8));
  return s;
}

// ---------------------------------------------------------------------------
// Consumers and batches (the differential fuzzer)
// ---------------------------------------------------------------------------

import { FIELDS as REQUEST_FIELDS } from '../conformance/schema.mjs';
import {
  RANK_FIELDS, FINITE_FIELDS, COUNT_FIELDS, DECIMAL_FIELDS, TIMESTAMP_FIELDS, MAX_BATCH,
} from '../conformance/schema-strict.mjs';

// field -> kind, from the request schema's catalogue refined by the strict one
export const KINDS = {};
for (const [name, k] of Object.entries(REQUEST_FIELDS)) {
  KINDS[name] = RANK_FIELDS.includes(name) ? 'rank'
    : FINITE_FIELDS.includes(name) ? 'finite'
    : COUNT_FIELDS.includes(name) ? 'count'
    : DECIMAL_FIELDS.includes(name) ? 'decimal'
    : TIMESTAMP_FIELDS.includes(name) ? 'timestamp'
    : k;
}
const REQUIRED = ['emailVerified', 'phoneVerified', 'status'];
const OPTIONAL = Object.keys(KINDS).filter((k) => !REQUIRED.includes(k));
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const METADATA_KEYS = ['0', '1', '2', '10', '01', '-1', '4294967294', '4294967295', '9007199254740993', '', ' ', 'a', 'b', 'B', 'key',
  'é', 'ß', '😀', 'a.b', 'a"b', 'consumers', 'email', ...PROTO_KEYS];

function shuffle(r, list) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

function scalar(r) {
  switch (r.int(0, 4)) {
    case 0: return anyString(r);
    case 1: return raw(numberText(r));
    case 2: return r.chance(0.5);
    case 3: return null;
    default: return r.pick(['', 'x', 'value', '😀']);
  }
}

function metadataKey(r) {
  return r.chance(0.5) ? r.pick(METADATA_KEYS) : randomString(r, { max: 10 });
}

// A value that is no metadata value: an object, or an array holding one.
function nested(r, depth) {
  let x = r.chance(0.5) ? obj([[metadataKey(r), scalar(r)]]) : arr([scalar(r)]);
  for (let i = 1; i < depth; i++) x = r.chance(0.5) ? obj([[metadataKey(r), x]]) : arr([x]);
  return x;
}

function deepDepth(r) {
  return r.pick([1, 1, 2, 3, 5, 10, 30, r.int(1, 100), r.chance(0.05) ? r.int(100, 2000) : 4]);
}

function metadataValue(r, bad) {
  if (!bad) return r.chance(0.8) ? scalar(r) : arr(Array.from({ length: r.int(0, 5) }, () => scalar(r)));
  switch (r.int(0, 3)) {
    case 0: return obj(Array.from({ length: r.int(0, 3) }, () => [metadataKey(r), scalar(r)]));
    case 1: return nested(r, deepDepth(r));
    default: {
      const items = Array.from({ length: r.int(1, 6) }, () => scalar(r));
      const nbad = r.int(1, items.length);
      for (let i = 0; i < nbad; i++) items[r.int(0, items.length - 1)] = r.chance(0.5) ? nested(r, deepDepth(r)) : arr([]);
      return arr(items);
    }
  }
}

function metadata(r, bad) {
  if (r.chance(0.08)) return arr(Array.from({ length: r.int(0, 4) }, () => metadataValue(r, bad && r.chance(0.5)))); // an array as a record
  const n = r.pick([0, 1, 2, 3, 5, 8, r.int(0, 40)]);
  const e = [];
  for (let i = 0; i < n; i++) e.push([metadataKey(r), metadataValue(r, bad && r.chance(0.5))]);
  if (bad && !e.length) e.push([metadataKey(r), metadataValue(r, true)]);
  return obj(e);
}

function geo(r) {
  const lat = r.chance(0.3) ? raw(r.pick(['90', '-90', '0', '-0', '90.0', '89.99999999999999', '1e-300'])) : Math.round(r.float() * 18000000 - 9000000) / 100000;
  const lon = r.chance(0.3) ? raw(r.pick(['180', '-180', '0', '-0', '-180.0', '179.99999999999997'])) : Math.round(r.float() * 36000000 - 18000000) / 100000;
  return obj(r.chance(0.8) ? [['latitude', lat], ['longitude', lon]] : [['longitude', lon], ['latitude', lat]]);
}

// A timestamp that is almost always valid (timestampText reaches the edges).
function validTimestamp(r) {
  const frac = r.chance(0.5) ? '' : '.' + digits(r, r.int(1, 9));
  const zone = r.chance(0.5) ? 'Z' : `${r.pick(['+', '-', ' +', ' -'])}${pad(r.int(0, 15), 2)}${r.pick([':', ''])}${pad(r.int(0, 59), 2)}`;
  return `${pad(r.int(1800, 2200), 4)}-${pad(r.int(1, 12), 2)}-${pad(r.int(1, 28), 2)}${r.pick(['T', ' '])}${pad(r.int(0, 23), 2)}:${pad(r.int(0, 59), 2)}:${pad(r.int(0, 59), 2)}${frac}${zone}`;
}

// A value the strict schema accepts for `kind` (nearly always: the oracle decides).
export function validValue(r, kind, ctx) {
  switch (kind) {
    case 'bool': case 'obool': return r.chance(0.5);
    case 'status': return r.pick(['ACTIVE', 'INACTIVE']);
    case 'rank': return r.chance(0.8) ? r.int(0, 5) : raw(r.pick(['0', '-0', '5', '1.0', '5e0', '5.0000000000000001', '-1e-400', '0e5', '2.0']));
    case 'finite': return r.chance(0.5) ? r.anyDouble() : raw(r.pick(SPECIAL_NUMBERS.filter((t) => Number.isFinite(Number(t)))));
    case 'count': return r.chance(0.7) ? r.pick([0, r.int(0, 100), r.int(0, 2 ** 31), Number.MAX_SAFE_INTEGER])
      : raw(r.pick(['0', '-0', '9007199254740991', '9007199254740991.0', '1e15', '4.5e15', '1.0', '1E2', '-1e-400', '123.456e5']));
    case 'decimal': return decimalText(r, { sloppy: 0 });
    case 'timestamp': return r.chance(0.1) ? null : r.chance(0.7) ? validTimestamp(r) : timestampText(r, { sloppy: 0 });
    case 'nstring': return r.chance(0.1) ? null : anyString(r);
    case 'email': return r.chance(0.1) ? null : `u${ctx.unique++}.${r.pick(['a', 'Zed', 'x_y', 'p+q', 'm-n'])}@${r.pick(['example.com', 'Mail.Example.ORG', 'a-b.c-d.io', 'x1.yz'])}`;
    case 'geo': return r.chance(0.15) ? null : geo(r);
    case 'metadata': return r.chance(0.1) ? null : metadata(r, false);
    default: throw new Error(`kind ${kind}`);
  }
}

// A value of any JSON type.
export function anyValue(r, depth = 0) {
  switch (r.int(0, depth > 3 ? 4 : 6)) {
    case 0: return anyString(r);
    case 1: return raw(numberText(r));
    case 2: return r.chance(0.5);
    case 3: return null;
    case 4: return r.pick(['', 'ACTIVE', 'true', '1']);
    case 5: return arr(Array.from({ length: r.int(0, 3) }, () => anyValue(r, depth + 1)));
    default: return obj(Array.from({ length: r.int(0, 3) }, () => [r.chance(0.5) ? r.pick(OPTIONAL) : metadataKey(r), anyValue(r, depth + 1)]));
  }
}

// A value that is probably wrong for `kind` (the oracle decides).
export function faultValue(r, kind, ctx) {
  if (r.chance(0.3)) return anyValue(r); // a wrong type, mostly
  switch (kind) {
    case 'bool': case 'obool': return r.pick(['true', 'false', 0, 1, null, raw('0'), arr([]), obj([])]);
    case 'status': return r.pick(['active', 'Active', 'ACTIVE ', ' ACTIVE', 'ACTIVE\n', 'INACTIV', '', 'DELETED', 'АCTIVE', 'ＡＣＴＩＶＥ', null, 1, true, arr(['ACTIVE'])]);
    case 'rank': case 'finite': case 'count': return raw(numberText(r));
    case 'decimal': return r.chance(0.7) ? decimalText(r, { sloppy: 1 }) : raw(numberText(r));
    case 'timestamp': return timestampText(r, { sloppy: r.pick([0.1, 0.3, 1]) });
    case 'nstring': return r.chance(0.5) ? raw(numberText(r)) : r.pick([true, false, arr([]), obj([]), arr([anyString(r)])]);
    case 'email': return r.chance(0.8) ? emailText(r, ctx.unique++) : r.pick(INVALID_EMAILS);
    case 'geo': {
      const g = geo(r);
      switch (r.int(0, 6)) {
        case 0: deleteMember(g, r.pick(['latitude', 'longitude'])); return g;
        case 1: setMember(g, r.pick(['latitude', 'longitude']), raw(numberText(r))); return g;
        case 2: setMember(g, r.pick(['latitude', 'longitude']), anyValue(r)); return g;
        case 3: return arr(r.chance(0.5) ? [] : [raw('1'), raw('2')]);
        case 4: g.e.push([r.pick(['altitude', 'latitude', '__proto__']), anyValue(r)]); return g;
        case 5: return obj([]);
        default: return r.pick(['1,2', 0, true]);
      }
    }
    case 'metadata': return r.chance(0.15) ? r.pick(['x', 1, true, raw('1e400'), '{}']) : metadata(r, true);
    default: throw new Error(`kind ${kind}`);
  }
}

// A consumer the strict schema accepts; `density` is the share of optional
// fields present.
export function validConsumer(r, ctx, density) {
  const e = REQUIRED.map((k) => [k, validValue(r, KINDS[k], ctx)]);
  for (const k of OPTIONAL) if (r.chance(density)) e.push([k, validValue(r, KINDS[k], ctx)]);
  if (r.chance(0.7)) shuffle(r, e);
  return obj(e);
}

// Applies one fault to the consumer `c` (an obj node); returns a note.
function addFault(r, c, ctx) {
  const k = r.pick(Object.keys(KINDS));
  switch (r.weighted([10, 3, 2, 2, 1, 1, 1, 1])) {
    case 0: setMember(c, k, faultValue(r, KINDS[k], ctx)); return `bad ${k}`;
    case 1: deleteMember(c, r.pick(REQUIRED)); return 'missing required key';
    case 2: c.e.push([r.chance(0.5) ? r.pick(['id', 'organizationId', 'createdAt', 'archived', 'Email', 'STATUS', 'extra']) : randomString(r, { max: 12 }), anyValue(r)]); return 'unknown key';
    case 3: // the same key twice: JSON.parse and jsonb keep the last
      c.e.push([k, r.chance(0.5) ? validValue(r, KINDS[k], ctx) : faultValue(r, KINDS[k], ctx)]);
      return `duplicate ${k}`;
    case 4: c.e.push([r.pick(PROTO_KEYS), r.chance(0.5) ? anyValue(r) : obj([['status', 'x'], ['emailVerified', 'x']])]); return 'prototype key';
    case 5: setMember(c, k, null); return `null ${k}`;
    case 6: setMember(c, r.pick(['metadata', 'fullName', 'lastGeoCity']), r.chance(0.5) ? nested(r, deepDepth(r)) : faultValue(r, 'metadata', ctx)); return 'deep value';
    default: // U+0000 or a lone surrogate, now and then (not expressible in jsonb)
      setMember(c, r.pick(['fullName', 'phone', 'verificationCode', 'lastGeoCity']), randomString(r, { max: 8, unsafe: r.chance(0.1) ? 0.5 : 0 })); return 'string';
  }
}

// The elements that are not objects (arrays pass Valibot's object check).
function oddElement(r) {
  return r.pick([null, 0, 1, raw('-0'), 'x', '', true, false, arr([]), arr([true, true, 'ACTIVE']), obj([]),
    arr([obj([['emailVerified', true]])])]);
}

function batchSize(r) {
  switch (r.weighted([30, 40, 20, 7, 3])) {
    case 0: return 1;
    case 1: return r.int(2, 5);
    case 2: return r.int(6, 30);
    case 3: return r.int(31, 120);
    default: return r.int(MAX_BATCH - 10, MAX_BATCH + 20);
  }
}

// Gives every email string of the batch a distinct ASCII-lower-cased form:
// duplicate emails are the product's `unique` rule, which Valibot does not
// know about.
function dedupeEmails(elements) {
  const seen = new Set();
  elements.forEach((c, i) => {
    if (!isObj(c)) return;
    const email = member(c, 'email');
    if (typeof email !== 'string') return;
    const key = email.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
    if (seen.has(key)) setMember(c, 'email', `dup${i}.${seen.size}@dedupe.example`);
    else seen.add(key);
  });
}

// One differential case: {tree, mode}.
export function fuzzCase(seed, index) {
  const r = new Rng(seed, index);
  const ctx = { unique: 0 };
  const mode = ['clean', 'light', 'heavy', 'body'][r.weighted([35, 25, 32, 8])];
  const n = batchSize(r);
  const big = n > 120;
  // fewer fields in longer batches: every issue's wire form repeats the body
  const density = r.pick(n === 1 ? [0, 0.1, 0.3, 0.6, 1] : n <= 5 ? [0, 0.1, 0.3, 0.6] : n <= 30 ? [0, 0.05, 0.15] : n <= 120 ? [0, 0.02, 0.05] : [0, 0.01]);
  const elements = [];
  for (let i = 0; i < n; i++) elements.push(validConsumer(r, ctx, density));

  if (mode === 'light' || mode === 'heavy') {
    const faults = mode === 'light' ? 1 : big ? r.int(1, 4) : r.int(2, Math.min(4 * n, 12));
    for (let f = 0; f < faults; f++) {
      const i = mode === 'heavy' && !big && r.chance(0.5) ? r.int(0, Math.min(n, 3) - 1) : r.int(0, n - 1); // several faults per element
      if (r.chance(0.05)) elements[i] = oddElement(r);
      else if (isObj(elements[i])) addFault(r, elements[i], ctx);
    }
  }
  // a huge string, now and then
  if (!big && r.chance(0.01)) {
    const c = elements[r.int(0, n - 1)];
    if (isObj(c)) setMember(c, r.pick(['fullName', 'lastGeoRegion', 'verificationCode']), randomChar(r).repeat(r.pick([10000, 100000, 300000])));
  }
  dedupeEmails(elements);

  let body = obj([['consumers', arr(elements)]]);
  if (mode === 'body') {
    switch (r.int(0, 9)) {
      case 0: body = r.pick([null, 0, raw('-0'), 'consumers', '', true, raw('1e400')]); break;
      case 1: body = arr(r.chance(0.5) ? [] : [obj([['consumers', arr(elements)]])]); break;
      case 2: body = obj([]); break;
      case 3: body = obj([['consumers', r.pick([null, 1, 'x', true, obj([]), obj([['0', elements[0]]])])]]); break;
      case 4: body = obj([['consumers', arr([])]]); break;
      case 5: body.e.push([r.pick(['extra', 'Consumers', '__proto__', 'consumer']), anyValue(r)]); break;
      case 6: body.e.unshift(['consumers', r.chance(0.5) ? 'first' : arr([])]); break; // duplicate key, last wins
      case 7: body.e.push(['consumers', r.chance(0.5) ? null : arr([oddElement(r)])]); break;
      case 8: body = obj([['consumers', arr(Array.from({ length: r.int(1, 5) }, () => oddElement(r)))]]); break;
      default: body = obj([['__proto__', obj([['consumers', arr([])]])]]);
    }
  }
  return { tree: body, mode, n };
}
