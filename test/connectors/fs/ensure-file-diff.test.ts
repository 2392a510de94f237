import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureFile, root } from '../../../src/connectors/fs/index.ts';
import { unifiedDiff } from '../../../src/connectors/fs/unified-diff.ts';
import { Redactor } from '../../../src/core/redact.ts';
import { recordLines } from '../../../src/report/format.ts';
import { plainStyle } from '../../../src/report/style.ts';
import { makeEnv } from '../../support/step-env.ts';
import { tempDir } from '../helpers.ts';

describe('unifiedDiff', () => {
  it('shows a changed line with three lines of context, in unified diff hunks', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((l) => `${l}\n`).join('');
    const after = before.replace('e\n', 'E\n');
    expect(unifiedDiff(before, after)).toBe(
      ['@@ -2,7 +2,7 @@', ' b', ' c', ' d', '-e', '+E', ' f', ' g', ' h'].join('\n'),
    );
  });

  it('keeps far-apart changes in separate hunks, and counts insertions and deletions right', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`);
    const after = [...lines];
    after.splice(1, 1); // delete line 2
    after.splice(15, 0, 'inserted\n'); // before old line 17
    expect(unifiedDiff(lines.join(''), after.join(''))).toBe(
      [
        '@@ -1,5 +1,4 @@',
        ' line 1',
        '-line 2',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ -14,6 +13,7 @@',
        ' line 14',
        ' line 15',
        ' line 16',
        '+inserted',
        ' line 17',
        ' line 18',
        ' line 19',
      ].join('\n'),
    );
  });

  it('a new file is all additions; a missing final newline is marked; control characters are made visible', () => {
    expect(unifiedDiff('', 'x = 1\ny = 2\n')).toBe('@@ -0,0 +1,2 @@\n+x = 1\n+y = 2');
    expect(unifiedDiff('a\n', 'a')).toBe('@@ -1,1 +1,1 @@\n-a\n+a\n\\ No newline at end of file');
    expect(unifiedDiff('k = v\n', 'k = v\r\n\u001b[31m\n')).toBe(
      '@@ -1,1 +1,2 @@\n-k = v\n+k = v\\r\n+\\e[31m',
    );
  });

  it('is capped: a huge text gets no diff, a long diff is cut with a count', () => {
    expect(unifiedDiff('a\n', 'x'.repeat(70_000))).toBeUndefined();
    const many = Array.from({ length: 100 }, (_, i) => `${i}\n`).join('');
    const diff = unifiedDiff('', many, { maxLines: 10 }) as string;
    expect(diff.split('\n')).toHaveLength(11);
    expect(diff).toMatch(/\n… 91 more diff lines$/);
    expect(unifiedDiff('same\n', 'same\n')).toBeUndefined();
  });
});

describe('fs.ensureFile shows the text diff of a content change', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('fs-diff'));
  });
  afterEach(() => cleanup());

  it('a template mistake shows as a diff in the check, redacted, under the hashes', async () => {
    const base = root(dir);
    writeFileSync(join(dir, 'app.conf'), 'user = ada\nshell = /bin/bash\npassword = hunter2\n');
    const redactor = new Redactor();
    redactor.add('s3cret-Value');
    const env = makeEnv({ redact: (t) => redactor.redact(t) });
    const step = ensureFile('app.conf', 'user = ada\nshell = /bin/bsh\npassword = s3cret-Value\n', {
      root: base,
    });
    const diff = await step.check({}, {}, env);
    const change = diff?.changes[0];
    expect(change).toMatchObject({ op: '~', field: 'content' });
    expect(String(change?.from)).toMatch(/^sha256:[0-9a-f]{12} \(48 bytes\)$/);
    expect(change?.patch).toBe(
      [
        '@@ -1,3 +1,3 @@',
        ' user = ada',
        '-shell = /bin/bash',
        '-password = hunter2',
        '+shell = /bin/bsh',
        '+password = <secret>',
      ].join('\n'),
    );
    // As the live output (and idem show) prints it.
    const lines = recordLines(
      {
        key: 'ada',
        slot: 'ada',
        line: 2,
        outcome: 'changed',
        absorbed: false,
        diff: [{ step: step.name, changes: diff?.changes ?? [] }],
        attempts: 1,
        inputHash: '',
        startedAt: 0,
        endedAt: 0,
      },
      plainStyle,
      { dryRun: true },
    );
    expect(lines.slice(2)).toEqual([
      '      @@ -1,3 +1,3 @@',
      '       user = ada',
      '      -shell = /bin/bash',
      '      -password = hunter2',
      '      +shell = /bin/bsh',
      '      +password = <secret>',
    ]);
  });

  it('a secret file, binary content and a huge text keep the hash form', async () => {
    const base = root(dir);
    writeFileSync(join(dir, 'token'), 'old-token\n');
    writeFileSync(join(dir, 'blob'), Buffer.from([1, 0, 2, 3]));
    writeFileSync(join(dir, 'big.txt'), 'x\n');
    const env = makeEnv();
    const secret = await ensureFile('token', 'new-token\n', { root: base, secret: true }).check({}, {}, env);
    expect(secret?.changes[0]).toMatchObject({ field: 'content', secret: true });
    expect(secret?.changes[0]?.patch).toBeUndefined();
    const blob = await ensureFile('blob', Buffer.from([1, 0, 2, 4]), { root: base }).check({}, {}, env);
    expect(blob?.changes[0]?.patch).toBeUndefined();
    const big = await ensureFile('big.txt', 'y\n'.repeat(40_000), { root: base }).check({}, {}, env);
    expect(big?.changes[0]?.patch).toBeUndefined();
    expect(String(big?.changes[0]?.to)).toMatch(/^sha256:.* \(80000 bytes\)$/);
    const fresh = await ensureFile('new.txt', 'hello\n', { root: base }).check({}, {}, env);
    expect(fresh?.changes[0]).toMatchObject({
      op: '+',
      field: 'file',
      to: '6 bytes',
      patch: '@@ -0,0 +1,1 @@\n+hello',
    });
  });
});
