/**
 * The lean decoder of search result entries (lean-entries.ts) against ldapts's
 * own decoding, on the same entries read from a real slapd: binary values,
 * `;binary` and `;lang-` options, multi-valued and non-ASCII values, bytes that
 * are not UTF-8, a leading BOM, a referral in the searched subtree. Whatever
 * idem reads (`toLdapEntry`, the snapshot) must be the same both ways. And,
 * without a server, the message parser given raw messages: an entry with
 * controls, a reference, an entry that is not in the expected shape.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, BerWriter, Client, type Entry, type MessageParser } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LdapEntry, toLdapEntry } from '../../src/connectors/ldap/entry.ts';
import { SNAPSHOT_ATTRIBUTES } from '../../src/connectors/ldap/entry-index.ts';
import { decodeLeanEntries, LEAN_ENTRIES } from '../../src/connectors/ldap/lean-entries.ts';
import type { LdapPool } from '../../src/connectors/ldap/pool.ts';
import type { Slapd } from '../support/slapd.ts';
import { Slapd as SlapdServer } from '../support/slapd.ts';
import { tempDir } from '../support/temp.ts';
import { collect, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

const base = 'ou=lean,dc=example,dc=com';
const NOT_UTF8 = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x41]);

/** A throw-away certificate (DER): slapd checks a `userCertificate` value's syntax. */
let der: Buffer | undefined;
function certificate(): Buffer {
  if (!der) {
    const dir = tempDir('idem-lean-');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=lean',
        '-days',
        '1',
        '-outform',
        'DER',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.der'),
      ],
      { stdio: 'pipe' },
    );
    der = readFileSync(join(dir, 'cert.der'));
  }
  return der;
}

/** Every value as the string idem makes of it, keys sorted: what the two decodings must agree on. */
function canonical(entries: LdapEntry[]): LdapEntry[] {
  return entries
    .map((e) => ({
      dn: e.dn,
      attrs: Object.fromEntries(Object.entries(e.attrs).sort(([a], [b]) => (a < b ? -1 : 1))),
    }))
    .sort((a, b) => (a.dn < b.dn ? -1 : 1));
}

