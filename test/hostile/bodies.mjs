// Hostile request bodies: the shapes a tenant can send to make a verdict
// expensive, each at a size given in bytes.  Used by hostile.mjs; every
// body is JSON text (most are valid JSON with issues, some are valid
// batches), built as one string so that sizes are exact enough.
//
//   node bodies.mjs NAME BYTES     prints one body (to look at a case)

import { rng } from '../reliability/rng.mjs';

const VALID = '"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"';
const valid = (i) => `${VALID},"email":"h${i}@example.com"`;
const repeat = (unit, n, sep = ',') => Array(Math.max(1, Math.floor(n))).fill(unit).join(sep);
const batch = (elements) => `{"consumers":[${elements}]}`;

// Each shape: (bytes, rand) -> body of about that many bytes.
export const shapes = {
    // H1: a field nested deep around a huge number, with other bad fields:
    // every issue prints the element twice, each level of it read again
    'deep-number': (bytes) => {
        const depth = 1000;
        return batch(`{"email":${'['.repeat(depth)}${'1'.repeat(bytes - 2 * depth - 160)}${']'.repeat(depth)},` +
            '"activityRank":"x","emailVerified":"x","phoneVerified":"x","status":1,"totalOrders":"x"}');
    },
    // the deepest nesting the reader takes, around a long string
    'deep-string': (bytes) => {
        const depth = 4000;
        return batch(`{${VALID},"email":"a@example.com","fullName":${'['.repeat(depth)}"${'x'.repeat(bytes - 2 * depth - 140)}"${']'.repeat(depth)}}`);
    },
    // H2: many containers in a metadata array: one union issue, one nested
    // issue per container
    'metadata-containers': (bytes) =>
        batch(`{${valid(0)},"metadata":{"a":[${repeat('[]', (bytes - 120) / 3)}]}}`),
    // deep containers in a metadata array
    'metadata-deep-containers': (bytes) =>
        batch(`{${valid(0)},"metadata":{"a":[${repeat('[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]', (bytes - 120) / 41)}]}}`),
    // a metadata object of many keys, all the same (JSON.parse keeps one)
    'metadata-duplicate-keys': (bytes) =>
        batch(`{${valid(0)},"metadata":{${repeat('"a":1', (bytes - 120) / 6)}}}`),
    // many issues: every field of every element wrong
    'many-issues': (bytes) => {
        const el = '{"emailVerified":1,"phoneVerified":1,"status":1,"email":1,"activityRank":"x","aov":1,"metadata":1}';
        return batch(repeat(el, (bytes - 20) / (el.length + 1)));
    },
    // many elements, each an issue of its own
    'many-elements': (bytes) => batch(repeat('{}', (bytes - 20) / 3)),
    'many-scalars': (bytes) => batch(repeat('0', (bytes - 20) / 2)),
    // a root that is not an object, printed as the input
    'root-array': (bytes) => `[${repeat('{}', (bytes - 2) / 3)}]`,
    // a root object of many members, none of them "consumers"
    'root-members': (bytes) => `{${repeat('"a":[1]', (bytes - 2) / 8)}}`,
    // a huge string in a bad email, and one of escapes
    'huge-string': (bytes) => batch(`{${VALID},"email":"${'x'.repeat(bytes - 100)}"}`),
    'escaped-string': (bytes) =>
        batch(`{${VALID},"email":"a@example.com","fullName":"${'\\u00e9'.repeat((bytes - 140) / 6)}","activityRank":"x"}`),
    // numbers JSON.parse reads as Infinity or 0, everywhere
    'huge-numbers': (bytes) => {
        const n = '9'.repeat(400);
        return batch(`{${valid(0)},"metadata":{"a":[${repeat(n, (bytes - 120) / 401)}]},"activityScore":"x"}`);
    },
    // a valid batch: the most elements there are room for (over the limit)
    'over-limit': (bytes) => {
        const n = Math.floor((bytes - 20) / 90);
        return batch(Array.from({ length: n }, (_, i) => `{${valid(i)}}`).join(','));
    },
    // random: deep and wide mixtures, from the seed
    'random': (bytes, rand) => {
        const parts = [];
        let size = 0;
        while (size < bytes - 200) {
            const depth = 1 + Math.floor(rand() * rand() * 600);
            const width = 1 + Math.floor(rand() * 50);
            const leaf = ['1', '"s"', '[]', '{}', '1e999', 'null', `"${'y'.repeat(Math.floor(rand() * 200))}"`][Math.floor(rand() * 7)];
            const piece = '['.repeat(depth) + repeat(leaf, width) + ']'.repeat(depth);
            parts.push(piece);
            size += piece.length + 1;
        }
        const field = ['email', 'metadata', 'lastGeoCoordinates', 'fullName', 'x'][Math.floor(rand() * 5)];
        return batch(`{${VALID},"${field}":[${parts.join(',')}],"metadata":{"m":[${parts.slice(0, 3).join(',')}]}}`);
    },
};

export function body(name, bytes, seed = 1) {
    return shapes[name](Math.floor(bytes), rng(seed));
}

if (process.argv[1] && process.argv[1].endsWith('bodies.mjs')) {
    process.stdout.write(body(process.argv[2], Number(process.argv[3] || 10000)));
}
