// The exactly-once audit: clients that behave as a careful importer does.
//
// Client mode: logical batches (1-5 consumers, half of them without any
// email, so that nothing but the key could stop a second copy), each with
// its own Idempotency-Key.  A batch is retried, with the same key and the
// same bytes, after a connection error, a timeout, a 503 or a 409, until it
// gets a final answer; a batch still unanswered at --give-up seconds is
// given up (and is then a failure of the audit).  SIGTERM: no new batches,
// the ones begun are retried to the end.
//
//   node exactly_once.mjs --url URL --keys keys.json --tag TAG --out batches.jsonl
//        [--connections 8] [--duration 30] [--give-up 120] [--timeout 10] [--seed 1]
//
// Writes one JSON line per logical batch (its key, tenant, size, every
// attempt's outcome, the ids of each 200) and prints a summary as JSON.
//
// Audit mode: compares the batches with the stored rows.
//
//   node exactly_once.mjs --audit --log batches.jsonl --rows rows.csv --keys keys.json [--self-test]
//
// rows.csv: id,batch,element,organization_id of every stored consumer whose
// metadata.run is TAG.  The rules: every batch got a 200; every 200 of a
// batch (first answer and replays) has the same ids; the batch's rows are
// exactly those ids, once each, in the key's organization; no stored row
// belongs to anything else.  --self-test breaks copies of the data (a row
// duplicated, a row lost, a replay with other ids, a batch given up, a
// stray row) and fails unless the audit catches each.  Exits 1 on any
// violation.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";

import {rng} from "./rng.mjs";

const opt = {connections: 8, duration: 30, "give-up": 120, timeout: 10, seed: 1};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--audit" || argv[i] === "--self-test") opt[argv[i].slice(2)] = true;
    else opt[argv[i].replace(/^--/, "")] = argv[++i];
}
const keys = JSON.parse(fs.readFileSync(opt.keys, "utf8"));
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// ---- client -----------------------------------------------------------------

function plan(random, b) {
    const tenant = Math.floor(random() * keys.tenants.length);
    const size = 1 + Math.floor(random() * 5);
    const withEmails = random() < 0.5;
    const consumers = [];
    for (let i = 0; i < size; i++) {
        const c = {emailVerified: false, phoneVerified: false, status: "ACTIVE", fullName: `Import ${b}.${i}`,
            metadata: {run: opt.tag, batch: b, element: i}};
        if (withEmails) c.email = `${opt.tag}-${b}-${i}@example.com`;
        consumers.push(c);
    }
    return {b, tenant, size, key: `${opt.tag}-${b}-${crypto.randomUUID()}`,
        body: JSON.stringify({consumers})};
}

function send(agent, url, p) {
    return new Promise((resolve) => {
        let done = false;
        const finish = (r) => { if (!done) { done = true; resolve(r); } };
        const req = http.request(url, {method: "POST", agent, timeout: opt.timeout * 1000, headers: {
            "Authorization": `Bearer ${keys.tenants[p.tenant].key}`, "Content-Type": "application/json",
            "Idempotency-Key": p.key, "Content-Length": Buffer.byteLength(p.body)}}, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => finish({status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"),
                replayed: res.headers["idempotent-replayed"] === "true",
                retryAfter: res.headers["retry-after"] ?? null}));
            res.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), {code: "TIMEOUT"})));
        req.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        req.end(p.body);
    });
}

const retryable = (r) => r.status === 0 || r.status === 503 || r.status === 409;

async function client() {
    const url = new URL("/consumers/batch", opt.url);
    const random = rng(+opt.seed);
    const out = fs.openSync(opt.out, "w");
    const stopAt = Date.now() + opt.duration * 1000;
    const giveUpAt = stopAt + opt["give-up"] * 1000;
    let stopping = false;
    let next = 0;
    const totals = {batches: 0, attempts: 0, retries: 0, replays: 0, created: 0, gaveUp: 0, unexpected: 0, statuses: {}};
    process.on("SIGTERM", () => { stopping = true; });

    async function worker() {
        let agent = new http.Agent({keepAlive: true, maxSockets: 1});
        while (!stopping && Date.now() < stopAt) {
            const p = plan(random, next++);
            const rec = {b: p.b, key: p.key, tenant: p.tenant, size: p.size, attempts: [], answers: []};
            for (let attempt = 0; ; attempt++) {
                const r = await send(agent, url, p);
                const what = r.status || r.err;
                rec.attempts.push(what);
                totals.statuses[what] = (totals.statuses[what] || 0) + 1;
                if (r.status === 200) {
                    let ids = null;
                    try { ids = JSON.parse(r.body).map((c) => c.id); } catch { ids = null; }
                    rec.answers.push({replayed: r.replayed, ids});
                    rec.final = 200;
                    if (r.replayed) totals.replays++; else totals.created++;
                    break;
                }
                if (!retryable(r)) { rec.final = r.status; rec.body = r.body.slice(0, 200); totals.unexpected++; break; }
                if (Date.now() > giveUpAt) { rec.final = "gave up"; totals.gaveUp++; break; }
                totals.retries++;
                // a fresh connection after a broken one; back off 100 ms .. 1 s
                if (r.status === 0) { agent.destroy(); agent = new http.Agent({keepAlive: true, maxSockets: 1}); }
                await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)) * (0.5 + random()));
            }
            totals.attempts += rec.attempts.length;
            totals.batches++;
            fs.writeSync(out, JSON.stringify(rec) + "\n");
        }
        agent.destroy();
    }

    await Promise.all(Array.from({length: +opt.connections}, worker));
    fs.closeSync(out);
    process.stdout.write(JSON.stringify(totals) + "\n");
}

