/**
 * A private OpenLDAP slapd for tests and `npm run ldap:dev`: its own temp dir,
 * mdb, suffix dc=example,dc=com, listening only on 127.0.0.1:<free port>,
 * stopped by its own pid. The system slapd service is never touched.
 *
 * Every successful write is appended to an audit log (the auditlog overlay), so
 * tests count writes at the server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'ldapts';

const TEST_TMP = resolve(import.meta.dirname, '..', '..', '.test-tmp');

export const SLAPD = process.env.IDEM_TEST_SLAPD ?? '/usr/sbin/slapd';
export const SLAPADD = process.env.IDEM_TEST_SLAPADD ?? '/usr/sbin/slapadd';
export const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];

export const BASE_DN = 'dc=example,dc=com';
export const ADMIN_DN = `cn=admin,${BASE_DN}`;
export const READER_DN = `cn=reader,${BASE_DN}`;
export const PEOPLE_DN = `ou=people,${BASE_DN}`;
export const GROUPS_DN = `ou=groups,${BASE_DN}`;

/** Whether a slapd can be started here, and why not. */
export function slapdAvailability(): { ok: true } | { ok: false; reason: string } {
  const missing = [SLAPD, SLAPADD, ...SCHEMAS.map((s) => join(SCHEMA_DIR, `${s}.schema`))].filter(
    (p) => !existsSync(p),
  );
  if (missing.length > 0)
    return { ok: false, reason: `missing ${missing.join(', ')} (apt-get install slapd ldap-utils)` };
  if (!existsSync(join(MODULE_DIR, 'back_mdb.so')) && !existsSync(join(MODULE_DIR, 'back_mdb.la'))) {
    return { ok: false, reason: `no back_mdb module in ${MODULE_DIR}` };
  }
  return { ok: true };
}

/** A free TCP port on 127.0.0.1 (there is a small race until slapd binds it; start retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface SlapdOptions {
  /** The rootdn password. @default 'admin-secret' */
  adminPassword?: string;
  /** The read-only account's password. @default 'reader-secret' */
  readerPassword?: string;
  /** Extra LDIF loaded with slapadd before the start. */
  ldif?: string;
  /**
   * Serve TLS with a throw-away CA (`caFile`): StartTLS on the ldap:// port and
   * ldaps:// on a second port. Simple binds then need TLS (`security simple_bind=64`).
   */
  tls?: boolean;
  /**
   * Count the operations the server receives (slapd's `stats` log level, read
   * from its stderr): see {@link Slapd.operations}. Off by default: logging costs
   * slapd time.
   */
  stats?: boolean;
  /**
   * Attributes whose values slapd keeps sorted (`sortvals`), e.g. `['member']`:
   * a modify that adds values to a group of N members then finds duplicates by
   * binary search instead of a scan. Off by default, as in a stock slapd.
   */
  sortvals?: string[];
}

/** Operations received by a server started with `stats: true`, by kind. */
export interface OperationCounts {
  BIND: number;
  SRCH: number;
  ADD: number;
  MOD: number;
  DEL: number;
  MODRDN: number;
  CMP: number;
  /** Entries returned by all searches. */
  entries: number;
}

const emptyCounts = (): OperationCounts => ({
  BIND: 0,
  SRCH: 0,
  ADD: 0,
  MOD: 0,
  DEL: 0,
  MODRDN: 0,
  CMP: 0,
  entries: 0,
});

/** One entry of the audit log: a successful write. */
export interface AuditRecord {
  op: string;
  dn: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class Slapd {
  private child: ChildProcess | undefined;
  private log = '';
  private stats = false;
  private counts = emptyCounts();
  private partial = '';
  private readonly synced = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly adminPassword: string,
    readonly readerPassword: string,
    /** The ldaps:// port when TLS is on. */
    readonly tlsPort: number | undefined,
  ) {}

  readonly baseDn = BASE_DN;
  readonly adminDn = ADMIN_DN;
  readonly readerDn = READER_DN;
  readonly peopleDn = PEOPLE_DN;
  readonly groupsDn = GROUPS_DN;

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** `ldaps://127.0.0.1:<tlsPort>` when TLS is on. */
  get ldapsUrl(): string | undefined {
    return this.tlsPort ? `ldaps://127.0.0.1:${this.tlsPort}` : undefined;
  }

