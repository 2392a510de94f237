/**
 * Error classification: raw ldapts errors, and real errors from slapd, each
 * with a message naming the operation, the DN and the attributes.
 */
import {
  BusyError,
  ConstraintViolationError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  TimeLimitExceededError,
  UnavailableError,
} from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/connectors/ldap/connect.ts';
import { ensureEntry } from '../../src/connectors/ldap/ensure-entry.ts';
import { classify } from '../../src/connectors/ldap/errors.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { classifyWith } from '../../src/core/errors.ts';
import { Slapd } from '../support/slapd.ts';
import { makeEnv } from '../support/step-env.ts';
import { failure, fakeSetup, plan, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

describe('ldap.classify on raw ldapts errors', () => {
  it('maps result codes and transport failures to classes', () => {
    expect(classify(new BusyError())).toBe('transient');
    expect(classify(new UnavailableError())).toBe('transient');
    expect(classify(new TimeLimitExceededError())).toBe('transient');
    expect(classify(new InsufficientAccessError())).toBe('permanent');
    expect(classify(new InvalidCredentialsError())).toBe('permanent');
    expect(classify(new ConstraintViolationError())).toBe('permanent');
    expect(classify(new NoSuchObjectError())).toBe('permanent');
    expect(
      classify(
        new Error('Connection closed before message response was received. Message type: AddRequest (0x68)'),
      ),
    ).toBe('ambiguous');
    expect(classify(new Error('ModifyRequest: Operation timed out'))).toBe('ambiguous');
    expect(
      classify(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
    ).toBe('transient');
    expect(classify(new Error('Connection timeout'))).toBe('transient');
    expect(classify(new Error('something else'))).toBeUndefined();
    // In the engine's chain, what the ldap classifier leaves undecided falls to the default (permanent).
    expect(classifyWith(classify)(new Error('something else'))).toBe('permanent');
  });
});

describeLdap('real errors from slapd', () => {
  let slapd: Slapd;
  let admin: LdapPool;
  const people = 'ou=people,dc=example,dc=com';
  const person = (uid: string) => ({ objectClass: 'inetOrgPerson', uid, cn: uid, sn: uid });

  beforeAll(async () => {
    slapd = await Slapd.start({ adminPassword: 'canary-Adm1n-pw' });
    admin = poolFor(slapd);
  });
  afterAll(async () => {
    await admin?.close();
    await slapd?.destroy();
  });

  it('a read-only bind: the check works, the write fails permanently with 50, naming DN, operation and bind DN', async () => {
    const reader = poolFor(slapd, {}, 'reader');
    try {
      const step = ensureEntry({ base: people, attribute: 'uid', value: 'ro' }, person('ro'));
      const diff = await plan(step, { ldap: reader });
      expect(diff?.action).toBe('create');
      const writes = slapd.writes();
      const err = await failure(step.apply(undefined, { ldap: reader }, diff!, makeEnv()));
      expect(err.code).toBe(50);
      expect(err.kind).toBe('permanent');
      expect(classifyWith(step.classify)(err)).toBe('permanent');
      expect(err.message).toContain(`ldap add uid=ro,${people}`);
      expect(err.message).toContain('insufficientAccessRights (50)');
      expect(err.message).toContain('cn=reader,dc=example,dc=com lacks the rights for this add');
      expect(slapd.writes()).toBe(writes);
    } finally {
      await reader.close();
    }
  });

  it('a wrong password fails the connect permanently with 49, naming the bind DN but never the password', async () => {
    const err = await failure(
      connect(fakeSetup(), { url: slapd.url, bindDn: slapd.adminDn, password: 'canary-wrong-pw' }),
    );
    expect(err.code).toBe(49);
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('ldap bind cn=admin,dc=example,dc=com: invalidCredentials (49)');
    expect(err.message).not.toContain('canary');
  });

  it('schema and syntax errors are permanent and name the attributes', async () => {
    const missingSn = await failure(
      admin.add(`uid=nosn,${people}`, { objectClass: ['inetOrgPerson'], uid: ['nosn'], cn: ['x'] }),
    );
    expect(missingSn.code).toBe(65);
    expect(missingSn.kind).toBe('permanent');
    expect(missingSn.message).toContain(
      `ldap add uid=nosn,${people} [objectClass, uid, cn]: objectClassViolation (65)`,
    );

    await admin.add(`uid=syn,${people}`, {
      objectClass: ['inetOrgPerson'],
      uid: ['syn'],
      cn: ['x'],
      sn: ['x'],
    });
    const badSyntax = await failure(
      admin.modify(`uid=syn,${people}`, [{ op: 'replace', attribute: 'manager', values: ['not a dn'] }]),
    );
    expect(badSyntax.code).toBe(21);
    expect(badSyntax.kind).toBe('permanent');
    expect(badSyntax.message).toContain(
      `ldap modify uid=syn,${people} [manager]: invalidAttributeSyntax (21)`,
    );

    const undefinedType = await failure(
      admin.modify(`uid=syn,${people}`, [{ op: 'replace', attribute: 'noSuchAttr', values: ['x'] }]),
    );
    expect(undefinedType.kind).toBe('permanent');

    const badDn = await failure(admin.add('uid=x,,dc=example,dc=com', { objectClass: ['inetOrgPerson'] }));
    expect(badDn.code).toBe(34);
    expect(badDn.kind).toBe('permanent');

    const nonLeaf = await failure(admin.del(people));
    expect(nonLeaf.code).toBe(66);
    expect(nonLeaf.kind).toBe('permanent');
    expect(nonLeaf.message).toContain(`ldap delete ${people}: notAllowedOnNonLeaf (66)`);
  });

  it('a search under a base that does not exist is permanent (a wrong IDEM_LDAP_BASE)', async () => {
    const err = await failure(admin.search('ou=nope,dc=example,dc=com', { filter: '(uid=x)' }));
    expect(err.code).toBe(32);
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('the search base does not exist');
  });
});
