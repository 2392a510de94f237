/**
 * A `cmd` child of the secret-canary chaos task. While idem runs, it writes into
 * <out>/peek-<id>/: its own environment (env.txt), `ps -eo args` (ps.txt), its
 * parent's (idem's) /proc/PID/environ (parent-environ), and a copy of every file
 * of the state dir as it is now (state/: ledger, WAL, lock files).
 * Usage: node peek.mjs <out> <state dir> <id>
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, stateDir, id] = process.argv.slice(2);
const dir = join(out, `peek-${id}`);
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'env.txt'),
  Object.entries(process.env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n'),
);
writeFileSync(join(dir, 'ps.txt'), execFileSync('ps', ['-eo', 'args']));
try {
  writeFileSync(join(dir, 'parent-environ'), readFileSync(`/proc/${process.ppid}/environ`));
} catch (err) {
  writeFileSync(join(dir, 'parent-environ.error'), String(err));
}
cpSync(stateDir, join(dir, 'state'), { recursive: true });
writeFileSync(join(dir, 'done'), '');
