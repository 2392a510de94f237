import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/core/redact.ts';

describe('Redactor.redactValue', () => {
  const redactor = new Redactor();
  redactor.add('hunter2');

  it('masks a secret at any depth and leaves the value it was given untouched', () => {
    const value = {
      step: 'ldap.entry',
      changes: [
        { op: 'add', field: 'cn', to: 'Ada' },
        { op: 'modify', field: 'userPassword', from: null, to: ['x', 'pw=hunter2;'] },
      ],
      n: 3,
    };
    const before = structuredClone(value);
    const out = redactor.redactValue(value);
    expect(out).toEqual({
      ...before,
      changes: [before.changes[0], { ...before.changes[1], to: ['x', 'pw=<secret>;'] }],
    });
    expect(value).toEqual(before);
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it('gives back what holds no secret as it is, without a copy', () => {
    const value = { changes: [{ op: 'add', field: 'mail', to: ['a@example.org'] }], at: 1 };
    expect(redactor.redactValue(value)).toBe(value);
  });
});
