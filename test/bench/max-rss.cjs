// Preload (`node --require test/bench/max-rss.cjs ...`) that reports the process's
// peak RSS (getrusage maxRSS, in bytes) when it exits, including through process.exit():
// to the file named by IDEM_BENCH_MAX_RSS_FILE, else as one line on stderr
// (`max-rss-bytes: N`). A process killed by a signal reports nothing.
'use strict';
const { writeFileSync } = require('node:fs');

process.on('exit', () => {
  const bytes = process.resourceUsage().maxRSS * 1024;
  const file = process.env.IDEM_BENCH_MAX_RSS_FILE;
  if (file) writeFileSync(file, `${bytes}\n`);
  else process.stderr.write(`max-rss-bytes: ${bytes}\n`);
});
