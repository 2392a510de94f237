import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../../src/connectors/ldap/config.ts';
import { kindOf } from '../../../src/core/errors.ts';
import { Redactor } from '../../../src/core/redact.ts';
import { createSetupContext } from '../../../src/runner/setup-context.ts';
import { tempDir } from '../../support/temp.ts';

const BASICS = { IDEM_LDAP_URL: 'ldap://127.0.0.1:389', IDEM_LDAP_BASE: 'dc=example,dc=com' };

function config(env: Record<string, string>) {
  const redactor = new Redactor();
  const { setup } = createSetupContext({
    taskDir: '.',
    stateDir: '.',
    concurrency: 1,
    env,
    redactor,
    warn: () => {},
  });
  return { config: () => configFromEnv(setup), redactor };
}

/** The usage error configFromEnv throws for this environment. */
function refusal(env: Record<string, string>): string {
  try {
    config(env).config();
  } catch (err) {
    expect(kindOf(err)).toBe('usage');
    return (err as Error).message;
  }
  throw new Error('configFromEnv accepted it');
}

describe('ldap.configFromEnv: a bind is never anonymous by accident', () => {
  it('no bind DN and no password is a usage error naming both, and the anonymous switch', () => {
    expect(refusal(BASICS)).toBe(
      'missing LDAP settings: set IDEM_LDAP_BIND_DN, IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE ' +
        '(or, for an anonymous bind, IDEM_LDAP_ANONYMOUS=1 instead of the bind DN and password)',
    );
  });

  it('a password without a bind DN is a usage error that says it would bind anonymously', () => {
    expect(refusal({ ...BASICS, IDEM_LDAP_PASSWORD: 'pw' })).toBe(
      'missing LDAP settings: set IDEM_LDAP_BIND_DN (a password without IDEM_LDAP_BIND_DN would bind anonymously)',
    );
    expect(refusal({ ...BASICS, IDEM_LDAP_PASSWORD_FILE: '/etc/idem/ldap.pw' })).toContain(
      'set IDEM_LDAP_BIND_DN (a password without',
    );
  });

  it('a bind DN without a password names both ways to give one', () => {
    expect(refusal({ ...BASICS, IDEM_LDAP_BIND_DN: 'cn=idem,dc=example,dc=com' })).toBe(
      'missing LDAP settings: set IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE',
    );
  });

  it('names every missing variable at once, URL and base included', () => {
    expect(refusal({})).toBe(
      'missing LDAP settings: set IDEM_LDAP_URL, IDEM_LDAP_BASE, IDEM_LDAP_BIND_DN, IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE ' +
        '(or, for an anonymous bind, IDEM_LDAP_ANONYMOUS=1 instead of the bind DN and password)',
    );
    expect(refusal({ IDEM_LDAP_ANONYMOUS: '1' })).toBe(
      'missing LDAP settings: set IDEM_LDAP_URL, IDEM_LDAP_BASE',
    );
    // Every problem in one message, not one per attempt.
    expect(
      refusal({ IDEM_LDAP_URL: 'ldap://x', IDEM_LDAP_PASSWORD: 'pw', IDEM_LDAP_TIMEOUT_MS: 'soon' }),
    ).toBe(
      'missing LDAP settings: set IDEM_LDAP_BASE, IDEM_LDAP_BIND_DN (a password without IDEM_LDAP_BIND_DN would bind anonymously); ' +
        'IDEM_LDAP_TIMEOUT_MS must be a positive number of ms, not "soon"',
    );
  });

  it('an anonymous bind is taken only when asked for, and not together with credentials', () => {
    const anon = config({ ...BASICS, IDEM_LDAP_ANONYMOUS: '1' }).config();
    expect(anon).toEqual({ url: BASICS.IDEM_LDAP_URL, base: BASICS.IDEM_LDAP_BASE });
    expect(anon.bindDn).toBeUndefined();
    expect(refusal({ ...BASICS, IDEM_LDAP_ANONYMOUS: 'yes', IDEM_LDAP_BIND_DN: 'cn=x' })).toBe(
      'IDEM_LDAP_ANONYMOUS=1 asks for an anonymous bind, but IDEM_LDAP_BIND_DN is set too: unset one or the other',
    );
    expect(
      refusal({ ...BASICS, IDEM_LDAP_ANONYMOUS: '1', IDEM_LDAP_BIND_DN: 'cn=x', IDEM_LDAP_PASSWORD: 'pw' }),
    ).toContain('IDEM_LDAP_BIND_DN and IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE are set too');
    expect(refusal({ ...BASICS, IDEM_LDAP_ANONYMOUS: '0' })).toContain('set IDEM_LDAP_BIND_DN');
  });

  it('a bind DN with a password (or a password file) is a full config, the password declared secret', () => {
    const dir = tempDir('idem-ldap-config-');
    const file = join(dir, 'ldap.pw');
    writeFileSync(file, 'from-a-file\n', { mode: 0o600 });
    const fromFile = config({
      ...BASICS,
      IDEM_LDAP_BIND_DN: 'cn=idem,dc=example,dc=com',
      IDEM_LDAP_PASSWORD_FILE: file,
    });
    expect(fromFile.config()).toMatchObject({ bindDn: 'cn=idem,dc=example,dc=com', password: 'from-a-file' });
    expect(fromFile.redactor.redact('pw from-a-file')).toBe('pw <secret>');
    const direct = config({ ...BASICS, IDEM_LDAP_BIND_DN: 'cn=idem', IDEM_LDAP_PASSWORD: 'pw' }).config();
    expect(direct).toMatchObject({ bindDn: 'cn=idem', password: 'pw' });
  });
});
