// Preload (`node --require ./test/bench/max-rss.cjs ...`) that reports the process's
// peak RSS (getrusage maxRSS, in bytes) and its CPU time (user + system, ms) when it
// exits, including through process.exit(): to the file named by
// IDEM_BENCH_MAX_RSS_FILE as `<bytes> <cpu ms>`, else as one line on stderr
// (`max-rss-bytes: N cpu-ms: M`). A process killed by a signal reports nothing.
'use strict';
const { writeFileSync } = require('node:fs');

process.on('exit', () => {
  const usage = process.resourceUsage();
  const bytes = usage.maxRSS * 1024;
  const cpuMs = Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000);
  const file = process.env.IDEM_BENCH_MAX_RSS_FILE;
  if (file) writeFileSync(file, `${bytes} ${cpuMs}\n`);
  else process.stderr.write(`max-rss-bytes: ${bytes} cpu-ms: ${cpuMs}\n`);
});
