// gen.mjs: the benchmark's data, deterministic (same seed, same bytes).
//
//   node bench/gen.mjs OUTDIR SIZES ORGANIZATION_ID
//
// For every size N in SIZES (comma-separated) it writes
//   OUTDIR/payload-N.json  {"consumers":[...]}: the body every SQL contender gets
//   OUTDIR/rows-N.csv      the same consumers as table rows, defaults applied,
//                          for the COPY contender (columns: COPY_COLUMNS below)
// and, for the gateway part, OUTDIR/gw-1.json and OUTDIR/gw-500.json: the same
// consumers without "email", so that repeated requests never collide on the
// unique (organization, lower(email)) index.
//
// Every size is a prefix of one stream of consumers, so batch N and batch M
// share their first min(N, M) rows.  Each consumer sets its three required
// fields and about half of the optional ones; every value is valid under the
// strict rules (test/conformance/FORMAT-STRICT.md); emails are unique.

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [outdir, sizesArg, organizationId] = process.argv.slice(2);
if (!outdir || !sizesArg || !organizationId) {
  console.error('usage: node gen.mjs OUTDIR SIZES ORGANIZATION_ID');
  process.exit(2);
}
const sizes = sizesArg.split(',').map(Number);
// A round of a small batch is several calls, each with its own slice of
// the stream (run.sh: calls = clamp(2000 / N, 1, 200)), so the stream is at
// least 2000 consumers long; the warm-up call uses one consumer past its end.
const callsPerRound = (n) => Math.min(200, Math.max(1, Math.floor(2000 / n)));
const maxSize = Math.max(2000, ...sizes);

// mulberry32: small, fast, and identical on every platform
let seed = 0x5eed2024;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (list) => list[Math.floor(random() * list.length)];
const half = () => random() < 0.5;
const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;

const FIRST = ['Ada', 'Noah', 'Mia', 'Liam', 'Zoé', 'Kenji', 'Amara', 'Lucas', 'Ingrid', 'Omar',
  'Priya', 'Mateo', 'Chloe', 'Tariq', 'Hana', 'Felix', 'Sofia', 'Diego', 'Nora', 'Yusuf'];
const LAST = ['Lovelace', 'Martin', "O'Brien", 'Nakamura', 'Okafor', 'Silva', 'Larsen', 'Haddad',
  'Patel', 'García', 'Dubois', 'Kowalski', 'Nguyen', 'Schmidt', 'Rossi', 'Cohen'];
const DOMAINS = ['example.com', 'mail.example.org', 'shop-example.net', 'example.co.uk'];
const CITIES = [
  // city, country, region, postal code, timezone, latitude, longitude
  ['Paris', 'FR', 'Île-de-France', '75001', 'Europe/Paris', 48.8566, 2.3522],
  ['Lagos', 'NG', 'Lagos', '100001', 'Africa/Lagos', 6.5244, 3.3792],
  ['Osaka', 'JP', 'Osaka', '530-0001', 'Asia/Tokyo', 34.6937, 135.5023],
  ['Austin', 'US', 'TX', '73301', 'America/Chicago', 30.2672, -97.7431],
  ['São Paulo', 'BR', 'SP', '01000-000', 'America/Sao_Paulo', -23.5505, -46.6333],
  ['Auckland', 'NZ', 'Auckland', '1010', 'Pacific/Auckland', -36.8485, 174.7633],
];
const VENDORS = ['shopify', 'klaviyo', 'square', 'csv-import'];
const TIERS = ['bronze', 'silver', 'gold', null];
const TAGS = ['vip', 'newsletter', 'wholesale', 'returning', 'beta'];

const T0 = Date.UTC(2022, 0, 1);
const T1 = Date.UTC(2025, 5, 30);
const timestamp = () => new Date(T0 + Math.floor(random() * (T1 - T0))).toISOString();
const money = () => `${int(0, 4999)}.${String(int(0, 99)).padStart(2, '0')}`;

