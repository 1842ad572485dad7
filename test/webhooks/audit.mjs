// The audit of test/webhooks/run.sh: what the clients were told, what the
// database holds and what the receiver got.  Prints a JSON summary; exits 1
// on any violation.
//   node audit.mjs --client FILE --received FILE --db FILE --max-duplicates N
// --db is a JSON object from the database (as the owner): consumers (ids of
// the test's organization), events [{id, type}], deliveries [{id (whk_...),
// event_id, endpoint_id, status}], endpoints [{id, path, secrets (every
// secret it had), disabled_reason}].
import crypto from "node:crypto";
import fs from "node:fs";

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
    (i % 2 === 0 ? a.push([v.replace(/^--/, ""), all[i + 1]]) : a, a), []));
const lines = (f) => fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const client = args.client ? lines(args.client) : [];
const received = lines(args.received);
const db = JSON.parse(fs.readFileSync(args.db, "utf8"));
const violations = [];
const violate = (v) => { if (violations.length < 50) violations.push(v); };

// the signature, computed here with Node's crypto, independently of the relay
export function sign(secret, timestamp, body) {
    return "sha256=" + crypto.createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

const consumers = new Set(db.consumers);
const eventsByConsumer = new Map();
for (const e of db.events.filter((e) => e.type === "consumer.created"))
    eventsByConsumer.set(e.id, (eventsByConsumer.get(e.id) ?? 0) + 1);

// every consumer in a 200 has exactly one event; so does every stored one
let answered = 0;
for (const r of client.filter((r) => r.status === 200))
    for (const id of r.ids) {
        answered++;
        if (eventsByConsumer.get(id) !== 1) violate(`consumer ${id} of a 200 has ${eventsByConsumer.get(id) ?? 0} events`);
    }
for (const id of consumers)
    if (eventsByConsumer.get(id) !== 1) violate(`stored consumer ${id} has ${eventsByConsumer.get(id) ?? 0} events`);
// no event without its consumer (a 400, a rolled-back or killed batch)
for (const id of eventsByConsumer.keys())
    if (!consumers.has(id)) violate(`event for ${id}, which is no consumer`);
// a 400 created nothing: its emails are nowhere
const refused = client.filter((r) => r.status === 400).length;

// what the receiver got, by delivery id
const endpointByPath = new Map(db.endpoints.map((e) => [e.path, e]));
const got = new Map();
let badSignatures = 0, duplicates = 0;
for (const r of received) {
    const ep = endpointByPath.get(r.path);
    let body;
    try { body = JSON.parse(r.body); } catch { violate(`a body that is not JSON at ${r.path}`); continue; }
    if (!ep) { violate(`a request to ${r.path}, no endpoint`); continue; }
    const sig = r.headers["x-fanfare-signature"], ts = r.headers["x-fanfare-timestamp"];
    if (!ep.secrets.some((s) => {
        const want = Buffer.from(sign(s, ts, r.body));
        return sig && want.length === Buffer.byteLength(sig) && crypto.timingSafeEqual(want, Buffer.from(sig));
    })) { badSignatures++; violate(`signature of ${body.id} does not verify`); }
    if (r.headers["x-fanfare-delivery-id"] !== body.id) violate(`X-Fanfare-Delivery-Id ${r.headers["x-fanfare-delivery-id"]} is not the body's id ${body.id}`);
    if (r.headers["x-fanfare-event-type"] !== body.type) violate(`X-Fanfare-Event-Type differs from the body's type for ${body.id}`);
    if (r.headers["user-agent"] !== "Fanfare-Webhooks/1.0") violate(`user-agent ${r.headers["user-agent"]}`);
    const g = got.get(body.id) ?? {bodies: new Set(), ok: 0, n: 0, ep: ep.id};
    g.bodies.add(r.body);
    g.n++;
    if (r.status === 200) g.ok++;
    got.set(body.id, g);
}
// retries keep their id, and with it the same body
for (const [id, g] of got) {
    if (g.bodies.size !== 1) violate(`delivery ${id} was sent with ${g.bodies.size} different bodies`);
    if (g.ok > 1) duplicates += g.ok - 1;
}
// every event reached each subscribed endpoint, unless a 410 disabled it
let delivered = 0;
for (const d of db.deliveries) {
    const ep = db.endpoints.find((e) => e.id === d.endpoint_id);
    const g = got.get(d.id);
    if (g && g.ok > 0) { delivered++; continue; }
    if (ep && ep.disabled_reason === "410 Gone") continue;
    violate(`delivery ${d.id} (${d.status}) never got a 2xx at ${ep ? ep.path : d.endpoint_id}`);
}
const expected = db.events.filter((e) => e.type === "consumer.created").length;
for (const ep of db.endpoints.filter((e) => e.subscribed && e.disabled_reason !== "410 Gone")) {
    const n = db.deliveries.filter((d) => d.endpoint_id === ep.id).length;
    if (n !== expected) violate(`endpoint ${ep.path} has ${n} deliveries for ${expected} events`);
}
const maxDup = Number(args["max-duplicates"] ?? 0);
if (duplicates > maxDup) violate(`${duplicates} duplicate 2xx deliveries, more than ${maxDup} (in flight at the kills)`);

const summary = {answeredConsumers: answered, storedConsumers: consumers.size, events: expected,
    refused400: refused, requestsReceived: received.length, deliveries: db.deliveries.length, delivered,
    badSignatures, duplicates, violationCount: violations.length, violations};
console.log(JSON.stringify(summary));
process.exit(violations.length ? 1 : 0);
