/**
 * Connections: TLS verification (StartTLS before the bind, ldaps), the insecure
 * option's warning, the pool's size, pipelining and coalesced writes, rebinding
 * after a restart, and timeouts.
 */

/**
 * `n` adds and reads of distinct entries, all started in one tick on `pool`:
 * each read must return its own entry (answers matched to their requests).
 */
async function pipelined(pool: LdapPool, tag: string, n: number): Promise<void> {
  const dn = (i: number) => `uid=${tag}-${i},ou=people,dc=example,dc=com`;
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      pool.add(dn(i), { objectClass: ['inetOrgPerson'], uid: [`${tag}-${i}`], cn: [`c${i}`], sn: [`s${i}`] }),
    ),
  );
  const read = await Promise.all(Array.from({ length: n }, (_, i) => pool.read(dn(i), ['cn'])));
  expect(read.map((e) => e?.attrs.cn?.[0])).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
}

describe('coalesceWrites', () => {
  it('sends the writes of one tick in one writev, in order; the next tick writes again', async () => {
    const got: Buffer[] = [];
    const server = createServer((s) => s.on('data', (d) => got.push(d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const socket = coalesceWrites(new Socket().connect({ port, host: '127.0.0.1' }));
    await new Promise((r) => socket.once('connect', r));
    const calls: number[] = [];
    type Fn = (...args: unknown[]) => unknown;
    const proto = Object.getPrototypeOf(socket) as { _writev: Fn; _write: Fn };
    Object.assign(socket, {
      _writev(chunks: unknown[], cb: () => void) {
        calls.push(chunks.length);
        return proto._writev.call(socket, chunks, cb);
      },
      _write(chunk: unknown, enc: string, cb: () => void) {
        calls.push(1);
        return proto._write.call(socket, chunk, enc, cb);
      },
    });
    for (const c of ['a', 'b', 'c', 'd']) socket.write(c);
    await new Promise((r) => setImmediate(r));
    socket.write('e');
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([4, 1]);
    socket.end();
    await new Promise((r) => server.close(r));
    expect(Buffer.concat(got).toString()).toBe('abcde');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv, type LdapConfig } from '../../src/connectors/ldap/config.ts';
import { connect, MAX_POOL } from '../../src/connectors/ldap/connect.ts';
import { coalesceWrites } from '../../src/connectors/ldap/connection.ts';
import { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { Slapd } from '../support/slapd.ts';
import { until } from '../support/wait.ts';
import { DropProxy } from './drop-proxy.ts';
import { failure, fakeSetup, poolFor } from './helpers.ts';
import { describeLdap } from './slapd-env.ts';

describe('ldap.configFromEnv', () => {
  it('reads the IDEM_LDAP_* settings and declares the password secret', () => {
    const secrets: string[] = [];
    const setup = fakeSetup({
      env: {
        IDEM_LDAP_URL: 'ldap://127.0.0.1:1389',
        IDEM_LDAP_BIND_DN: 'cn=admin,dc=example,dc=com',
        IDEM_LDAP_BASE: 'dc=example,dc=com',
        IDEM_LDAP_STARTTLS: 'true',
        IDEM_LDAP_TIMEOUT_MS: '2500',
      },
      readSecret: (from) => {
        expect(from).toEqual({ env: 'IDEM_LDAP_PASSWORD', fileEnv: 'IDEM_LDAP_PASSWORD_FILE' });
        secrets.push('pw');
        return 'pw';
      },
    });
    const config = configFromEnv(setup);
    expect(config).toEqual({
      url: 'ldap://127.0.0.1:1389',
      base: 'dc=example,dc=com',
      bindDn: 'cn=admin,dc=example,dc=com',
      password: 'pw',
      startTLS: true,
      timeoutMs: 2500,
    });
    expect(secrets).toEqual(['pw']);
  });

  it('names what is missing or malformed', () => {
    expect(() => configFromEnv(fakeSetup({ env: {} }))).toThrow(
      /set IDEM_LDAP_URL, IDEM_LDAP_BASE, IDEM_LDAP_BIND_DN, IDEM_LDAP_PASSWORD or IDEM_LDAP_PASSWORD_FILE/,
    );
    expect(() =>
      configFromEnv(
        fakeSetup({
          env: { IDEM_LDAP_URL: 'ldap://x', IDEM_LDAP_BASE: 'dc=x', IDEM_LDAP_TIMEOUT_MS: 'soon' },
        }),
      ),
    ).toThrow(/IDEM_LDAP_TIMEOUT_MS must be a positive number/);
  });
});

/**
 * Waits until every thread of `pid` is stopped: SIGSTOP is sent at once, but a thread busy
 * on another CPU stops a moment later, and could still answer a request sent meanwhile.
 */
async function stoppedForReal(pid: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = readdirSync(`/proc/${pid}/task`).map(
      (t) => readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\) /s, '')[0],
    );
    if (states.every((st) => st === 'T' || st === 't')) return;
    if (Date.now() > deadline) throw new Error(`slapd ${pid} did not stop: thread states ${states.join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describeLdap('TLS against slapd', () => {
  let slapd: Slapd;
  let ca: Buffer;
  beforeAll(async () => {
    slapd = await Slapd.start({ tls: true });
    ca = readFileSync(slapd.caFile);
  });
  afterAll(async () => {
    await slapd?.destroy();
  });
  const creds = () => ({ bindDn: slapd.adminDn, password: slapd.adminPassword, timeoutMs: 5000 });

  it('pipelined requests over StartTLS and ldaps: each answer goes to its own request', async () => {
    for (const [tag, config] of [
      ['starttls', { url: slapd.url, startTLS: true }],
      ['ldaps', { url: slapd.ldapsUrl as string }],
    ] as [string, Partial<LdapConfig>][]) {
      const pool = new LdapPool({ ...config, tls: { ca }, ...creds() } as LdapConfig, 1);
      try {
        await pipelined(pool, tag, 60);
      } finally {
        await pool.close();
      }
    }
  });

  it('StartTLS verifies the certificate and happens before the bind', async () => {
    const setup = fakeSetup();
    const pool = await connect(setup, { url: slapd.url, startTLS: true, tls: { ca }, ...creds() });
    expect(await pool.read('ou=people,dc=example,dc=com', ['ou'])).toBeDefined();
    expect(setup.warnings).toEqual([]);
    await setup.close();
    // This server refuses simple binds without TLS: a bind before StartTLS would fail like this.
    const plain = await failure(connect(fakeSetup(), { url: slapd.url, ...creds() }));
    expect(plain.code).toBe(13);
    expect(plain.kind).toBe('permanent');
  });

  it('an untrusted certificate fails permanently, without sending the password', async () => {
    const err = await failure(connect(fakeSetup(), { url: slapd.url, startTLS: true, ...creds() }));
    expect(err.operation).toBe('startTLS');
    expect(err.kind).toBe('permanent');
    expect(err.message).toMatch(/certificate/);
    const ldaps = await failure(connect(fakeSetup(), { url: slapd.ldapsUrl as string, ...creds() }));
    expect(ldaps.kind).toBe('permanent');
    expect(ldaps.message).toMatch(/certificate/);
  });

  it('ldaps:// with the CA works; the explicit insecure option works and warns', async () => {
    const ok = fakeSetup();
    await connect(ok, { url: slapd.ldapsUrl as string, tls: { ca }, ...creds() });
    expect(ok.warnings).toEqual([]);
    await ok.close();
    const insecure = fakeSetup();
    await connect(insecure, { url: slapd.url, startTLS: true, tls: { insecure: true }, ...creds() });
    expect(insecure.warnings).toHaveLength(1);
    expect(insecure.warnings[0]).toMatch(/certificate verification is OFF/);
    await insecure.close();
  });
});

describeLdap('the pool against slapd', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await Slapd.start();
  });
  afterAll(async () => {
    await slapd?.destroy();
  });

  it('opens at most `size` connections, all to the same server', async () => {
    const proxy = new DropProxy(slapd.port);
    await proxy.start();
    const pool = poolFor(slapd, { url: proxy.url, poolSize: 3 });
    try {
      const reads = Array.from({ length: 40 }, () => pool.read('ou=people,dc=example,dc=com', ['ou']));
      const results = await Promise.all(reads);
      expect(results.every((r) => r?.attrs.ou?.[0] === 'people')).toBe(true);
      expect(proxy.connections).toBe(3);
      expect(pool.size).toBe(3);
    } finally {
      await pool.close();
      await proxy.stop();
    }
  });

  it('pipelines on a busy connection: one connection carries many requests at once', async () => {
    const proxy = new DropProxy(slapd.port);
    await proxy.start();
    const pool = poolFor(slapd, { url: proxy.url, poolSize: 1 });
    try {
      await pipelined(pool, 'pipe', 100);
      expect(proxy.connections).toBe(1);
      // Proof that they are in flight together: the first read's answer is held back for
      // ever, and the nine after it still go out on the same connection and are answered.
      const before = proxy.sent('search').length;
      proxy.inject({ op: 'search', action: { kind: 'stall' } });
      const reads = Array.from({ length: 10 }, () => pool.read('ou=people,dc=example,dc=com', ['ou']));
      const stalled = reads[0]?.catch((err: unknown) => err);
      await until(
        '10 reads sent while the first is unanswered',
        () => proxy.sent('search').length >= before + 10,
      );
      const rest = await Promise.all(reads.slice(1));
      expect(rest.every((r) => r?.attrs.ou?.[0] === 'people')).toBe(true);
      expect(proxy.connections).toBe(1);
      await pool.close();
      await stalled;
    } finally {
      await pool.close();
      await proxy.stop();
    }
  });

  it('a paged search has its connection to itself while other requests go on', async () => {
    const pool = poolFor(slapd, { poolSize: 2 });
    try {
      await pipelined(pool, 'paged', 30);
      const reads = Array.from({ length: 30 }, () => pool.read('ou=people,dc=example,dc=com', ['ou']));
      const pages: number[] = [];
      for await (const page of pool.searchPages('ou=people,dc=example,dc=com', {
        scope: 'one',
        filter: '(uid=paged-*)',
        attributes: ['uid'],
        pageSize: 7,
      })) {
        pages.push(page.length);
        reads.push(pool.read('ou=people,dc=example,dc=com', ['ou']));
      }
      expect(pages).toEqual([7, 7, 7, 7, 2]);
      expect((await Promise.all(reads)).every((r) => r?.attrs.ou?.[0] === 'people')).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('a paged search keeps its connection: with one connection, a read asked for between its pages waits for its end', async () => {
    const pool = poolFor(slapd, { poolSize: 1 });
    try {
      await pipelined(pool, 'alone', 12);
      let searching = true;
      let early = 0;
      const reads: Promise<unknown>[] = [];
      const pages: number[] = [];
      for await (const page of pool.searchPages('ou=people,dc=example,dc=com', {
        scope: 'one',
        filter: '(uid=alone-*)',
        attributes: ['uid'],
        pageSize: 5,
      })) {
        pages.push(page.length);
        reads.push(
          pool.read('ou=people,dc=example,dc=com', ['ou']).then(() => {
            if (searching) early++;
          }),
        );
        // Turns of the event loop in which a read on a shared connection would be answered.
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      }
      searching = false;
      await Promise.all(reads);
      expect(pages).toEqual([5, 5, 2]);
      expect(early).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('a paged search reads one page ahead: all pages in order, and a caller that stops early leaves its one connection clean for the next request', async () => {
    const pool = poolFor(slapd, { poolSize: 1 });
    try {
      await pipelined(pool, 'ahead', 23);
      const spec = { scope: 'one' as const, filter: '(uid=ahead-*)', attributes: ['uid'], pageSize: 5 };
      const uids: string[] = [];
      for await (const page of pool.searchPages('ou=people,dc=example,dc=com', spec)) {
        uids.push(...page.map((e) => e.attrs.uid?.[0] as string));
      }
      expect(uids.sort()).toEqual(Array.from({ length: 23 }, (_, i) => `ahead-${i}`).sort());
      for await (const page of pool.searchPages('ou=people,dc=example,dc=com', spec)) {
        expect(page).toHaveLength(5);
        break; // the second page was asked for already
      }
      expect((await pool.read('ou=people,dc=example,dc=com', ['ou']))?.attrs.ou).toEqual(['people']);
      const again = await pool.search('ou=people,dc=example,dc=com', spec);
      expect(again).toHaveLength(23);
    } finally {
      await pool.close();
    }
  });

  it('ldap.connect sizes the pool by --concurrency and closes it on cleanup', async () => {
    const setup = fakeSetup({ concurrency: 7 });
    const pool = await connect(setup, {
      url: slapd.url,
      bindDn: slapd.adminDn,
      password: slapd.adminPassword,
    });
    expect(pool.size).toBe(Math.min(7, MAX_POOL));
    await setup.close();
    expect((await failure(pool.read('dc=example,dc=com'))).message).toMatch(/closed/);
  });

  it('rebinds after the server restarts (a dropped connection is replaced, bound again)', async () => {
    const pool = poolFor(slapd, { poolSize: 1 });
    try {
      expect(await pool.read('cn=reader,dc=example,dc=com', ['cn'])).toBeDefined();
      await slapd.stop();
      const down = await failure(pool.read('cn=reader,dc=example,dc=com', ['cn']));
      expect(down.kind).toBe('transient');
      expect(down.message).toMatch(/server unreachable|connection lost/);
      await slapd.resume();
      // Anonymous reads see nothing here (ACL `by * none`): finding the entry proves the new connection bound.
      expect((await pool.read('cn=reader,dc=example,dc=com', ['cn']))?.attrs.cn).toEqual(['reader']);
      await pool.add('uid=after-restart,ou=people,dc=example,dc=com', {
        objectClass: ['inetOrgPerson'],
        uid: ['after-restart'],
        cn: ['x'],
        sn: ['x'],
      });
    } finally {
      await pool.close();
    }
  });

  it('a server that stops answering: reads time out as transient, writes as ambiguous; then it recovers', async () => {
    const pool = poolFor(slapd, { poolSize: 1, timeoutMs: 700 });
    try {
      await pool.verify();
      process.kill(slapd.pid as number, 'SIGSTOP');
      try {
        await stoppedForReal(slapd.pid as number);
        // On the bound connection: the request goes out, the answer never comes.
        const write = await failure(
          pool.modify('ou=people,dc=example,dc=com', [
            { op: 'replace', attribute: 'description', values: ['t'] },
          ]),
        );
        expect(write.kind).toBe('ambiguous');
        expect(write.message).toMatch(
          /ldap modify ou=people,dc=example,dc=com \[description\]: .*may or may not have been applied/,
        );
        // The timed-out connection is gone; the next one cannot even bind: nothing was sent, transient.
        const read = await failure(pool.read('dc=example,dc=com', ['dc']));
        expect(read.kind).toBe('transient');
      } finally {
        process.kill(slapd.pid as number, 'SIGCONT');
      }
      expect((await pool.read('dc=example,dc=com', ['dc']))?.attrs.dc).toEqual(['example']);
    } finally {
      await pool.close();
    }
  });

  it('a pool against a closed port fails transient at once', async () => {
    const pool = new LdapPool(
      { url: 'ldap://127.0.0.1:1', bindDn: 'cn=x', password: 'y', connectTimeoutMs: 1000 },
      1,
    );
    const err = await failure(pool.verify());
    expect(err.kind).toBe('transient');
    expect(err.code).toBe('ECONNREFUSED');
    await pool.close();
  });
});
