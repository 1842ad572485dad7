// The failover probe: one small keyed batch after another, to time when
// the gateway answers 200 again after a failover.
//
//   node probe.mjs --url URL --key SECRET_KEY --tag TAG --out probe.jsonl [--interval 20] [--timeout 5]
//
// Sends POST /consumers/batch with one consumer (metadata.run = TAG) and a
// new Idempotency-Key, waits for the answer (or --timeout seconds), waits
// --interval ms, and so on until SIGTERM.  Writes one JSON line per request:
// {sent, done, status (0: no answer), err, id (of a 200)}, times in ms since
// the epoch, so that the script can find the first 200 after a moment.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";

const opt = {interval: 20, timeout: 5};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) opt[argv[i].replace(/^--/, "")] = argv[++i];
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// one request; resolves with its record, never rejects
function send(agent, url, n) {
    const body = JSON.stringify({consumers: [{emailVerified: false, phoneVerified: false, status: "ACTIVE",
        fullName: `Probe ${n}`, metadata: {run: opt.tag, n}}]});
    const sent = Date.now();
    return new Promise((resolve) => {
        let done = false;
        const finish = (r) => { if (!done) { done = true; resolve({n, sent, done: Date.now(), ...r}); } };
        const req = http.request(url, {method: "POST", agent, timeout: opt.timeout * 1000, headers: {
            "Authorization": `Bearer ${opt.key}`, "Content-Type": "application/json",
            "Idempotency-Key": `${opt.tag}-${n}-${crypto.randomUUID()}`, "Content-Length": Buffer.byteLength(body)}}, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
                let id = null;
                if (res.statusCode === 200) {
                    try { id = JSON.parse(Buffer.concat(chunks).toString("utf8"))[0].id; } catch { id = null; }
                }
                finish({status: res.statusCode, id});
            });
            res.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), {code: "TIMEOUT"})));
        req.on("error", (e) => finish({status: 0, err: e.code || e.message}));
        req.end(body);
    });
}

let stopping = false;
process.on("SIGTERM", () => { stopping = true; });
const url = new URL("/consumers/batch", opt.url);
const out = fs.openSync(opt.out, "w");
let agent = new http.Agent({keepAlive: true, maxSockets: 1});
for (let n = 0; !stopping; n++) {
    const r = await send(agent, url, n);
    fs.writeSync(out, JSON.stringify(r) + "\n");
    if (r.status === 0) { agent.destroy(); agent = new http.Agent({keepAlive: true, maxSockets: 1}); }
    await sleep(+opt.interval);
}
agent.destroy();
fs.closeSync(out);