describeLdap('lean search entries, against slapd', () => {
  let slapd: Slapd;
  let admin: LdapPool;

  const addRaw = (dn: string, attrs: Record<string, (string | Buffer)[]>) =>
    admin.use(
      (c) =>
        c.add(
          dn,
          Object.entries(attrs).map(([type, values]) => new Attribute({ type, values: values as string[] })),
        ),
      { operation: 'add', dn },
    );

  /** The same search decoded by ldapts alone (a client without the hook). */
  async function plainSearch(attributes: string[]): Promise<{ entries: Entry[]; references: string[] }> {
    const client = new Client({ url: slapd.url });
    try {
      await client.bind(slapd.adminDn, slapd.adminPassword);
      const r = await client.search(base, { scope: 'sub', attributes });
      return { entries: r.searchEntries, references: r.searchReferences };
    } finally {
      await client.unbind();
    }
  }

  beforeAll(async () => {
    slapd = await SlapdServer.start();
    admin = poolFor(slapd);
    await admin.add(base, { objectClass: ['organizationalUnit'], ou: ['lean'] });
    await addRaw(`uid=plain,${base}`, {
      objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
      uid: ['plain'],
      cn: ['Plain Person'],
      sn: ['Person'],
      mail: ['plain@example.com'],
    });
    await addRaw(`uid=zoe,${base}`, {
      objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
      uid: ['zoe'],
      cn: ['Zoë Ångström', 'Zoe Angstrom', '日本語の名前'],
      'cn;lang-de': ['Zoë auf Deutsch'],
      sn: ['Ångström'],
      description: [
        '\uFEFFstarts with a BOM',
        'holds \uFFFD, a replacement character',
        ''.padEnd(300, 'long '),
      ],
      'userCertificate;binary': [certificate()],
      jpegPhoto: [NOT_UTF8],
      audio: [Buffer.from('valid UTF-8 in a binary attribute: é')],
      mobile: ['+1 555 0100', '+1 555 0101'],
    });
    // A referral in the searched subtree: slapd answers with a SearchResultReference.
    await addRaw(`ou=elsewhere,${base}`, {
      objectClass: ['referral', 'extensibleObject'],
      ou: ['elsewhere'],
      ref: ['ldap://other.example.com/ou=elsewhere,dc=example,dc=com'],
    });
  });
  afterAll(async () => {
    await admin?.close();
    await slapd?.destroy();
  });

  it('reads every entry the way ldapts does, value for value, once idem has made strings of them', async () => {
    for (const attributes of [['*'], SNAPSHOT_ATTRIBUTES, ['cn', 'jpegPhoto', 'nonexistent'], ['*', '+']]) {
      const plain = await plainSearch(attributes);
      expect(plain.references).toHaveLength(1); // the referral is there, and not an entry
      const lean = (await collect(admin.searchRawPages(base, { scope: 'sub', attributes }))).flat();
      expect(canonical(lean.map(toLdapEntry))).toEqual(canonical(plain.entries.map(toLdapEntry)));
      expect(lean.map((e) => e.dn).sort()).toEqual(plain.entries.map((e) => e.dn).sort());
    }
  });

  it('gives the same keys as ldapts (attribute types as sent, `[]` for requested attributes an entry lacks), every value a string', async () => {
    const attributes = ['cn', 'jpegPhoto', 'nonexistent', 'CN'];
    const plain = await plainSearch(attributes);
    const lean = (await collect(admin.searchRawPages(base, { scope: 'sub', attributes }))).flat();
    const byDn = (list: Entry[]) => new Map(list.map((e) => [e.dn, e]));
    const leanByDn = byDn(lean);
    for (const p of plain.entries) {
      const l = leanByDn.get(p.dn);
      expect(Object.keys(l ?? {}).sort()).toEqual(Object.keys(p).sort());
      for (const [k, v] of Object.entries(l ?? {})) {
        for (const value of Array.isArray(v) ? v : [v]) expect(typeof value).toBe('string');
        const want = p[k];
        const asStrings = (x: unknown) =>
          (Array.isArray(x) ? x : [x]).map((y) => (Buffer.isBuffer(y) ? y.toString('utf8') : y));
        expect(asStrings(v)).toEqual(asStrings(want));
      }
    }
    // The lean path was taken: ldapts itself gives the photo as a Buffer.
    const zoe = plain.entries.find((e) => e.dn.startsWith('uid=zoe'));
    expect(Buffer.isBuffer(zoe?.jpegPhoto)).toBe(true);
    expect(typeof leanByDn.get(zoe?.dn as string)?.jpegPhoto).toBe('string');
  });

  it('drops a leading BOM from a valid UTF-8 value as ldapts does, keeps the rest exactly', async () => {
    const [page] = await collect(admin.searchRawPages(`uid=zoe,${base}`, { scope: 'base' }));
    const zoe = toLdapEntry(page?.[0] as Entry);
    expect(zoe.attrs.description).toContain('starts with a BOM');
    expect(zoe.attrs.description).toContain('holds \uFFFD, a replacement character');
    expect(zoe.attrs.cn).toEqual(['Zoë Ångström', 'Zoe Angstrom', '日本語の名前']);
    expect(zoe.attrs['cn;lang-de']).toEqual(['Zoë auf Deutsch']);
    expect(zoe.attrs.usercertificate).toEqual([certificate().toString('utf8')]);
    expect(zoe.attrs.jpegphoto).toEqual([NOT_UTF8.toString('utf8')]);
  });
});

/** One LDAPMessage: messageId, a protocol operation with `content` written by `op`, optional controls. */
function message(
  id: number,
  tag: number,
  op: (w: BerWriter) => void,
  controls?: (w: BerWriter) => void,
): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(id);
  w.startSequence(tag);
  op(w);
  w.endSequence();
  if (controls) {
    w.startSequence(0xa0);
    controls(w);
    w.endSequence();
  }
  w.endSequence();
  return w.buffer;
}

function entryContent(dn: string, attrs: [string, (string | Buffer)[]][]) {
  return (w: BerWriter) => {
    w.writeString(dn);
    w.startSequence();
    for (const [type, values] of attrs) {
      w.startSequence();
      w.writeString(type);
      w.startSequence(0x31);
      for (const v of values) {
        if (Buffer.isBuffer(v)) w.writeBuffer(v, 0x04);
        else w.writeString(v);
      }
      w.endSequence();
      w.endSequence();
    }
    w.endSequence();
  };
}

