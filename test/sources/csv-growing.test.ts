/**
 * A file that changes while the scan reads it: the test writes to the real file
 * between two of the scan's reads (fs.promises.open is wrapped, in this file only,
 * to say when a read happened), so the change lands inside the scan every time.
 */
import { appendFileSync, closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import type * as Fs from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kindOf } from '../../src/core/errors.ts';
import { CsvSource } from '../../src/sources/csv.ts';
import { tempDir } from '../support/temp.ts';

let afterRead: ((reads: number) => void) | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  const open = async (...args: Parameters<typeof real.open>) => {
    const fh = await real.open(...args);
    let reads = 0;
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'read') {
          return async (...a: unknown[]) => {
            const r = await (target.read as (...x: unknown[]) => Promise<unknown>)(...a);
            afterRead?.(++reads);
            return r;
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  };
  return { ...real, open, default: { ...real, open } };
});

const dir = tempDir('csv-growing-');

function bigFile(name: string): string {
  const path = join(dir, name);
  const rows = Array.from({ length: 20_000 }, (_, i) => `k${i},${'v'.repeat(40)}\n`).join('');
  writeFileSync(path, `id,v\n${rows}`);
  return path;
}

afterEach(() => {
  afterRead = undefined;
});

describe('CsvSource: a file that changes while it is scanned', () => {
  it('an export still being appended to is refused by the scan (exit 2), before any record', async () => {
    const path = bigFile('growing.csv');
    afterRead = (n) => {
      if (n === 2) appendFileSync(path, 'k-late,x\n');
    };
    const err = await new CsvSource(path).scan().catch((e: Error) => e);
    expect(kindOf(err)).toBe('usage');
    expect((err as Error).message).toMatch(
      /changed while it was being read \(its size went from \d+ to \d+ bytes\): is the export still being written\? Wait until it is complete, then run again\. Nothing was changed\./,
    );
  });

  it('a file rewritten in place with the same size is refused by its modification time', async () => {
    const path = bigFile('rewritten.csv');
    afterRead = (n) => {
      if (n !== 2) return;
      const fd = openSync(path, 'r+');
      writeSync(fd, 'x', 0);
      closeSync(fd);
    };
    await expect(new CsvSource(path).scan()).rejects.toThrow(
      /changed while it was being read \(it was written to at /,
    );
  });

  it('a file that does not change is read normally with the same wrapper', async () => {
    const path = bigFile('still.csv');
    let reads = 0;
    afterRead = (n) => {
      reads = n;
    };
    expect((await new CsvSource(path).scan()).count).toBe(20_000);
    expect(reads).toBeGreaterThan(2);
  });
});