  /** The CA certificate (PEM) that signed the server's certificate, when TLS is on. */
  get caFile(): string {
    return join(this.dir, 'ca.pem');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get auditFile(): string {
    return join(this.dir, 'audit.ldif');
  }

  /** Creates the instance (config, schemas, base entries) and starts it. */
  static async start(options: SlapdOptions = {}): Promise<Slapd> {
    const available = slapdAvailability();
    if (!available.ok) throw new Error(`cannot start slapd: ${available.reason}`);
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      // Under the repository's .test-tmp/ (git ignores it), never the system temp dir; destroy() removes it.
      mkdirSync(TEST_TMP, { recursive: true, mode: 0o700 });
      const dir = mkdtempSync(join(TEST_TMP, 'idem-slapd-'));
      const s = new Slapd(
        dir,
        await freePort(),
        options.adminPassword ?? 'admin-secret',
        options.readerPassword ?? 'reader-secret',
        options.tls ? await freePort() : undefined,
      );
      s.stats = options.stats === true;
      try {
        if (options.tls) s.makeCertificates();
        s.configure(options.ldif, options.sortvals);
        await s.resume();
        return s;
      } catch (err) {
        lastError = err;
        await s.stop();
        s.remove();
      }
    }
    throw lastError;
  }

  private makeCertificates(): void {
    const at = (f: string) => join(this.dir, f);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: this.dir });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=idem test CA',
    );
    writeFileSync(at('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at('server.key'),
      '-out',
      at('server.csr'),
      '-subj',
      '/CN=127.0.0.1',
    );
    openssl(
      'x509',
      '-req',
      '-in',
      at('server.csr'),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-out',
      at('server.pem'),
      '-days',
      '2',
      '-extfile',
      at('san.ext'),
    );
  }

  private configure(extraLdif: string | undefined, sortvals: string[] = []): void {
    const db = join(this.dir, 'db');
    mkdirSync(db);
    const tls = this.tlsPort
      ? [
          `TLSCACertificateFile ${this.caFile}`,
          `TLSCertificateFile ${join(this.dir, 'server.pem')}`,
          `TLSCertificateKeyFile ${join(this.dir, 'server.key')}`,
          'security simple_bind=64',
        ]
      : [];
    const conf = [
      ...SCHEMAS.map((s) => `include ${join(SCHEMA_DIR, `${s}.schema`)}`),
      `modulepath ${MODULE_DIR}`,
      'moduleload back_mdb',
      'moduleload auditlog',
      `pidfile ${join(this.dir, 'slapd.pid')}`,
      `argsfile ${join(this.dir, 'slapd.args')}`,
      ...tls,
      ...(sortvals.length > 0 ? [`sortvals ${sortvals.join(' ')}`] : []),
      'access to dn.base="" by * read',
      'access to dn.base="cn=Subschema" by * read',
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by users read by * none',
      'database mdb',
      'maxsize 268435456',
      'dbnosync',
      `suffix "${BASE_DN}"`,
      `rootdn "${ADMIN_DN}"`,
      `rootpw ${this.adminPassword}`,
      `directory ${db}`,
      'index objectClass eq',
      'index uid,cn,mail eq',
      'index member eq',
      'index entryUUID eq',
      'overlay auditlog',
      `auditlog ${this.auditFile}`,
    ];
    writeFileSync(join(this.dir, 'slapd.conf'), `${conf.join('\n')}\n`, { mode: 0o600 });
    const base = [
      `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
      `dn: ${PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people`,
      `dn: ${GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups`,
      `dn: ${READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: ${this.readerPassword}`,
    ].join('\n\n');
    const ldifPath = join(this.dir, 'base.ldif');
    writeFileSync(ldifPath, `${base}\n\n${extraLdif ?? ''}\n`);
    execFileSync(SLAPADD, ['-q', '-f', join(this.dir, 'slapd.conf'), '-l', ldifPath], { stdio: 'pipe' });
  }

  /** Starts (or restarts, on the same port and data) the server and waits until it answers. */
  async resume(): Promise<void> {
    if (this.child) return;
    const urls = [`${this.url}/`, ...(this.ldapsUrl ? [`${this.ldapsUrl}/`] : [])].join(' ');
    const level = this.stats ? '256' : '0';
    const child = spawn(SLAPD, ['-f', join(this.dir, 'slapd.conf'), '-h', urls, '-d', level], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    this.child = child;
    this.log = '';
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.log = (this.log + text).slice(-4000);
      if (this.stats) this.count(text);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited) throw new Error(`slapd exited at start: ${this.log.trim()}`);
      if (await this.answers()) return;
      if (Date.now() > deadline)
        throw new Error(`slapd did not answer on ${this.url} within 15s: ${this.log.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** True when the server answers a root DSE search. */
  async answers(): Promise<boolean> {
    const client = new Client({ url: this.url, timeout: 2000, connectTimeout: 1000 });
    try {
      await client.search('', { scope: 'base', attributes: ['1.1'] });
      return true;
    } catch {
      return false;
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  /** Stops the server by its own pid (SIGTERM, then SIGKILL after 10s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) {
      this.child = undefined;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.child = undefined;
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    this.remove();
  }

  private remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The successful writes so far, from the audit log. */
  audit(): AuditRecord[] {
    if (!existsSync(this.auditFile)) return [];
    const out: AuditRecord[] = [];
    const text = readFileSync(this.auditFile, 'utf8').replace(/\n /g, '');
    const re = /^# (add|modify|delete|modrdn) \d+ .*\ndn:(:?) ?(.*)$/gm;
    for (const m of text.matchAll(re)) {
      const dn = m[2] === ':' ? Buffer.from(m[3] ?? '', 'base64').toString('utf8') : (m[3] ?? '');
      out.push({ op: m[1] as string, dn });
    }
    return out;
  }

  private count(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const op = / op=\d+ (BIND|SRCH|ADD|MOD|DEL|MODRDN|CMP) (?:dn|base)="([^"]*)"/.exec(line);
      if (op?.[2]?.startsWith('cn=idem-sync-')) this.synced.add(op[2]);
      else if (op && (op[1] !== 'BIND' || line.includes(' method='))) {
        this.counts[op[1] as keyof OperationCounts]++;
      }
      const found = / SEARCH RESULT .*nentries=(\d+)/.exec(line);
      if (found) this.counts.entries += Number(found[1]);
    }
  }

  /**
   * The operations the server received so far (needs `stats: true`), once every
   * log line before this call has been read: it sends a marker search and waits
   * (bounded) until slapd logged it. The marker is not counted.
   */
  async operations(): Promise<OperationCounts> {
    if (!this.stats) throw new Error('operations() needs a slapd started with { stats: true }');
    const marker = `cn=idem-sync-${this.synced.size + 1}-${Date.now()},${BASE_DN}`;
    const client = new Client({ url: this.url, timeout: 5000, connectTimeout: 2000 });
    try {
      await client.search(marker, { scope: 'base', attributes: ['1.1'] }).catch(() => {});
    } finally {
      await client.unbind().catch(() => {});
    }
    const deadline = Date.now() + 15_000;
    while (!this.synced.has(marker)) {
      if (Date.now() > deadline) throw new Error(`slapd did not log the marker search ${marker} within 15s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { ...this.counts };
  }

  /** The number of successful writes so far. */
  writes(): number {
    return this.audit().length;
  }

  /** The `IDEM_LDAP_*` settings for a run against this server. */
  env(as: 'admin' | 'reader' = 'admin'): Record<string, string> {
    return {
      IDEM_LDAP_URL: this.url,
      IDEM_LDAP_BIND_DN: as === 'admin' ? ADMIN_DN : READER_DN,
      IDEM_LDAP_PASSWORD: as === 'admin' ? this.adminPassword : this.readerPassword,
      IDEM_LDAP_BASE: BASE_DN,
    };
  }

  /** The last lines slapd printed (for failure messages). */
  get output(): string {
    return this.log;
  }
}
