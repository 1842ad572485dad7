// Batches against the gateway for the webhook fault test: valid ones (1 to 5
// new consumers), invalid ones (a 400: nothing may be written) and replays
// of an earlier valid batch with its Idempotency-Key (nothing new may be
// written).  One JSON line per request: {kind, key, status, ids}.
//   node client.mjs --url URL --key SK --tag TAG --out FILE --seconds N --connections N
import fs from "node:fs";

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
    (i % 2 === 0 ? a.push([v.replace(/^--/, ""), all[i + 1]]) : a, a), []));
const out = fs.openSync(args.out, "w");
const deadline = Date.now() + Number(args.seconds) * 1000;
const sent = [];	// [key, body] of valid batches, for replays
let n = 0;
let stopping = false;
process.on("SIGTERM", () => { stopping = true; });

function batch() {
    const size = 1 + (n % 5);
    const consumers = [];
    for (let i = 0; i < size; i++)
        consumers.push({email: `${args.tag}-${n}-${i}@example.com`, fullName: `Hook ${n} ${i}`,
            emailVerified: true, phoneVerified: false, status: "ACTIVE"});
    return consumers;
}

async function one() {
    n++;
    const r = n % 10;
    let kind, key, body;
    if (r === 3) {
        kind = "invalid";
        key = `${args.tag}-k${n}`;
        const consumers = batch();
        delete consumers[consumers.length - 1].status;
        body = JSON.stringify({consumers});
    } else if (r === 7 && sent.length > 0) {
        kind = "replay";
        [key, body] = sent[n % sent.length];
    } else {
        kind = "valid";
        key = `${args.tag}-k${n}`;
        body = JSON.stringify({consumers: batch()});
        sent.push([key, body]);
    }
    let status = 0, ids = [];
    try {
        const res = await fetch(`${args.url}/consumers/batch`, {method: "POST", body,
            headers: {"Content-Type": "application/json", Authorization: `Bearer ${args.key}`, "Idempotency-Key": key},
            signal: AbortSignal.timeout(10000)});
        status = res.status;
        const text = await res.text();
        if (status === 200) ids = JSON.parse(text).map((c) => c.id);
    } catch (e) {
        status = 0;
    }
    fs.writeSync(out, JSON.stringify({kind, key, status, ids}) + "\n");
}

async function worker() {
    while (!stopping && Date.now() < deadline) {
        await one();
        await new Promise((r) => setTimeout(r, 20));
    }
}
await Promise.all(Array.from({length: Number(args.connections)}, worker));
