#!/usr/bin/env node
// `idem resolve` for many keys in one process: the built CLI's own resolve command
// (dist/cli/resolve-command.js) called once per key, so settling 100 in-doubt mails
// costs one Node start, not 100. The chaos campaign settles its first doubt with the
// real CLI and the rest through this.
//
// Usage: resolve-many.mjs <task-file> <state-dir> <effect> <key>=done|retry ...
// Prints one line per key; exits 1 when any resolve did not return 0.
import { resolveCommand } from '../../../dist/cli/resolve-command.js';

const [task, stateDir, effect, ...pairs] = process.argv.slice(2);
let failed = 0;
for (const pair of pairs) {
  const [key, verdict] = pair.split('=');
  const code = await resolveCommand(task, key, {
    effect,
    stateDir,
    ...(verdict === 'done' ? { done: true } : { retry: true }),
  }).catch((err) => {
    process.stderr.write(`resolve ${key}: ${err.message}\n`);
    return 1;
  });
  if (code !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
