// A slow-body flood against a running gateway: many connections send
// their headers, announce a large body, then trickle it a byte at a time;
// half with tokens shaped like secret keys (unknown ones), half with tokens
// that cannot be keys.  A closed trickler reconnects at once, so the flood
// holds until the end.  Meanwhile one normal client posts a valid batch
// again and again.  Prints one JSON object:
//   { shaped: {count, maxHeldMs, answered}, bogus: {count, maxHeldMs, statuses},
//     normal: {count, statuses, maxMs, p50Ms} }
// held: from the end of a trickler's headers to the close (or answer).
//
//   node slow_flood.mjs --port P --key SK --tag TAG --connections N
//        [--seconds S] [--trickle-ms T]
import net from "node:net";
import http from "node:http";
import { randomBytes } from "node:crypto";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const port = +args.port;
const seconds = +(args.seconds ?? 6);
const trickleMs = +(args["trickle-ms"] ?? 200);
const connections = +(args.connections ?? 40);
// a new consumer each time (TAG-n@example.com), so that each is a 200
const body = (n) =>
  Buffer.from(JSON.stringify({ consumers: [{ email: `${args.tag}-${n}@example.com`, emailVerified: true, phoneVerified: false, status: "ACTIVE" }] }));
const endAt = Date.now() + seconds * 1000;

const shapedKey = () => "sk_live_" + randomBytes(32).toString("base64url");
const bogusTokens = ["x", "sk_live_short", "sk_test_" + "a".repeat(44), "sk_prod_" + "a".repeat(43)];

const shaped = { count: 0, maxHeldMs: 0, answered: 0 };
const bogus = { count: 0, maxHeldMs: 0, statuses: {} };

// One trickler slot: connect, headers, a byte every trickleMs; again once closed.
function trickler(i) {
  if (Date.now() >= endAt) return Promise.resolve();
  const isShaped = i % 2 === 0;
  const token = isShaped ? shapedKey() : bogusTokens[i % bogusTokens.length];
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let headersAt = 0;
    let timer = null;
    let response = "";
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      socket.destroy();
      if (headersAt > 0) {
        const held = Date.now() - headersAt;
        const stats = isShaped ? shaped : bogus;
        stats.count++;
        stats.maxHeldMs = Math.max(stats.maxHeldMs, held);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1];
        if (isShaped && status) shaped.answered++;
        if (!isShaped) bogus.statuses[status ?? "closed"] = (bogus.statuses[status ?? "closed"] ?? 0) + 1;
      }
      resolve();
    };
    socket.on("connect", () => {
      socket.write(
        "POST /consumers/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
          `Authorization: Bearer ${token}\r\nContent-Length: 1000000\r\n\r\n`,
        () => {
          headersAt = Date.now();
          timer = setInterval(() => {
            if (Date.now() >= endAt) return finish();
            socket.write("[");
          }, trickleMs);
        },
      );
    });
    socket.on("data", (d) => {
      response += d.toString("latin1");
      if (!isShaped) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
  })
    .then(() => new Promise((r) => setTimeout(r, 10)))
    .then(() => trickler(i));
}

// The normal client: one valid batch at a time, until the end.
async function normalClient() {
  const times = [];
  const statuses = {};
  while (Date.now() < endAt) {
    const t0 = Date.now();
    const payload = body(times.length);
    const status = await new Promise((resolve) => {
      const req = http.request(
        {
          port,
          host: "127.0.0.1",
          method: "POST",
          path: "/consumers/batch",
          agent: false,
          headers: { authorization: `Bearer ${args.key}`, "content-type": "application/json", "content-length": payload.length },
          timeout: 20000,
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve(e.message === "timeout" ? "timeout" : "error"));
      req.end(payload);
    });
    times.push(Date.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 100));
  }
  times.sort((a, b) => a - b);
  return { count: times.length, statuses, maxMs: times.at(-1) ?? 0, p50Ms: times[Math.floor(times.length / 2)] ?? 0 };
}

const flood = Array.from({ length: connections }, (_, i) => trickler(i));
await new Promise((r) => setTimeout(r, 300)); // the flood first
const normal = await normalClient();
await Promise.all(flood);
console.log(JSON.stringify({ shaped, bogus, normal }));