// One consumer as the API receives it; keys in the order a client might send them.
function consumer(i) {
  const first = pick(FIRST);
  const last = pick(LAST);
  const c = {
    email: `${first.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase()}.${last.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase()}.${i}@${pick(DOMAINS)}`,
    emailVerified: half(),
    phoneVerified: half(),
    status: random() < 0.9 ? 'ACTIVE' : 'INACTIVE',
  };
  if (half()) c.fullName = `${first} ${last}`;
  if (half()) c.phone = `+1555${String(int(0, 9999999)).padStart(7, '0')}`;
  if (half()) c.smsOptOut = half();
  for (const k of ['activity', 'monetary', 'purchaseFrequency']) {
    if (half()) c[`${k}Rank`] = int(0, 5);
    if (half()) c[`${k}Score`] = round(random() * 100, 3);
    if (half()) c[`${k}ScoreUpdatedAt`] = timestamp();
  }
  if (half()) c.aov = money();
  if (half()) c.ltv = money();
  for (const k of ['engagedCount', 'totalEngagements', 'totalMessages', 'totalOrders', 'totalReturns']) {
    if (half()) c[k] = int(0, 500);
  }
  for (const k of ['lastEngagedAt', 'lastLoginAt', 'lastOrderAt', 'lastReturnAt']) {
    if (half()) c[k] = timestamp();
  }
  if (half()) {
    const [city, country, region, postal, tz, lat, lon] = pick(CITIES);
    c.lastGeoAt = timestamp();
    c.lastGeoCity = city;
    c.lastGeoCoordinates = { latitude: round(lat + random() / 10, 4), longitude: round(lon + random() / 10, 4) };
    c.lastGeoCountry = country;
    c.lastGeoPostalCode = postal;
    c.lastGeoRegion = region;
    c.lastGeoSource = pick(['ip', 'gps']);
    c.lastGeoTimezone = tz;
  }
  if (half()) c.loyaltyBalance = int(0, 2000);
  if (half()) c.loyaltyLastActivityAt = timestamp();
  if (half()) c.loyaltyLifetimePoints = int(0, 20000);
  if (half()) {
    c.metadata = { source: pick(VENDORS), tier: pick(TIERS) };
    if (half()) c.metadata.tags = TAGS.filter(() => random() < 0.4);
    if (half()) c.metadata.visits = int(1, 300);
  }
  if (half()) {
    c.verificationCode = String(int(0, 999999)).padStart(6, '0');
    c.verificationCodeExpiresAt = timestamp();
  }
  return c;
}

