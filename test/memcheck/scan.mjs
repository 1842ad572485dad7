// Counts the valgrind error reports in a directory of memcheck logs (one per
// process, as test/memcheck/run.sh writes them) and prints in full every
// report with a frame in fanfare.so or in one of the extension's sources.
//
//   node scan.mjs LOG_DIR [COUNT_FILE]
//
// A report is the lines from "==PID== <what>" up to the next blank
// "==PID== " line.  Reports without a fanfare frame (PostgreSQL's own) are
// counted by kind.  The number of fanfare reports goes to COUNT_FILE; the
// exit status is 1 when there is any.
import fs from 'node:fs';
import path from 'node:path';

const [dir, countFile] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scan.mjs LOG_DIR [COUNT_FILE]');
  process.exit(2);
}
// a frame of the extension: "in .../fanfare.so" without debug information,
// "(validate.c:670)" with it, for the files of src/ (not src/gateway/)
const SOURCES = fs.readdirSync(path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'src'))
  .filter((f) => f.endsWith('.c'));
const isOurs = (line) => /fanfare\.so/.test(line) || SOURCES.some((f) => line.includes(`(${f}:`));
const ERROR = /^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)/;
let ours = 0;
let theirs = 0;
let processes = 0;
const kinds = new Map();
for (const f of fs.readdirSync(dir).sort()) {
  processes++;
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  for (const block of text.split(/\n==\d+==\s*\n/)) {
    const lines = block.split('\n').filter((l) => /^==\d+== /.test(l));
    if (!lines.length) continue;
    const head = lines[0].replace(/^==\d+== +/, '');
    if (!ERROR.test(head)) continue;
    if (lines.some(isOurs)) {
      ours++;
      console.log(`memcheck: REPORT in ${f}:\n${lines.join('\n')}\n`);
    } else {
      theirs++;
      kinds.set(head, (kinds.get(head) || 0) + 1);
    }
  }
}
for (const [k, n] of kinds) console.log(`memcheck: not fanfare (PostgreSQL's own): ${n} x ${k}`);
console.log(`memcheck: ${processes} processes traced; ${ours} reports with a fanfare frame, ${theirs} without`);
if (countFile) fs.writeFileSync(countFile, String(ours));
process.exitCode = ours ? 1 : 0;
