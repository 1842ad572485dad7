// Load client for POST /consumers/batch: a fixed number of keep-alive
// connections, each sending one request at a time, for a bounded time and a
// bounded number of requests.  The mix: valid batches (1-5 consumers), invalid
// batches (valid elements plus one invalid one) and valid batches with a bad
// key.  Every email is TAG-N-I@example.com (N the request's number, I the
// element's), so audit.mjs can tell which request a stored row came from.
//
// Writes one JSON line per request to --out (kind, tenant, size, status, ids
// of a 200, network error) and prints a summary as JSON on stdout.
//
//   node load.mjs --url http://127.0.0.1:PORT --keys keys.json --tag TAG --out log.jsonl
//        [--connections 16] [--duration 15] [--max-requests 100000] [--seed 1]
//        [--mix 6,2,2] [--timeout 30] [--marks marks.log]
//
// --marks: a file the caller appends "name unix_ms" lines to; ignored here,
// read by audit.mjs.  SIGTERM stops it early: no new requests, the ones in
// flight finish, the summary is printed.
import fs from "node:fs";
import http from "node:http";

import {rng} from "./rng.mjs";

function args(argv) {
    const a = {connections: 16, duration: 15, "max-requests": 100000, seed: 1, mix: "6,2,2", timeout: 30};
    for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
    for (const k of ["url", "keys", "tag", "out"]) if (!a[k]) throw new Error(`--${k} is required`);
    return a;
}

const opt = args(process.argv.slice(2));
const keys = JSON.parse(fs.readFileSync(opt.keys, "utf8"));
const random = rng(+opt.seed);
const [wValid, wInvalid, wBad] = opt.mix.split(",").map(Number);
const url = new URL("/consumers/batch", opt.url);
const deadline = Date.now() + opt.duration * 1000;
const maxRequests = +opt["max-requests"];
const out = fs.openSync(opt.out, "w");
let next = 0;
let stopping = false;
process.on("SIGTERM", () => { stopping = true; });

function consumer(n, i) {
    return {email: `${opt.tag}-${n}-${i}@example.com`, emailVerified: random() < 0.5, phoneVerified: false,
        status: random() < 0.8 ? "ACTIVE" : "INACTIVE", fullName: `Load ${n}.${i}`, totalOrders: i,
        aov: "12.50", metadata: {run: opt.tag, n}};
}

// One request of the mix: what is sent and what it should get.
function plan(n) {
    const r = random() * (wValid + wInvalid + wBad);
    const tenant = Math.floor(random() * keys.tenants.length);
    const size = 1 + Math.floor(random() * 5);
    const consumers = [];
    for (let i = 0; i < size; i++) consumers.push(consumer(n, i));
    if (r < wValid) return {kind: "valid", tenant, size, key: keys.tenants[tenant].key, consumers};
    if (r < wValid + wInvalid) {
        consumers.splice(Math.floor(random() * size), 0, {email: `${opt.tag}-${n}-x@`, status: "GONE"});
        return {kind: "invalid", tenant, size: consumers.length, key: keys.tenants[tenant].key, consumers};
    }
    const key = keys.badKeys[Math.floor(random() * keys.badKeys.length)];
    return {kind: "badkey", tenant, size, key, consumers};
}

function send(agent, p) {
    const body = JSON.stringify({consumers: p.consumers});
    return new Promise((resolve) => {
        const t0 = Date.now();
        let done = false;
        const finish = (rec) => { if (!done) { done = true; resolve({...rec, t0, t1: Date.now()}); } };
        const req = http.request(url, {method: "POST", agent, timeout: opt.timeout * 1000, headers: {
            "Authorization": `Bearer ${p.key}`, "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body)}}, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => finish({status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"),
                retryAfter: res.headers["retry-after"] ?? null}));
            res.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), {code: "TIMEOUT"})));
        req.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        req.end(body);
    });
}

// What a 200 body must be: the batch, in order, in the key's organization.
function check200(p, body) {
    let b;
    try { b = JSON.parse(body); } catch { return {ids: null, bad: "not JSON"}; }
    if (!Array.isArray(b) || b.length !== p.size) return {ids: null, bad: "wrong length"};
    const org = keys.tenants[p.tenant].org;
    for (let i = 0; i < p.size; i++)
        if (b[i].email !== p.consumers[i].email || b[i].organizationId !== org) return {ids: null, bad: `element ${i}`};
    return {ids: b.map((c) => c.id), bad: null};
}

const latencies = [];
const counts = {};
let unexpected = 0;
const expected = {valid: 200, invalid: 400, badkey: 401};

async function worker() {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1});
    while (!stopping && Date.now() < deadline && next < maxRequests) {
        const n = next++;
        const p = plan(n);
        const r = await send(agent, p);
        const rec = {n, kind: p.kind, tenant: p.tenant, size: p.size, status: r.status, t0: r.t0, t1: r.t1};
        if (r.err) rec.err = r.err;
        if (r.status === 503) rec.retryAfter = r.retryAfter;
        if (r.status === 200) {
            const c = check200(p, r.body);
            rec.ids = c.ids;
            if (c.bad) rec.bad200 = c.bad;
        }
        if (r.status === 500) rec.body = r.body.slice(0, 200);
        fs.writeSync(out, JSON.stringify(rec) + "\n");
        const key = `${p.kind}:${r.status || r.err}`;
        counts[key] = (counts[key] || 0) + 1;
        if (r.status !== expected[p.kind]) unexpected++;
        if (r.status) latencies.push(r.t1 - r.t0);
        // back off a little while the service is down, so the loop stays gentle
        if (r.status === 0) await new Promise((res) => setTimeout(res, 50));
        else if (r.status === 503) await new Promise((res) => setTimeout(res, 20));
    }
    agent.destroy();
}

const started = Date.now();
await Promise.all(Array.from({length: +opt.connections}, worker));
fs.closeSync(out);
const seconds = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null;
process.stdout.write(JSON.stringify({requests: next, seconds: +seconds.toFixed(1), rps: Math.round(next / seconds),
    unexpected, counts, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: latencies.at(-1) ?? null}) + "\n");
