/**
 * The compile cache of a test run: the task files tests write (each under a new
 * temp path, so each a new cache entry) are compiled into the repository's
 * `.test-tmp/`, not into the developer's `~/.cache/idem/tasks`, and the folder
 * is removed when the run ends. vitest configs set it as XDG_CACHE_HOME for
 * the workers (and the CLI processes they start) and use `removeTestCache` as
 * their global setup's teardown.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

/** This run's cache folder (named by the pid of the vitest main process, where configs and global setups run). */
export const TEST_CACHE = join(ROOT, '.test-tmp', `xdg-cache-${process.pid}`);

/** vitest global setup: nothing before the run; the cache folder removed after it. */
export default function setup(): () => void {
  return () => rmSync(TEST_CACHE, { recursive: true, force: true });
}
