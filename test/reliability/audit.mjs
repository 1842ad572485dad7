// Audit of a load run (load.mjs): compares what the clients were told with
// what the database holds.
//
//   node audit.mjs --log log.jsonl --rows rows.csv --keys keys.json --tag TAG
//        [--unanswered allow] [--marks marks.log] [--self-test]
//
// rows.csv: id,email,organization_id of every stored consumer whose email
// starts with TAG- (dump_rows in lib.sh).  The rules:
//   - every 200 has all its rows, with the ids it returned, in the key's
//     organization (no 200 without its rows);
//   - every stored row belongs to a request answered 200 with that id (no row
//     without a 200) -- except, with --unanswered allow, a request whose
//     answer was lost (the connection broke after it was sent: the gateway
//     was killed), which may have committed; such a batch must be all there
//     or not at all (no partial batch);
//   - a request refused at connect (ECONNREFUSED) was never sent: no rows;
//   - no row twice.
// --marks: "name unix_ms" lines; statuses are also counted per phase between
// marks (by the time each request was sent), and for the requests in flight
// at each mark.
// --self-test: after auditing the real data, breaks copies of it (a row
// removed from a 200, a row added for a non-200, a partial unanswered batch,
// a 200 whose ids differ) and fails unless the audit catches each.
// Prints a JSON summary; exits 1 on any violation or self-test miss.
import fs from "node:fs";

