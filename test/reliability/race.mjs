// Concurrent batches with overlapping emails, in two tenants that share the
// same small pool of emails.
//
//   node race.mjs run --url URL --keys keys.json --tag TAG --out race.json
//        [--pool 48] [--connections 16] [--requests 600] [--seed 7]
//   node race.mjs check --keys keys.json --tag TAG --out race.json --rows rows.csv
//
// run: phase 1 sends --requests batches of 1-4 pool emails (random letter
// case, sometimes the same email twice in one batch) to tenants 0 and 1 from
// --connections connections at once -- tenant 0 draws from the first three
// quarters of the pool, tenant 1 from the last three, so the middle half is
// raced by both and each end is left to one tenant; phase 2 then sends every pool email
// alone to each tenant, one at a time: 200 if that tenant has not stored it
// yet, else 400.  check (rows.csv = id,email,organization_id of the stored
// rows whose lower(email) starts with TAG-): only 200 and 400; every 400 lists
// only "unique" issues at consumers.N.email, including every repeat within
// the batch; every 200's rows are stored; every stored row came from a 200;
// no tenant stores an email twice; in the end each tenant holds each pool
// email exactly once (the other tenant's copy never blocked it).
import fs from "node:fs";
import http from "node:http";

import {rng} from "./rng.mjs";

const [mode, ...rest] = process.argv.slice(2);
const opt = {pool: 48, connections: 16, requests: 600, seed: 7};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, "")] = rest[i + 1];
const keys = JSON.parse(fs.readFileSync(opt.keys, "utf8"));
const tenants = keys.tenants.slice(0, 2);

const random = rng(+opt.seed);
const poolEmail = (k) => `${opt.tag}-p${k}@example.com`;
const randomCase = (s) => [...s].map((c) => (random() < 0.3 ? c.toUpperCase() : c)).join("");

function post(agent, key, emails) {
    const body = JSON.stringify({consumers: emails.map((email) =>
        ({email, emailVerified: true, phoneVerified: false, status: "ACTIVE"}))});
    return new Promise((resolve) => {
        const req = http.request(new URL("/consumers/batch", opt.url), {method: "POST", agent, timeout: 60000,
            headers: {"Authorization": `Bearer ${key}`, "Content-Type": "application/json",
                "Content-Length": Buffer.byteLength(body)}}, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({status: res.statusCode, body: Buffer.concat(chunks).toString("utf8")}));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve({status: 0, body: e.message}));
        req.end(body);
    });
}

async function run() {
    const records = [];
    let next = 0;
    const deadline = Date.now() + 90000;
    async function worker() {
        const agent = new http.Agent({keepAlive: true, maxSockets: 1});
        while (next < +opt.requests && Date.now() < deadline) {
            next++;
            const tenant = random() < 0.5 ? 0 : 1;
            const emails = [];
            const size = 1 + Math.floor(random() * 4);
            for (let i = 0; i < size; i++) {
                const quarter = +opt.pool / 4;
                const k = random() < 0.15 && emails.length ? null
                    : Math.floor(tenant * quarter + random() * 3 * quarter);
                emails.push(k === null ? randomCase(emails[0].toLowerCase()) : randomCase(poolEmail(k)));
            }
            const r = await post(agent, tenants[tenant].key, emails);
            records.push({phase: 1, tenant, emails, ...r});
        }
        agent.destroy();
    }
    await Promise.all(Array.from({length: +opt.connections}, worker));
    // phase 2: fill every tenant with every pool email, one at a time
    const agent = new http.Agent({keepAlive: true, maxSockets: 1});
    const stored = [new Set(), new Set()];
    for (const r of records)
        if (r.status === 200) for (const e of r.emails) stored[r.tenant].add(e.toLowerCase());
    for (let k = 0; k < +opt.pool; k++)
        for (const tenant of [0, 1]) {
            const email = poolEmail(k);
            const r = await post(agent, tenants[tenant].key, [email]);
            records.push({phase: 2, tenant, emails: [email], expect: stored[tenant].has(email) ? 400 : 200, ...r});
            if (r.status === 200) stored[tenant].add(email);
        }
    agent.destroy();
    fs.writeFileSync(opt.out, JSON.stringify(records));
    const counts = {};
    for (const r of records) counts[`phase${r.phase}:${r.status}`] = (counts[`phase${r.phase}:${r.status}`] || 0) + 1;
    process.stdout.write(JSON.stringify({requests: records.length, counts}) + "\n");
}

function check() {
    const records = JSON.parse(fs.readFileSync(opt.out, "utf8"));
    const rows = fs.readFileSync(opt.rows, "utf8").split("\n").filter(Boolean)
        .map((l) => l.split(",")).map(([id, email, org]) => ({id, email, org}));
    const problems = [];
    const p = (s) => { if (problems.length < 20) problems.push(s); };
    const byId = new Map(rows.map((r) => [r.id, r]));
    const ids200 = new Set();
    let unique400 = 0, repeats = 0;
    for (const r of records) {
        if (r.status !== 200 && r.status !== 400) { p(`status ${r.status}: ${r.body.slice(0, 120)}`); continue; }
        if (r.expect && r.status !== r.expect) p(`phase 2: tenant ${r.tenant} ${r.emails[0]} got ${r.status}, want ${r.expect}`);
        const b = JSON.parse(r.body);
        if (r.status === 200) {
            if (new Set(r.emails.map((e) => e.toLowerCase())).size !== r.emails.length)
                p(`200 for a batch that repeats an email: ${r.emails}`);
            b.forEach((c, i) => {
                ids200.add(c.id);
                const row = byId.get(c.id);
                if (!row || row.email !== r.emails[i] || row.org !== tenants[r.tenant].org)
                    p(`200 without its row: ${c.id} ${r.emails[i]}`);
            });
            continue;
        }
        unique400++;
        const flagged = new Set();
        for (const issue of b.issues) {
            const path = (issue.path || []).map((s) => s.key);
            if (issue.type !== "unique" || path.length !== 3 || path[0] !== "consumers" || path[2] !== "email")
                p(`400 with a non-unique issue: ${JSON.stringify(issue).slice(0, 160)}`);
            else flagged.add(Number(path[1])); // "2" in the document's form
        }
        const seen = new Set();
        r.emails.forEach((e, i) => {
            if (seen.has(e.toLowerCase())) { repeats++; if (!flagged.has(i)) p(`repeat at ${i} not flagged: ${r.emails}`); }
            seen.add(e.toLowerCase());
        });
    }
    const perTenant = new Map();
    for (const row of rows) {
        if (!ids200.has(row.id)) p(`row without a 200: ${row.id} ${row.email}`);
        const k = `${row.org} ${row.email.toLowerCase()}`;
        perTenant.set(k, (perTenant.get(k) || 0) + 1);
    }
    for (const [k, n] of perTenant) if (n > 1) p(`duplicate: ${k} stored ${n} times`);
    for (const t of tenants)
        for (let k = 0; k < +opt.pool; k++)
            if (perTenant.get(`${t.org} ${poolEmail(k)}`) !== 1) p(`tenant ${t.org} does not hold ${poolEmail(k)} once`);
    process.stdout.write(JSON.stringify({rows: rows.length, unique400, repeatsFlagged: repeats, problems}) + "\n");
    process.exit(problems.length ? 1 : 0);
}

if (mode === "run") await run();
else check();
