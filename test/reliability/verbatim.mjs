// Every string field stores SQL, HTML and shell metacharacters verbatim and
// returns them verbatim.
//
//   node verbatim.mjs send --port P --key KEY --tag TAG --out sent.json
//   node verbatim.mjs check --out sent.json --db stored.json
//
// send: one consumer with each text field set to a different hostile string
// and metadata holding all of them as keys and as values, POSTed through the
// gateway; checks the 200 body echoes each byte for byte and writes what was
// sent plus the new id to --out.  check: stored.json is the row as the
// database holds it (the columns under their JSON names, see run.sh);
// compares it with what was sent.  Prints a JSON summary; exits 1 on a mismatch.
import fs from "node:fs";
import http from "node:http";

const [mode, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, "")] = rest[i + 1];

export const hostile = [
    "'; DROP TABLE fanfare.consumers; --",
    "Robert'); DELETE FROM fanfare.api_keys WHERE ('1'='1",
    "<script>alert(\"x\")</script><img src=x onerror=alert(1)>",
    "$(rm -rf /) `id` ${HOME} && echo pwned; | cat /etc/passwd",
    "C:\\temp\\new\\x \\\\ \\' \\\" \\n \\u0041",
    "\"double\" 'single' `back` ''quoted'' \"\"",
    "Zoë 😀 中文 ‮RTL‬ zero​width a\u0301 \uFEFF",
    "%s%n%x%d %(name)s {0} $1 $$ $2::jsonb \\x00",
    "line1\r\nX-Injected: 1\r\n\r\n<html>",
    "NULL",
    "&lt;&amp;&#39; ]]> <!-- -->",
];
const textFields = ["fullName", "phone", "lastGeoCity", "lastGeoCountry", "lastGeoPostalCode",
    "lastGeoRegion", "lastGeoSource", "lastGeoTimezone", "verificationCode"];

function consumer() {
    const c = {email: `${opt.tag}.verbatim+x_y-z@example.com`, emailVerified: true, phoneVerified: false, status: "ACTIVE"};
    textFields.forEach((f, i) => { c[f] = hostile[i % hostile.length]; });
    c.lastGeoCoordinates = {latitude: 1.5, longitude: -2.25};
    c.metadata = {};
    hostile.forEach((s, i) => { c.metadata[s] = s; c.metadata[`list${i}`] = [s, i]; });
    return c;
}

// the fields of a consumer that must come back as sent
function compare(sent, got) {
    const problems = [];
    for (const f of [...textFields, "email"])
        if (got[f] !== sent[f]) problems.push(`${f}: sent ${JSON.stringify(sent[f])} got ${JSON.stringify(got[f])}`);
    if (JSON.stringify(sortKeys(got.metadata)) !== JSON.stringify(sortKeys(sent.metadata)))
        problems.push("metadata differs");
    return problems;
}
const sortKeys = (o) => o && typeof o === "object" && !Array.isArray(o)
    ? Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])])) : o;

if (mode === "send") {
    const sent = consumer();
    const body = JSON.stringify({consumers: [sent]});
    const res = await new Promise((resolve) => {
        const req = http.request({port: +opt.port, host: "127.0.0.1", path: "/consumers/batch", method: "POST",
            headers: {"Authorization": `Bearer ${opt.key}`, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body)}},
        (r) => { const c = []; r.on("data", (d) => c.push(d)); r.on("end", () => resolve({status: r.statusCode, body: Buffer.concat(c).toString("utf8")})); });
        req.on("error", (e) => resolve({status: 0, body: e.message}));
        req.end(body);
    });
    let problems = [];
    let id = null;
    if (res.status !== 200) problems.push(`status ${res.status}: ${res.body.slice(0, 200)}`);
    else {
        const got = JSON.parse(res.body)[0];
        id = got.id;
        problems = compare(sent, got);
    }
    fs.writeFileSync(opt.out, JSON.stringify({id, sent}));
    process.stdout.write(JSON.stringify({status: res.status, id, problems}) + "\n");
    process.exit(problems.length ? 1 : 0);
} else {
    const {sent} = JSON.parse(fs.readFileSync(opt.out, "utf8"));
    const stored = JSON.parse(fs.readFileSync(opt.db, "utf8"));
    const problems = compare(sent, stored);
    process.stdout.write(JSON.stringify({fields: textFields.length + 1, metadataKeys: Object.keys(sent.metadata).length, problems}) + "\n");
    process.exit(problems.length ? 1 : 0);
}
