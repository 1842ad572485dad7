// Does the time to refuse a wrong key depend on how much of it matches the
// real key?  Three kinds of wrong key, sent interleaved in random order on one
// keep-alive connection, one request at a time:
//   public8  the public "sk_live_" prefix, then differs at once
//   match40  the real key's first 40 characters, then differs
//   match50  the real key but for its last character
// Compares the median and the 20%-trimmed mean of each against public8.  The
// threshold is generous (max(--min-ms, --ratio × baseline)): a string
// comparison leaking 32-42 matching characters would cost nanoseconds, so
// the measurement can only catch a gross dependence (an early exit around a
// slow step); the real guarantee is that the database compares SHA-256
// hashes found through the unique index on key_hash, never the key text.
//
//   node timing.mjs --port P --key KEY [--n 300] [--ratio 0.25] [--min-ms 0.3] [--self-test]
//
// --self-test also feeds the same statistic the baseline samples slowed by
// twice the threshold and by 1 ms, and fails unless it flags both (and
// leaves the unchanged samples alone).  Prints a JSON summary; exits 1
// when a difference (or a self-test miss) is found.
import http from "node:http";

const opt = {n: 300, ratio: 0.25, "min-ms": 0.3};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--self-test") opt.selfTest = true;
    else opt[argv[i].replace(/^--/, "")] = argv[++i];
}
const key = opt.key;
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const other = (c) => alphabet[(alphabet.indexOf(c) + 1 + Math.floor(Math.random() * 60)) % 64];
const tail = (n) => Array.from({length: n}, () => alphabet[Math.floor(Math.random() * 64)]).join("");
// a wrong key that shares exactly `shared` leading characters with the real one
const wrongKey = (shared) => key.slice(0, shared) + other(key[shared]) + tail(key.length - shared - 1);
const kinds = {public8: 8, match40: 40, match50: key.length - 1};
const body = JSON.stringify({consumers: [{email: "timing@example.com", emailVerified: true, phoneVerified: false, status: "ACTIVE"}]});
const agent = new http.Agent({keepAlive: true, maxSockets: 1});

function once(k) {
    return new Promise((resolve) => {
        const t0 = process.hrtime.bigint();
        const req = http.request({port: +opt.port, host: "127.0.0.1", path: "/consumers/batch", method: "POST", agent, timeout: 10000,
            headers: {"Authorization": `Bearer ${k}`, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body)}},
        (res) => {
            res.resume();
            res.on("end", () => resolve({status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6}));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve({status: e.message, ms: 0}));
        req.end(body);
    });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const trimmed = (xs) => {
    const s = [...xs].sort((a, b) => a - b), cut = Math.floor(s.length * 0.2);
    const mid = s.slice(cut, s.length - cut);
    return mid.reduce((a, b) => a + b, 0) / mid.length;
};
// true when sample differs from base beyond the threshold
function differs(base, sample) {
    const limit = Math.max(+opt["min-ms"], +opt.ratio * median(base));
    return Math.abs(median(sample) - median(base)) > limit || Math.abs(trimmed(sample) - trimmed(base)) > limit;
}

for (let i = 0; i < 50; i++) await once(wrongKey(8));   // warm-up
const order = [];
for (const k of Object.keys(kinds)) for (let i = 0; i < +opt.n; i++) order.push(k);
for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
}
const samples = {public8: [], match40: [], match50: []};
const statuses = {};
for (const k of order) {
    const r = await once(wrongKey(kinds[k]));
    statuses[r.status] = (statuses[r.status] || 0) + 1;
    samples[k].push(r.ms);
}
agent.destroy();

const stats = {};
for (const [k, xs] of Object.entries(samples))
    stats[k] = {median_ms: +median(xs).toFixed(3), trimmed_mean_ms: +trimmed(xs).toFixed(3)};
const found = ["match40", "match50"].filter((k) => differs(samples.public8, samples[k]));
const summary = {requests: order.length, statuses, stats, threshold_ms: +Math.max(+opt["min-ms"], +opt.ratio * median(samples.public8)).toFixed(3), differs: found};
let misses = 0;
if (opt.selfTest) {
    const base = samples.public8;
    summary.selfTest = {
        "slower by twice the threshold flagged": differs(base, base.map((x) => x + 2 * summary.threshold_ms)),
        "1 ms slower flagged": differs(base, base.map((x) => x + 1)),
        "same samples not flagged": !differs(base, base),
    };
    misses = Object.values(summary.selfTest).filter((v) => !v).length;
}
process.stdout.write(JSON.stringify(summary) + "\n");
process.exit(found.length === 0 && misses === 0 && statuses[401] === order.length ? 0 : 1);
