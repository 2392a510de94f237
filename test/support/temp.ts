import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Temporary folders for a test file, under the repository's own `.test-tmp/`
 * (git ignores it), never the system temp dir; removed when the file's tests end.
 */
const ROOT = resolve(import.meta.dirname, '..', '..', '.test-tmp');
const made: string[] = [];

export function tempDir(prefix = 'idem-'): string {
  mkdirSync(ROOT, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(ROOT, prefix));
  made.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