describe('lean search entries, message by message', () => {
  /** A parser hooked as a connection's is, and the messages it emits for a search request marked lean (or not). */
  function parse(buffers: Buffer[], lean = true): { messages: unknown[]; errors: unknown[] } {
    const client = new Client({ url: 'ldap://127.0.0.1:1' });
    decodeLeanEntries(client);
    const parser = (client as unknown as { messageParser: MessageParser }).messageParser;
    const messages: unknown[] = [];
    const errors: unknown[] = [];
    parser.removeAllListeners();
    parser.on('message', (m) => messages.push(m));
    parser.on('error', (e) => errors.push(e));
    const request = { message: { explicitBufferAttributes: lean ? LEAN_ENTRIES : [] } };
    const details = new Map([['7', request]]) as unknown as Map<string, { message: never }>;
    for (const b of buffers) parser.read(b, details);
    return { messages, errors };
  }
  const entryOf = (m: unknown) =>
    (m as { toObject(a: string[], b: string[]): Entry }).toObject(['cn', 'missing'], LEAN_ENTRIES);

  const attrs: [string, (string | Buffer)[]][] = [
    ['cn', ['Zoë', 'second']],
    ['sn', ['Å']],
    ['jpegPhoto', [NOT_UTF8]],
    // A ;binary value that is valid UTF-8 and starts with a BOM: ldapts keeps its bytes (the BOM too).
    ['x-cert;binary', [Buffer.from('\uFEFFbom')]],
    // A value that is not UTF-8 makes ldapts give the whole attribute as Buffers: the BOM of the other one stays.
    ['description', [Buffer.from('\uFEFFkept'), NOT_UTF8]],
  ];

  it('decodes an entry with controls after it, the controls ignored, as ldapts does', () => {
    const bytes = message(7, 0x64, entryContent('uid=a,dc=x', attrs), (w) => {
      w.startSequence();
      w.writeString('1.2.3.4');
      w.writeBoolean(false);
      w.writeString('opaque');
      w.endSequence();
    });
    const lean = parse([bytes]);
    const plain = parse([bytes], false);
    expect(lean.errors).toEqual([]);
    expect(plain.errors).toEqual([]);
    const l = entryOf(lean.messages[0]);
    const p = entryOf(plain.messages[0]);
    expect(l).toEqual({
      dn: 'uid=a,dc=x',
      cn: ['Zoë', 'second'],
      sn: 'Å',
      jpegPhoto: NOT_UTF8.toString(),
      'x-cert;binary': '\uFEFFbom',
      description: ['\uFEFFkept', NOT_UTF8.toString()],
      missing: [],
    });
    expect(toLdapEntry(l)).toEqual(toLdapEntry(p));
  });

  it('decodes entries split across reads and several in one read; a reference goes through ldapts', () => {
    const one = message(7, 0x64, entryContent('uid=a,dc=x', attrs));
    const two = message(7, 0x64, entryContent('uid=b,dc=x', [['cn', ['b']]]));
    const ref = message(7, 0x73, (w) => w.writeString('ldap://other/dc=x'));
    const all = Buffer.concat([one, two, ref]);
    const { messages, errors } = parse([
      all.subarray(0, 5),
      all.subarray(5, one.length + 3),
      all.subarray(one.length + 3),
    ]);
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(3);
    expect(entryOf(messages[1]).cn).toBe('b');
    expect((messages[2] as { uris: string[] }).uris).toEqual(['ldap://other/dc=x']);
  });

  it('leaves an entry that is not in the expected shape to ldapts (the same result or the same error)', () => {
    // The attribute list's SET holds an INTEGER: not an OCTET STRING.
    const odd = message(7, 0x64, (w) => {
      w.writeString('uid=odd,dc=x');
      w.startSequence();
      w.startSequence();
      w.writeString('cn');
      w.startSequence(0x31);
      w.writeInt(5);
      w.endSequence();
      w.endSequence();
      w.endSequence();
    });
    const lean = parse([odd]);
    const plain = parse([odd], false);
    expect(lean.messages.length).toBe(plain.messages.length);
    expect(lean.errors.map(String)).toEqual(plain.errors.map(String));
  });
});
