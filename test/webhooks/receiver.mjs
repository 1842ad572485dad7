// A webhook receiver on loopback for test/webhooks/run.sh.  Each request's
// path names how it is answered:
//   /ok...     200 at once
//   /fail...   500
//   /gone...   410
//   /slow...   200 after 3 s
//   /flaky...  at random: 200 (60%), 500 (20%), no answer until the relay
//              gives up (10%), 503 (10%)
//   /rare410...at random: 200 (99.8%), 410 (0.2%)
// Every request is logged, before it is answered, as one JSON line:
// {path, status ("timeout" for none), headers (the X-Fanfare ones, user-agent,
// content-type), body}.
//   node receiver.mjs --log FILE --port-file FILE [--seed N]
import fs from "node:fs";
import http from "node:http";

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
    (i % 2 === 0 ? a.push([v.replace(/^--/, ""), all[i + 1]]) : a, a), []));
const log = fs.openSync(args.log, "a");
let seed = Number(args.seed ?? 1) >>> 0 || 1;
// xorshift32: repeatable runs for a seed
function random() {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296;
}

function decide(path) {
    if (path.startsWith("/ok")) return 200;
    if (path.startsWith("/fail")) return 500;
    if (path.startsWith("/gone")) return 410;
    if (path.startsWith("/slow")) return "slow";
    if (path.startsWith("/flaky")) {
        const r = random();
        return r < 0.6 ? 200 : r < 0.8 ? 500 : r < 0.9 ? "timeout" : 503;
    }
    if (path.startsWith("/rare410")) return random() < 0.998 ? 200 : 410;
    return 404;
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        const status = decide(req.url);
        const headers = {};
        for (const [k, v] of Object.entries(req.headers))
            if (k.startsWith("x-fanfare-") || k === "user-agent" || k === "content-type") headers[k] = v;
        fs.writeSync(log, JSON.stringify({t: Date.now(), path: req.url, status, headers, body: Buffer.concat(chunks).toString("utf8")}) + "\n");
        if (status === "timeout") return; // the relay's --timeout ends it
        if (status === "slow") {
            setTimeout(() => { res.writeHead(200); res.end("ok"); }, 3000);
            return;
        }
        res.writeHead(status);
        res.end(String(status));
    });
});
server.keepAliveTimeout = 30000;
server.listen(0, "127.0.0.1", () => fs.writeFileSync(args["port-file"], String(server.address().port)));
process.on("SIGTERM", () => process.exit(0));