// Columns of fanfare.consumers that the COPY contender fills, in CSV order.
// created_at (default now()), archived (default false), updated_* and
// primary_* (NULL) are left to the table, as create_consumers leaves them.
const COPY_COLUMNS = [
  ['organization_id', () => organizationId],
  ['id', (c, id) => id],
  ['created_by', () => 'bench'],
  ['email', (c) => c.email],
  ['email_verified', (c) => c.emailVerified],
  ['phone', (c) => c.phone],
  ['phone_verified', (c) => c.phoneVerified],
  ['full_name', (c) => c.fullName],
  ['status', (c) => c.status],
  ['sms_opt_out', (c) => c.smsOptOut ?? false],
  ['activity_rank', (c) => c.activityRank ?? 0],
  ['activity_score', (c) => c.activityScore ?? 0],
  ['activity_score_updated_at', (c) => c.activityScoreUpdatedAt],
  ['monetary_rank', (c) => c.monetaryRank ?? 0],
  ['monetary_score', (c) => c.monetaryScore ?? 0],
  ['monetary_score_updated_at', (c) => c.monetaryScoreUpdatedAt],
  ['purchase_frequency_rank', (c) => c.purchaseFrequencyRank ?? 0],
  ['purchase_frequency_score', (c) => c.purchaseFrequencyScore ?? 0],
  ['purchase_frequency_score_updated_at', (c) => c.purchaseFrequencyScoreUpdatedAt],
  ['aov', (c) => c.aov ?? '0'],
  ['ltv', (c) => c.ltv ?? '0'],
  ['engaged_count', (c) => c.engagedCount ?? 0],
  ['last_engaged_at', (c) => c.lastEngagedAt],
  ['total_engagements', (c) => c.totalEngagements ?? 0],
  ['total_messages', (c) => c.totalMessages ?? 0],
  ['total_orders', (c) => c.totalOrders ?? 0],
  ['total_returns', (c) => c.totalReturns ?? 0],
  ['last_login_at', (c) => c.lastLoginAt],
  ['last_order_at', (c) => c.lastOrderAt],
  ['last_return_at', (c) => c.lastReturnAt],
  ['last_geo_at', (c) => c.lastGeoAt],
  ['last_geo_city', (c) => c.lastGeoCity],
  ['last_geo_latitude', (c) => c.lastGeoCoordinates?.latitude],
  ['last_geo_longitude', (c) => c.lastGeoCoordinates?.longitude],
  ['last_geo_country', (c) => c.lastGeoCountry],
  ['last_geo_postal_code', (c) => c.lastGeoPostalCode],
  ['last_geo_region', (c) => c.lastGeoRegion],
  ['last_geo_source', (c) => c.lastGeoSource],
  ['last_geo_timezone', (c) => c.lastGeoTimezone],
  ['loyalty_balance', (c) => c.loyaltyBalance ?? 0],
  ['loyalty_last_activity_at', (c) => c.loyaltyLastActivityAt],
  ['loyalty_lifetime_points', (c) => c.loyaltyLifetimePoints ?? 0],
  ['metadata', (c) => (c.metadata === undefined ? undefined : JSON.stringify(c.metadata))],
  ['verification_code', (c) => c.verificationCode],
  ['verification_code_expires_at', (c) => c.verificationCodeExpiresAt],
];

// CSV field: unquoted empty string is NULL; everything else quoted when needed.
function csvField(value) {
  if (value === undefined || value === null) return '';
  const s = String(value);
  return /[",\n\r]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
}

// A random (version 4) uuid from the seeded generator: deterministic row ids.
function uuid() {
  const hex = [];
  for (let i = 0; i < 16; i++) hex.push(int(0, 255));
  hex[6] = (hex[6] & 0x0f) | 0x40;
  hex[8] = (hex[8] & 0x3f) | 0x80;
  const h = hex.map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

mkdirSync(outdir, { recursive: true });
const consumers = [];
const csvLines = [];
for (let i = 0; i < maxSize; i++) {
  const c = consumer(i);
  const id = uuid();
  consumers.push(c);
  csvLines.push(COPY_COLUMNS.map(([, get]) => csvField(get(c, id))).join(',') + '\n');
}
const payload = (from, to) =>
  `{"consumers":[${consumers.slice(from, to).map((c) => JSON.stringify(c)).join(',')}]}`;
for (const n of sizes) {
  writeFileSync(join(outdir, `payload-${n}.json`), payload(0, n));
  for (let k = 0; k < callsPerRound(n); k++) {
    writeFileSync(join(outdir, `payload-${n}.${k}.json`), payload(k * n, (k + 1) * n));
    writeFileSync(join(outdir, `rows-${n}.${k}.csv`), csvLines.slice(k * n, (k + 1) * n).join(''));
  }
}
{
  const c = consumer(maxSize);
  const id = uuid();
  writeFileSync(join(outdir, 'warmup.json'), `{"consumers":[${JSON.stringify(c)}]}`);
  writeFileSync(join(outdir, 'warmup.csv'), COPY_COLUMNS.map(([, get]) => csvField(get(c, id))).join(',') + '\n');
}
for (const n of [1, 500]) {
  const json = consumers.slice(0, n).map(({ email, ...rest }) => JSON.stringify(rest));
  writeFileSync(join(outdir, `gw-${n}.json`), `{"consumers":[${json.join(',')}]}`);
}
writeFileSync(join(outdir, 'copy-columns.txt'), COPY_COLUMNS.map(([name]) => name).join(','));
