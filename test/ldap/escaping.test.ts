/**
 * DN (RFC 4514) and filter (RFC 4515) escaping: unit cases, then round trips of
 * awkward and hostile values through the real server.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childDn,
  dnEquals,
  escapeDnValue,
  normalizeDn,
  parentDn,
  parseDn,
} from '../../src/connectors/ldap/dn.ts';
import { ensureEntry } from '../../src/connectors/ldap/ensure-entry.ts';
import { ensureMember } from '../../src/connectors/ldap/ensure-members.ts';
import { escapeFilterValue, filter } from '../../src/connectors/ldap/filter.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { Slapd } from '../support/slapd.ts';
import { converge, plan, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

const AWKWARD = [
  "O'Brien, Jr.",
  '#hash',
  ' lead',
  'trail ',
  'a+b',
  '*)(uid=*',
  'semi;colon<and>"quotes"',
  'back\\slash',
  'equals=sign',
  'Zoë Ångström',
  '山田 太郎',
  'emoji 🙂',
  'nul\u0000byte',
];

describe('escapeDnValue and parseDn (RFC 4514)', () => {
  it('escapes the specials, a leading # or space, a trailing space and NUL', () => {
    expect(escapeDnValue("O'Brien, Jr.")).toBe("O'Brien\\, Jr.");
    expect(escapeDnValue('#hash')).toBe('\\#hash');
    expect(escapeDnValue('in#side')).toBe('in#side');
    expect(escapeDnValue(' lead')).toBe('\\ lead');
    expect(escapeDnValue('trail ')).toBe('trail\\ ');
    expect(escapeDnValue('mid dle')).toBe('mid dle');
    expect(escapeDnValue('a+b')).toBe('a\\+b');
    expect(escapeDnValue('"<>;')).toBe('\\"\\<\\>\\;');
    expect(escapeDnValue('back\\slash')).toBe('back\\5Cslash');
    expect(escapeDnValue('nul\u0000')).toBe('nul\\00');
    expect(escapeDnValue('Zoë')).toBe('Zoë');
  });

  it('parses back every value it escapes', () => {
    for (const v of AWKWARD) {
      const dn = childDn('cn', v, 'ou=people,dc=example,dc=com');
      const [first, ...rest] = parseDn(dn);
      expect(first).toEqual([{ type: 'cn', value: v }]);
      expect(rest.map((r) => r[0]?.type)).toEqual(['ou', 'dc', 'dc']);
      expect(parentDn(dn)).toBe('ou=people,dc=example,dc=com');
    }
  });

  it('parses hex escapes, multi-valued RDNs and BER values, and compares DNs by normalized form', () => {
    expect(parseDn('cn=Z\\C3\\AB,dc=x')[0]).toEqual([{ type: 'cn', value: 'Zë' }]);
    expect(parseDn('cn=a+uid=b,dc=x')[0]).toEqual([
      { type: 'cn', value: 'a' },
      { type: 'uid', value: 'b' },
    ]);
    expect(parseDn('cn=#04024869,dc=x')[0]).toEqual([{ type: 'cn', value: '#04024869', ber: true }]);
    expect(dnEquals('UID=JDoe, OU=People,DC=example,DC=com', 'uid=jdoe,ou=people,dc=example,dc=com')).toBe(
      true,
    );
    expect(dnEquals('uid=a+cn=b,dc=x', 'cn=B+uid=A,dc=x')).toBe(true);
    expect(dnEquals('uid=a\\,b,dc=x', 'uid=a\\2Cb,dc=x')).toBe(true);
    expect(dnEquals('uid=a,dc=x', 'uid=b,dc=x')).toBe(false);
    expect(normalizeDn('cn=x\\ ,dc=y')).toBe('cn=x,dc=y');
    expect(() => parseDn('no-equals-sign')).toThrow(/malformed DN/);
  });

  it('normalizes a plain DN by lower-casing it, exactly as the full parse would', () => {
    // The full rule, spelled out: parse, lower-case types and trimmed values, sort multi-valued RDNs, escape.
    const full = (dn: string) =>
      parseDn(dn)
        .map((r) =>
          r
            .map((a) =>
              a.ber
                ? `${a.type.toLowerCase()}=${a.value.toLowerCase()}`
                : `${a.type.toLowerCase()}=${escapeDnValue(a.value.trim().replace(/\s+/g, ' ').toLowerCase())}`,
            )
            .sort()
            .join('+'),
        )
        .join(',');
    const dns = [
      'uid=u0001,ou=people,dc=example,dc=com',
      'UID=Zoë,OU=People,DC=x',
      'cn=,dc=x',
      'x=İ,dc=x',
      'uid=a.b-c_d,dc=x',
      'uid=a b,dc=x',
      'uid=a\u00a0b,dc=x',
      'uid= a,dc=x',
      'cn=a=b,dc=x',
      'cn=a+uid=b,dc=x',
      'cn=#04024869,dc=x',
      'cn=a;dc=x',
      'cn=x\\,y,dc=z',
      'cn=<x>,dc=z',
      'cn="q",dc=z',
    ];
    for (const dn of dns) expect(normalizeDn(dn), dn).toBe(full(dn));
  });
});

describe('escapeDnValue without escapes to make', () => {
  /** The rule character by character (RFC 4514 section 2.4), what every value went through before the short way. */
  const byRule = (value: string) => {
    const chars = [...value];
    return chars
      .map((ch, i) => {
        const code = ch.codePointAt(0) ?? 0;
        if (ch === '\\') return '\\5C';
        if (code < 0x20 || code === 0x7f)
          return [...Buffer.from(ch, 'utf8')]
            .map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`)
            .join('');
        if ('"+,;<>\\='.includes(ch)) return `\\${ch}`;
        if (i === 0 && (ch === '#' || ch === ' ')) return `\\${ch}`;
        if (i === chars.length - 1 && ch === ' ') return '\\ ';
        return ch;
      })
      .join('');
  };

  it('gives what the rule gives, for plain values (returned as they are) and awkward ones alike', () => {
    const plain = [
      'u0001',
      'staff',
      'a.b-c_d',
      'Zoë Ångström',
      '山田 太郎',
      'emoji 🙂',
      'a#b',
      'in side',
      '',
    ];
    for (const v of [...plain, ...AWKWARD, ' ', '#', 'x ', '\u007f', 'a\u001fb'])
      expect(escapeDnValue(v)).toBe(byRule(v));
    for (const v of plain) expect(escapeDnValue(v)).toBe(v);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (v) => escapeDnValue(v) === byRule(v)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', ' ', '#', ',', '+', '\\', '=', 'é', '\u0000', '\u007f', '"'),
          maxLength: 6,
        }),
        (v) => escapeDnValue(v) === byRule(v),
      ),
      { numRuns: 2000 },
    );
  });
});

describe('escapeFilterValue (RFC 4515)', () => {
  it('escapes * ( ) \\ and NUL, and the filter tag escapes every value', () => {
    expect(escapeFilterValue('*)(uid=*')).toBe('\\2a\\29\\28uid=\\2a');
    expect(escapeFilterValue('back\\slash')).toBe('back\\5cslash');
    expect(escapeFilterValue('nul\u0000')).toBe('nul\\00');
    expect(escapeFilterValue('Zoë')).toBe('Zoë');
    expect(filter`(&(objectClass=person)(uid=${'*)(|(uid=*'}))`).toBe(
      '(&(objectClass=person)(uid=\\2a\\29\\28|\\28uid=\\2a))',
    );
  });
});

describeLdap('escaping round trips through slapd', () => {
  let slapd: Slapd;
  let pool: LdapPool;
  const people = 'ou=people,dc=example,dc=com';
  const groups = 'ou=groups,dc=example,dc=com';

  beforeAll(async () => {
    slapd = await Slapd.start();
    pool = poolFor(slapd);
    // Decoys that a broken escaper would match.
    for (const uid of ['victim', 'admin', 'a', 'b']) {
      await converge(
        ensureEntry(
          { base: people, attribute: 'uid', value: uid },
          {
            objectClass: 'inetOrgPerson',
            uid,
            cn: uid,
            sn: uid,
          },
        ),
        { ldap: pool },
      );
    }
  });
  afterAll(async () => {
    await pool?.close();
    await slapd?.destroy();
  });

  const storable = AWKWARD.filter((v) => !v.includes('\u0000'));

  it.each(storable)('the value %j round-trips as an RDN, an attribute and a filter value', async (value) => {
    const ctx = { ldap: pool };
    const dn = childDn('cn', value, people);
    const attrs = {
      objectClass: 'inetOrgPerson',
      cn: value,
      sn: value,
      uid: `u-${value}`,
      description: value,
    };
    const created = await converge(ensureEntry(dn, attrs), ctx);
    expect(created.diff?.action).toBe('create');
    expect(created.after).toBeUndefined();

    const read = await pool.read(dn, ['cn', 'sn', 'description']);
    expect(read).toBeDefined();
    expect(dnEquals(read?.dn ?? '', dn)).toBe(true);
    expect(parseDn(read?.dn ?? '')[0]).toEqual([
      { type: 'cn', value: value.trim() === value ? value : value },
    ]);
    expect(read?.attrs.description).toEqual([value]);

    // Found by its value (a filter object), and only it.
    const bySn = await pool.search(people, { filter: filter`(sn=${value})`, attributes: ['1.1'] });
    expect(bySn.map((e) => e.dn.toLowerCase())).toEqual([read?.dn.toLowerCase()]);
    const byUid = await pool.findOne(people, 'uid', `u-${value}`, ['cn']);
    expect(byUid?.attrs.cn).toEqual([value]);

    // As a member value of a group, compared as a DN on the rerun.
    const group = childDn('cn', `g ${value}`, groups);
    const member = await converge(ensureMember(group, dn), ctx);
    expect(member.after).toBeUndefined();
    const writes = slapd.writes();
    expect(await plan(ensureEntry(dn, attrs), ctx)).toBeUndefined();
    expect(await plan(ensureMember(group, read?.dn ?? ''), ctx)).toBeUndefined();
    expect(slapd.writes()).toBe(writes);
  });

  it('hostile key values match nothing extra', async () => {
    const hostile = ['*', '*)(uid=*', 'victim)(|(uid=*', 'a*', '*a*', '\\2a', 'admin)(objectClass=*'];
    for (const value of hostile) {
      expect(await pool.findOne(people, 'uid', value, ['1.1'])).toBeUndefined();
      expect(await pool.search(people, { filter: filter`(uid=${value})`, attributes: ['1.1'] })).toEqual([]);
      expect(
        await pool.search(people, {
          filter: filter`(&(objectClass=inetOrgPerson)(uid=${value}))`,
          attributes: ['1.1'],
        }),
      ).toEqual([]);
    }
    // An ensureEntry keyed by a hostile uid creates its own entry; the decoys are untouched.
    const writes = slapd.audit().length;
    const r = await converge(
      ensureEntry(
        { base: people, attribute: 'uid', value: '*)(uid=*' },
        {
          objectClass: 'inetOrgPerson',
          uid: '*)(uid=*',
          cn: 'hostile',
          sn: 'hostile',
        },
      ),
      { ldap: pool },
    );
    expect(r.diff?.action).toBe('create');
    const written = slapd.audit().slice(writes);
    expect(written.map((a) => a.op)).toEqual(['add']);
    expect(parseDn(written[0]?.dn ?? '')[0]).toEqual([{ type: 'uid', value: '*)(uid=*' }]);
    expect(await pool.findOne(people, 'uid', 'victim', ['1.1'])).toBeDefined();
  });
});
