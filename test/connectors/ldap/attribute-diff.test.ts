/**
 * diffAttributes without a server: what an entry needs to match desired
 * attributes. The common cases take a short way (nothing allocated); each case
 * here is checked for the modifications it yields, short way or not.
 */
import { describe, expect, it } from 'vitest';
import { diffAttributes } from '../../../src/connectors/ldap/attribute-diff.ts';
import type { LdapEntry } from '../../../src/connectors/ldap/entry.ts';

const entry: LdapEntry = {
  dn: 'uid=ada,ou=people,dc=x',
  attrs: {
    objectclass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
    uid: ['ada'],
    cn: ['Ada Lovelace'],
    mail: ['ada@x'],
    mobile: ['1', '2'],
    manager: ['uid=Bob,ou=People,dc=x'],
    description: ['old'],
  },
};
const mods = (attrs: Parameters<typeof diffAttributes>[1], mode?: 'merge' | 'exact') =>
  diffAttributes(entry, attrs, mode ? { mode } : {}).modifications;

describe('diffAttributes', () => {
  it('finds nothing to do when every listed value is held (one value, several in order or not, as a number, absent and absent)', () => {
    expect(
      mods({ objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'], uid: 'ada' }),
    ).toEqual([]);
    expect(mods({ objectClass: ['top', 'PERSON'], mobile: ['2', '1'], cn: 'Ada Lovelace' })).toEqual([]);
    expect(mods({ mobile: [1, '2', ''], shadowExpire: null, title: '', givenName: undefined })).toEqual([]);
    expect(mods({ manager: 'uid=bob,ou=people,dc=x', mail: ['ada@x'] })).toEqual([]);
  });

  it('adds only the missing object classes, replaces changed values, deletes what must be absent', () => {
    expect(mods({ objectClass: ['inetOrgPerson', 'shadowAccount'] })).toEqual([
      { op: 'add', attribute: 'objectClass', values: ['shadowAccount'] },
    ]);
    expect(mods({ mail: 'new@x', mobile: ['1', '3'], description: null, cn: '' })).toEqual([
      { op: 'replace', attribute: 'mail', values: ['new@x'] },
      { op: 'replace', attribute: 'mobile', values: ['1', '3'] },
      { op: 'delete', attribute: 'description', values: [] },
      { op: 'delete', attribute: 'cn', values: [] },
    ]);
    expect(mods({ mobile: ['1', '2', '3'], title: 'Countess' })).toEqual([
      { op: 'replace', attribute: 'mobile', values: ['1', '2', '3'] },
      { op: 'replace', attribute: 'title', values: ['Countess'] },
    ]);
  });

  it('in exact mode removes the user attributes not listed (never objectClass, operational or RDN ones)', () => {
    expect(mods({ objectClass: ['top'], cn: 'Ada Lovelace', mail: 'ada@x' }, 'exact')).toEqual([
      { op: 'delete', attribute: 'mobile', values: [] },
      { op: 'delete', attribute: 'manager', values: [] },
      { op: 'delete', attribute: 'description', values: [] },
    ]);
  });
});
