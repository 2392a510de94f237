// The naive baseline for part 2 of `npm run bench`, run as its own `node` process:
// read the whole CSV, then INSERT OR REPLACE every row, one autocommit per row, into
// the same kind of target that test/e2e/tasks/kv.ts writes (WAL). No check, no
// ledger, no lock, no report. Usage: node naive-kv.mjs <target.db> <input.csv>
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';

const [target, input] = process.argv.slice(2);
if (!target || !input) {
  console.error('usage: node naive-kv.mjs <target.db> <input.csv>');
  process.exit(2);
}
const db = new Database(target);
db.pragma('journal_mode = WAL');
const put = db.prepare('INSERT OR REPLACE INTO kv (id, value) VALUES (?, ?)');
let n = 0;
for (const row of parse(readFileSync(input), { columns: true, skip_empty_lines: true, trim: true })) {
  put.run(row.id, row.value);
  n++;
}
db.close();
console.log(JSON.stringify({ rows: n }));
