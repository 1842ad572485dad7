// Helpers of the import suite (test/import/run.sh), by subcommand:
//   rows N PREFIX [bad]    N consumers as NDJSON; bad: row i invalid when
//                          i % 97 == 50 (a bad email, a wrong type, a
//                          negative count, or the row before's email)
//   expect FILE            the lower-cased emails of FILE's valid rows, sorted
//   json N PREFIX          the same rows as {"consumers":[...]}, one per line
//   csv N PREFIX           the same rows as CSV with a header row
//   direct URL KEY FILE    posts FILE's NDJSON rows as 500-row batches
//   big MB                 about MB megabytes of NDJSON (valid rows)
//   huge MB                one line of MB megabytes, then one valid row
//   server MODE PORTFILE LOG  a small HTTP server standing for the gateway:
//                          MODE ok (200 to every batch) or ratelimit (a
//                          fixed window of LIMIT requests per second, with
//                          X-RateLimit-* and 429 + Retry-After, as the
//                          gateway's rate limits answer); its port goes to
//                          PORTFILE, one line per answer to LOG
import http from 'node:http';
import fs from 'node:fs';

const [cmd, ...args] = process.argv.slice(2);

// Row i of a generated file: every kind of field, some absent
function row(i, prefix) {
    const r = {
        email: `${prefix}${i}@example.com`,
        fullName: i % 5 === 0 ? `Zoë "Q" ${i}, Jr.` : `Person ${i}`,
        emailVerified: i % 2 === 0,
        phoneVerified: false,
        status: i % 3 === 0 ? 'INACTIVE' : 'ACTIVE',
        totalOrders: i % 17,
        activityScore: (i % 100) / 8,
        monetaryRank: i % 6,
        aov: `${i % 1000}.25`,
        lastOrderAt: '2026-01-02T03:04:05.000Z',
    };
    if (i % 4 === 0)
        r.phone = `+4930${String(i).padStart(7, '0')}`;
    if (i % 3 === 1)
        r.metadata = {tier: i % 2 ? 'gold' : 'silver', source: 'crm'};
    if (i % 3 === 2)
        r.lastGeoCoordinates = {latitude: 48.137154 + i / 1e6, longitude: 11.576124};
    return r;
}

// an invalid variant of row i (BAD files): a few kinds in turn
function badRow(i, prefix) {
    const r = row(i, prefix);
    switch (Math.floor(i / 97) % 4) {
        case 0: r.email = `not-an-email-${i}`; break;
        case 1: r.emailVerified = 'yes'; break;
        case 2: r.totalOrders = -1; break;
        default: r.email = `${prefix}${i - 1}@example.com`.toUpperCase(); break;   // the row before's
    }
    return r;
}

const rowAt = (i, prefix, bad) => (bad && i % 97 === 50 ? badRow(i, prefix) : row(i, prefix));

const columns = ['email', 'fullName', 'emailVerified', 'phoneVerified', 'status', 'totalOrders',
    'activityScore', 'monetaryRank', 'aov', 'lastOrderAt', 'phone', 'metadata.tier', 'metadata.source',
    'lastGeoCoordinates.latitude', 'lastGeoCoordinates.longitude'];

