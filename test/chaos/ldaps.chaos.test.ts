/**
 * `ldaps://` (and StartTLS) to a server whose certificate the client cannot verify
 * fails closed, for `npm run test:chaos` (issue 9).
 *
 * A private slapd serves TLS with a certificate signed by a throw-away, self-signed CA
 * (test/support/slapd.ts, `tls: true`). The provisioning task (the built CLI) runs
 * against it without that CA (refused: the message names the certificate problem, and
 * slapd saw no bind at all, so the password never left), then with
 * `IDEM_LDAP_CA_FILE` pointing at the CA (the run binds and writes its entry).
 *
 * Figures come from slapd: its operation log (`stats`) counts the binds that reached
 * it, a search of it counts the entries written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordsOf, runTask, writeUsers } from '../ldap/provision-support.ts';
import { describeLdap } from '../ldap/slapd-env.ts';
import { Slapd } from '../support/slapd.ts';
import { tempDir } from '../support/temp.ts';
import { chaosRow } from './support/table.ts';

/** Node's words for a certificate it cannot verify. */
const CERT_PROBLEM = /certificate|self[- ]signed|UNABLE_TO_VERIFY|SELF_SIGNED/i;

describeLdap('chaos: ldaps:// to a server with an unknown CA', () => {
  let slapd: Slapd;
  const dir = tempDir('chaos-ldaps-');
  beforeAll(async () => {
    slapd = await Slapd.start({ tls: true, stats: true });
  }, 60_000);
  afterAll(async () => {
    await slapd?.destroy();
  });

  /** Entries with this uid, read from slapd itself (StartTLS with the CA: simple binds need TLS there). */
  async function entries(uid: string): Promise<number> {
    const c = new Client({ url: slapd.url, timeout: 10_000 });
    try {
      await c.startTLS({ ca: readFileSync(slapd.caFile) });
      await c.bind(slapd.adminDn, slapd.adminPassword);
      return (await c.search(slapd.peopleDn, { filter: `(uid=${uid})`, attributes: ['1.1'] })).searchEntries
        .length;
    } finally {
      await c.unbind().catch(() => {});
    }
  }

  const cases = [
    {
      id: 'ldaps-noca',
      title: 'ldaps:// to an unknown CA, no CA given',
      url: () => slapd.ldapsUrl,
      ca: false,
    },
    { id: 'ldaps-ca', title: 'ldaps:// with IDEM_LDAP_CA_FILE', url: () => slapd.ldapsUrl, ca: true },
    {
      id: 'starttls-noca',
      title: 'StartTLS to an unknown CA, no CA given',
      url: () => slapd.url,
      ca: false,
      startTLS: true,
    },
    {
      id: 'starttls-ca',
      title: 'StartTLS with IDEM_LDAP_CA_FILE',
      url: () => slapd.url,
      ca: true,
      startTLS: true,
    },
  ];

  it('refused without the CA (no bind reaches the server), binds and writes with it', {
    timeout: 120_000,
  }, async () => {
    const broken: string[] = [];
    for (const c of cases) {
      const uid = c.id;
      const csv = writeUsers(join(dir, `${uid}.csv`), [
        {
          uid,
          givenName: 'Tls',
          sn: uid,
          mail: '',
          employeeNumber: '',
          department: '',
          groups: [],
        },
      ]);
      const before = (await slapd.operations()).BIND;
      const r = await runTask(['--state-dir', join(dir, `${uid}-state`), '--input', csv, '--json'], {
        ...slapd.env(),
        IDEM_LDAP_URL: c.url() as string,
        ...(c.ca ? { IDEM_LDAP_CA_FILE: slapd.caFile } : {}),
        ...(c.startTLS ? { IDEM_LDAP_STARTTLS: '1' } : {}),
      });
      // The marker search operations() sends binds nothing; the runs' binds are counted.
      const binds = (await slapd.operations()).BIND - before;
      const written = await entries(uid);
      const stderr = String(r.stderr);
      const leaked = `${stderr}${String(r.stdout)}`.includes(slapd.adminPassword);
      let ok: boolean;
      let bound: string;
      let result: string;
      if (c.ca) {
        const outcome = recordsOf(r.stdout).get(uid)?.outcome;
        ok = r.exitCode === 0 && outcome === 'changed' && binds >= 1 && written === 1;
        bound = 'binds, the entry written (1)';
        result = `exit ${r.exitCode}, ${outcome}, ${binds} bind(s) at slapd, ${written} entry`;
      } else {
        const names = CERT_PROBLEM.test(stderr);
        ok = r.exitCode !== 0 && binds === 0 && written === 0 && names && !leaked;
        bound = 'refused, 0 binds at slapd, 0 entries, the message names the certificate problem';
        result = `exit ${r.exitCode}, ${binds} binds at slapd, ${written} entries, message: ${stderr.trim().split('\n')[0]?.slice(0, 160)}`;
      }
      chaosRow({ test: c.title, count: 1, bound, result, ok });
      if (!ok) broken.push(`${c.id}: ${result}\n${stderr.slice(0, 2000)}`);
    }
    expect(broken).toEqual([]);
  });
});
