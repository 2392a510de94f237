/**
 * Gate for the LDAP suites: with slapd installed they run; without it they are
 * skipped with a loud notice, except in CI (CI=true), where a missing slapd fails.
 */
import { describe, it } from 'vitest';
import { slapdAvailability } from '../support/slapd.ts';

const availability = slapdAvailability();

/** `describe` for suites that need a real slapd. */
export function describeLdap(name: string, fn: () => void): void {
  if (availability.ok) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs slapd (CI=true: a missing slapd is a failure, not a skip)', () => {
        throw new Error(`slapd is required in CI: ${availability.reason}`);
      });
    });
    return;
  }
  console.warn(
    `\n!!! SKIPPING LDAP TESTS "${name}": ${availability.reason}. These tests need a real OpenLDAP slapd. !!!\n`,
  );
  describe.skip(name, fn);
}