function csvCell(v) {
    if (v === undefined)
        return '';
    const s = String(v);
    return /[",\n\r]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLine(r) {
    return columns.map((c) => {
        const [a, b] = c.split('.');
        return csvCell(b ? (r[a] || {})[b] : r[a]);
    }).join(',');
}

// writes lines from gen() to stdout, respecting back-pressure
async function emit(gen) {
    let chunk = [];
    let size = 0;
    for (const line of gen) {
        chunk.push(line);
        size += line.length;
        if (size > 1 << 20) {
            if (!process.stdout.write(chunk.join('')))
                await new Promise((ok) => process.stdout.once('drain', ok));
            chunk = [];
            size = 0;
        }
    }
    process.stdout.write(chunk.join(''));
}

if (cmd === 'rows' || cmd === 'json' || cmd === 'csv') {
    const n = +args[0];
    const prefix = args[1];
    const bad = args[2] === 'bad';
    await emit((function* () {
        if (cmd === 'json')
            yield '{"consumers": [\n';
        if (cmd === 'csv')
            yield columns.join(',') + '\r\n';
        for (let i = 0; i < n; i++) {
            const r = rowAt(i, prefix, bad);
            if (cmd === 'rows')
                yield JSON.stringify(r) + '\n';
            else if (cmd === 'json')
                yield '  ' + JSON.stringify(r) + (i + 1 < n ? ',\n' : '\n');
            else
                yield csvLine(r) + '\r\n';
        }
        if (cmd === 'json')
            yield ']}\n';
    })());
} else if (cmd === 'direct') {
    const [url, key, file] = args;
    const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l);
    const agent = new http.Agent({keepAlive: true});
    for (let i = 0; i < rows.length; i += 500) {
        const body = `{"consumers":[${rows.slice(i, i + 500).join(',')}]}`;
        const status = await new Promise((ok, fail) => {
            const req = http.request(url + '/consumers/batch', {method: 'POST', agent,
                headers: {Authorization: `Bearer ${key}`, 'Content-Type': 'application/json'}}, (res) => {
                res.resume();
                res.on('end', () => ok(res.statusCode));
            });
            req.on('error', fail);
            req.end(body);
        });
        if (status !== 200) {
            console.error(`direct: batch at row ${i}: ${status}`);
            process.exit(1);
        }
    }
    agent.destroy();
} else if (cmd === 'expect') {
    const emails = [];
    fs.readFileSync(args[0], 'utf8').split('\n').forEach((l, i) => {
        if (l && i % 97 !== 50)
            emails.push(JSON.parse(l).email.toLowerCase());
    });
    process.stdout.write(emails.sort().join('\n') + '\n');
} else if (cmd === 'big') {
    const bytes = +args[0] * 1024 * 1024;
    await emit((function* () {
        let sent = 0;
        for (let i = 0; sent < bytes; i++) {
            const line = JSON.stringify(row(i, 'big')) + '\n';
            sent += line.length;
            yield line;
        }
    })());
} else if (cmd === 'huge') {
    const mb = +args[0];
    const piece = 'x'.repeat(1 << 20);
    process.stdout.write('{"email":"huge@example.com","fullName":"');
    for (let i = 0; i < mb; i++)
        if (!process.stdout.write(piece))
            await new Promise((ok) => process.stdout.once('drain', ok));
    process.stdout.write('","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}\n');
    process.stdout.write(JSON.stringify(row(1, 'after-huge')) + '\n');
} else if (cmd === 'server') {
    const [mode, portFile, logFile] = args;
    const limit = +(process.env.LIMIT || 10);
    const windowMs = 1000;
    const log = fs.createWriteStream(logFile);
    const counts = new Map();
    const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
            const now = Date.now();
            const win = Math.floor(now / windowMs);
            const headers = {'Content-Type': 'application/json'};
            let status = 200;
            let body = '[]';
            if (mode === 'ratelimit') {
                const used = (counts.get(win) || 0) + 1;
                counts.set(win, used);
                const reset = Math.ceil(((win + 1) * windowMs) / 1000);
                headers['X-RateLimit-Limit'] = String(limit);
                headers['X-RateLimit-Remaining'] = String(Math.max(0, limit - used));
                headers['X-RateLimit-Reset'] = String(reset);
                if (used > limit) {
                    const retry = Math.max(1, Math.ceil(((win + 1) * windowMs - now) / 1000));
                    status = 429;
                    headers['Retry-After'] = String(retry);
                    body = JSON.stringify({error: 'Rate limit exceeded', retryAfter: retry});
                }
            }
            log.write(`${win} ${status}\n`);
            res.writeHead(status, headers);
            res.end(body);
        });
    });
    server.keepAliveTimeout = 30000;
    server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
} else {
    console.error(`gen.mjs: unknown command ${cmd}`);
    process.exit(2);
}