const opt = {unanswered: "forbid"};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--self-test") opt.selfTest = true;
    else opt[argv[i].replace(/^--/, "")] = argv[++i];
}
const keys = JSON.parse(fs.readFileSync(opt.keys, "utf8"));
const log = fs.readFileSync(opt.log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const rows = fs.readFileSync(opt.rows, "utf8").split("\n").filter(Boolean).map((l) => {
    const [id, email, org] = l.split(",");
    return {id, email, org};
});
const emailPattern = new RegExp(`^${opt.tag}-(\\d+)-(\\d+)@example\\.com$`);

function audit(log, rows, allowUnanswered) {
    const violations = [];
    let count = 0;
    const v = (what) => { count++; if (violations.length < 20) violations.push(what); };
    const byN = new Map(log.map((r) => [r.n, r]));
    const byId = new Map();
    const seen = new Set();
    const unansweredRows = new Map();
    for (const row of rows) {
        if (byId.has(row.id)) v(`row ${row.id} stored twice`);
        byId.set(row.id, row);
        const m = emailPattern.exec(row.email);
        if (!m) { v(`row ${row.id} has an email no valid batch sent: ${row.email}`); continue; }
        const n = +m[1], i = +m[2];
        if (seen.has(`${n}.${i}`)) v(`request ${n} element ${i} stored twice`);
        seen.add(`${n}.${i}`);
        const rec = byN.get(n);
        if (!rec) { v(`row ${row.id} from request ${n}, which was never sent`); continue; }
        if (rec.kind !== "valid") { v(`row ${row.id} from ${rec.kind} request ${n} (status ${rec.status})`); continue; }
        if (rec.status === 200) {
            if (!rec.ids || rec.ids[i] !== row.id) v(`row ${row.id} of request ${n} is not the id its 200 returned`);
            continue;
        }
        if (rec.status === 0 && rec.err !== "ECONNREFUSED" && allowUnanswered) {
            unansweredRows.set(n, (unansweredRows.get(n) || 0) + 1);
            continue;
        }
        v(`row without a 200: ${row.id} from request ${n} answered ${rec.status || rec.err}`);
    }
    let batches200 = 0, rows200 = 0, unanswered = 0, committed = 0, refused = 0;
    for (const rec of log) {
        if (rec.status === 200) {
            if (rec.kind !== "valid") { v(`${rec.kind} request ${rec.n} answered 200`); continue; }
            batches200++;
            if (rec.bad200 || !rec.ids) { v(`request ${rec.n}: 200 body is not its batch (${rec.bad200})`); continue; }
            const org = keys.tenants[rec.tenant].org;
            rec.ids.forEach((id, i) => {
                const row = byId.get(id);
                rows200++;
                if (!row) v(`200 without its rows: request ${rec.n} id ${id} is not stored`);
                else if (row.email !== `${opt.tag}-${rec.n}-${i}@example.com` || row.org !== org)
                    v(`request ${rec.n} id ${id} stored as ${row.email} in ${row.org}`);
            });
        } else if (rec.status === 0) {
            if (rec.err === "ECONNREFUSED") { refused++; continue; }
            unanswered++;
            const got = unansweredRows.get(rec.n) || 0;
            if (got > 0) committed++;
            if (got !== 0 && got !== rec.size) v(`partial batch: request ${rec.n} has ${got} of ${rec.size} rows`);
        }
    }
    return {violations, violationCount: count, rowsAudited: rows.length, batches200, rows200, unanswered, unansweredCommitted: committed, refused};
}

function phases() {
    if (!opt.marks || !fs.existsSync(opt.marks)) return undefined;
    const marks = fs.readFileSync(opt.marks, "utf8").split("\n").filter(Boolean)
        .map((l) => l.split(" ")).map(([name, t]) => ({name, t: +t}));
    const bounds = [{name: "start", t: 0}, ...marks];
    return bounds.map((b, k) => {
        const end = k + 1 < bounds.length ? bounds[k + 1].t : Infinity;
        const counts = {};
        let noRetryAfter = 0;
        for (const r of log) {
            if (r.t0 < b.t || r.t0 >= end) continue;
            const key = `${r.kind}:${r.status || r.err}`;
            counts[key] = (counts[key] || 0) + 1;
            if (r.status === 503 && !r.retryAfter) noRetryAfter++;
        }
        // requests sent before this mark and answered (or lost) after it
        const inFlight = {};
        for (const r of log)
            if (b.t > 0 && r.t0 <= b.t && r.t1 >= b.t) {
                const key = `${r.kind}:${r.status || r.err}`;
                inFlight[key] = (inFlight[key] || 0) + 1;
            }
        return {from: b.name, counts, noRetryAfter, inFlight};
    });
}

const allow = opt.unanswered === "allow";
const result = audit(log, rows, allow);
const summary = {...result, phases: phases()};
let selfTestMisses = 0;
if (opt.selfTest) {
    const tests = {};
    const clone = () => [log.map((r) => ({...r, ids: r.ids ? [...r.ids] : r.ids})), rows.map((r) => ({...r}))];
    const ok200 = log.filter((r) => r.status === 200 && r.kind === "valid" && r.ids);
    const first = ok200[0];
    const other = log.find((r) => r.status !== 200);
    const big = ok200.find((r) => r.size >= 2);
    if (first) {
        let [l, rs] = clone();
        rs = rs.filter((r) => r.id !== first.ids[0]);
        tests["a 200 missing a row"] = audit(l, rs, allow).violationCount > 0;
        [l, rs] = clone();
        l.find((r) => r.n === first.n).ids[0] = "00000000-0000-0000-0000-000000000000";
        tests["a 200 whose ids differ"] = audit(l, rs, allow).violationCount > 0;
    }
    if (other && first) {
        const [l, rs] = clone();
        rs.push({id: "ffffffff-0000-0000-0000-000000000001", email: `${opt.tag}-${other.n}-0@example.com`, org: keys.tenants[other.tenant].org});
        tests[`a row for a request answered ${other.status || other.err}`] = audit(l, rs, allow).violationCount > 0;
    }
    if (big) {
        let [l, rs] = clone();
        const rec = l.find((r) => r.n === big.n);
        Object.assign(rec, {status: 0, err: "ECONNRESET"});
        const dropped = rec.ids[1];
        delete rec.ids;
        rs = rs.filter((r) => r.id !== dropped);
        tests["a partial batch without an answer"] = audit(l, rs, true).violationCount > 0;
    }
    for (const [name, caught] of Object.entries(tests)) if (!caught) selfTestMisses++;
    if (Object.keys(tests).length < 3) selfTestMisses++;
    summary.selfTest = tests;
}
process.stdout.write(JSON.stringify(summary) + "\n");
process.exit(result.violationCount === 0 && selfTestMisses === 0 ? 0 : 1);
