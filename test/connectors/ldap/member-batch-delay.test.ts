import { describe, expect, it } from 'vitest';
import { batchDelayMs } from '../../../src/connectors/ldap/member-writes.ts';

describe('how long a member batch waits for more values', () => {
  it('follows the records in flight: a record waits for its batch, so few in flight wait little', () => {
    // At --concurrency 4 a 25 ms wait held a 10,000-person first run to 134 records/s (npm run bench).
    expect(batchDelayMs(4)).toBe(2);
    expect(batchDelayMs(16)).toBe(2);
    expect(batchDelayMs(64)).toBe(8);
    expect(batchDelayMs(128)).toBe(16);
    expect(batchDelayMs(256)).toBe(25);
    expect(batchDelayMs(10_000)).toBe(25);
    expect(batchDelayMs(undefined)).toBe(25);
  });
});