// ---- audit ------------------------------------------------------------------

function audit(batches, rows) {
    const violations = [];
    let count = 0;
    const v = (what) => { count++; if (violations.length < 20) violations.push(what); };
    const byBatch = new Map();
    const ids = new Set();
    for (const row of rows) {
        if (ids.has(row.id)) v(`row ${row.id} stored twice`);
        ids.add(row.id);
        if (!byBatch.has(row.batch)) byBatch.set(row.batch, []);
        byBatch.get(row.batch).push(row);
    }
    let stored = 0;
    let lost = 0;
    let duplicated = 0;
    for (const rec of batches) {
        const got = byBatch.get(String(rec.b)) || [];
        byBatch.delete(String(rec.b));
        if (rec.final !== 200) {
            v(`batch ${rec.b} ended ${rec.final} after ${rec.attempts.length} attempts (${rec.attempts.join(",")})`);
            if (got.length) v(`batch ${rec.b} has ${got.length} rows without a 200`);
            continue;
        }
        const first = rec.answers[0].ids;
        if (!first || first.length !== rec.size) { v(`batch ${rec.b}: a 200 without its ${rec.size} consumers`); continue; }
        for (const a of rec.answers.slice(1))
            if (JSON.stringify(a.ids) !== JSON.stringify(first)) v(`batch ${rec.b}: a replay answered other ids`);
        const org = keys.tenants[rec.tenant].org;
        if (got.length > rec.size) { duplicated++; v(`batch ${rec.b}: ${got.length} rows for ${rec.size} consumers`); }
        if (got.length < rec.size) { lost++; v(`batch ${rec.b}: ${got.length} rows for ${rec.size} consumers`); }
        for (const row of got) {
            if (row.org !== org) v(`batch ${rec.b}: row ${row.id} in organization ${row.org}`);
            if (first[+row.element] !== row.id) v(`batch ${rec.b}: row ${row.id} (element ${row.element}) is not the id answered`);
        }
        if (got.length === rec.size) stored++;
    }
    for (const [b, got] of byBatch) v(`${got.length} rows of batch ${b}, which no client sent`);
    return {batches: batches.length, stored, lost, duplicated, violationCount: count, violations};
}

function selfTest(batches, rows) {
    const misses = [];
    const ok200 = batches.findIndex((r) => r.final === 200 && r.size > 1);
    if (ok200 < 0 || !rows.length) return ["no 200 batch of two or more to break"];
    const b = String(batches[ok200].b);
    const theirs = rows.filter((r) => r.batch === b);
    const cases = {
        "a duplicated row": [batches, [...rows, {...theirs[0], id: crypto.randomUUID()}]],
        "a lost row": [batches, rows.filter((r) => r !== theirs[0])],
        "a batch stored twice": [batches, [...rows, ...theirs.map((r) => ({...r, id: crypto.randomUUID()}))]],
        "a replay with other ids": [batches.map((r, i) => i === ok200
            ? {...r, answers: [...r.answers, {replayed: true, ids: r.answers[0].ids.map(() => crypto.randomUUID())}]} : r), rows],
        "a batch given up": [batches.map((r, i) => i === ok200 ? {...r, final: "gave up"} : r), rows],
        "a stray row": [batches, [...rows, {id: crypto.randomUUID(), batch: "999999999", element: "0", org: theirs[0].org}]],
    };
    for (const [name, [bs, rs]] of Object.entries(cases))
        if (audit(bs, rs).violationCount === 0) misses.push(name);
    return misses;
}

if (opt.audit) {
    const batches = fs.readFileSync(opt.log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const rows = fs.readFileSync(opt.rows, "utf8").split("\n").filter(Boolean).map((l) => {
        const [id, batch, element, org] = l.split(",");
        return {id, batch, element, org};
    });
    const result = audit(batches, rows);
    result.rows = rows.length;
    result.retries = batches.reduce((n, r) => n + r.attempts.length - 1, 0);
    result.replays = batches.reduce((n, r) => n + r.answers.filter((a) => a.replayed).length, 0);
    result.retriedBatches = batches.filter((r) => r.attempts.length > 1).length;
    result.attempts = {};
    for (const r of batches) for (const a of r.attempts) result.attempts[a] = (result.attempts[a] || 0) + 1;
    if (opt["self-test"]) result.selfTestMisses = selfTest(batches, rows);
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(result.violationCount === 0 && !(result.selfTestMisses || []).length ? 0 : 1);
} else {
    await client();
}
