import { describe, expect, it } from 'vitest';
import { sameJson } from '../../src/core/record-processor.ts';

describe('sameJson: the comparison of a diff with its plan read back from JSON', () => {
  const cases: [string, unknown][] = [
    ['strings and lists', [{ op: '+', field: 'mail', to: ['a@x', 'b@x'] }]],
    ['null and absent values', [{ op: '~', field: 'cn', from: null, to: 'Ada', secret: undefined }]],
    ['a date', [{ op: '~', field: 'at', to: new Date(0) }]],
    ['odd numbers and holes', [{ op: '+', field: 'n', to: [1, Number.NaN, undefined, () => 1] }]],
    ['nested objects', { a: { b: [{ c: 1 }, { d: 'e' }] } }],
    ['boxed values', { s: new String('a'), n: [new Number(1)], b: new Boolean(false) }],
    ['toJSON giving a date (written as {})', [{ toJSON: () => new Date(0) }]],
  ];
  for (const [what, value] of cases) {
    it(`agrees with JSON.stringify: ${what}`, () => {
      const read = JSON.parse(JSON.stringify(value));
      expect(sameJson(value, read)).toBe(true);
      expect(sameJson(read, value)).toBe(true);
    });
  }

  it('tells different values apart, but not the order of properties', () => {
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameJson([{ op: '+', to: 'a' }], [{ op: '+', to: 'b' }])).toBe(false);
    expect(sameJson([1, 2], [1, 2, 3])).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(sameJson({ a: [] }, { a: {} })).toBe(false);
    expect(sameJson('1', 1)).toBe(false);
    expect(sameJson(new Number(1), new Number(2))).toBe(false);
    expect(sameJson(new String('a'), 'a')).toBe(true);
  });
});
