/**
 * A small pool of bound connections to one server. Every connection of a pool
 * goes to the same address for the whole run (the host name is resolved once),
 * since check-then-act across replicas is unsafe. A connection that dropped is
 * replaced by a fresh one that binds again.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Attribute, Change, type Client, type Control, type Filter } from 'ldapts';
import type { LdapConfig } from './config.ts';
import { LdapConnection, type PinnedServer } from './connection.ts';
import { ASSERTION_OID, PERMISSIVE_MODIFY_OID } from './controls.ts';
import { canonicalDn } from './dn.ts';
import { type LdapEntry, toLdapEntry } from './entry.ts';
import { LdapError, type LdapOperation, toLdapError } from './errors.ts';
import { eq } from './filter.ts';

/** One change of a modify request. */
export interface Modification {
  op: 'add' | 'delete' | 'replace';
  attribute: string;
  /** For `delete`, an empty list removes the whole attribute. */
  values: string[];
}

/** Search options for {@link LdapPool.search}. */
export interface SearchSpec {
  scope?: 'base' | 'one' | 'sub';
  filter?: Filter | string;
  /** Attributes to return; `['1.1']` for none. @default ['*'] */
  attributes?: string[];
  /** Page size for paged searches. @default 500 */
  pageSize?: number;
}

/** What the root DSE says about the server. */
export interface RootDse {
  supportedControl: string[];
  supportedExtension: string[];
  namingContexts: string[];
  vendorVersion?: string;
}

function pinTarget(url: string): { host: string; port: number; secure: boolean } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LdapError(
      'permanent',
      'connect',
      url,
      `"${url}" is not an LDAP URL (ldap://host:port or ldaps://host:port)`,
    );
  }
  const secure = parsed.protocol === 'ldaps:';
  if (!secure && parsed.protocol !== 'ldap:') {
    throw new LdapError(
      'permanent',
      'connect',
      url,
      `"${url}" is not an LDAP URL (ldap://host:port or ldaps://host:port)`,
    );
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost';
  return { host, port: parsed.port ? Number(parsed.port) : secure ? 636 : 389, secure };
}

/**
 * The connection pool steps use as `ctx.ldap`. Made by {@link connectLdap}.
 *
 * @example
 * const pool = new LdapPool({ url: 'ldap://127.0.0.1:389', bindDn, password }, 4);
 * const people = await pool.search('ou=people,dc=example,dc=com', { scope: 'one', attributes: ['uid'] });
 */
export class LdapPool {
  private readonly idle: LdapConnection[] = [];
  private readonly waiters: ((c: LdapConnection | Error) => void)[] = [];
  private open = 0;
  private closed = false;
  private server: Promise<PinnedServer> | undefined;
  private dse: Promise<RootDse> | undefined;

  constructor(
    readonly config: LdapConfig,
    readonly size: number = config.poolSize ?? 4,
  ) {
    pinTarget(config.url);
  }

  /** The DN the pool binds as (`undefined` for anonymous). */
  get bindDn(): string | undefined {
    return this.config.bindDn;
  }

  /** The server every connection uses, resolved once. */
  pinnedServer(): Promise<PinnedServer> {
    this.server ??= (async () => {
      const target = pinTarget(this.config.url);
      const address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
      return { ...target, address };
    })().catch((err) => {
      this.server = undefined;
      throw toLdapError(err, { operation: 'connect', dn: this.config.url });
    });
    return this.server;
  }

  private async create(): Promise<LdapConnection> {
    const conn = new LdapConnection(this.config, await this.pinnedServer());
    try {
      await conn.open();
    } catch (err) {
      await conn.close();
      throw err;
    }
    return conn;
  }

  private async acquire(): Promise<LdapConnection> {
    if (this.closed) throw new LdapError('permanent', 'connect', this.config.url, 'the LDAP pool is closed');
    while (this.idle.length > 0) {
      const conn = this.idle.pop() as LdapConnection;
      if (conn.usable) return conn;
      this.open--;
      await conn.close();
    }
    if (this.open < this.size) {
      this.open++;
      try {
        return await this.create();
      } catch (err) {
        this.open--;
        this.wakeOne();
        throw err;
      }
    }
    const next = await new Promise<LdapConnection | Error>((resolve) => this.waiters.push(resolve));
    if (next instanceof Error) throw next;
    return next;
  }

  private wakeOne(): void {
    const waiter = this.waiters.shift();
    if (!waiter) return;
    this.acquire().then(waiter, (err: Error) => waiter(err));
  }

  private release(conn: LdapConnection): void {
    if (this.closed || !conn.usable) {
      this.open--;
      void conn.close();
      if (!this.closed) this.wakeOne();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(conn);
    else this.idle.push(conn);
  }

  /**
   * Runs `fn` with a bound connection of the pool. Errors are wrapped into
   * {@link LdapError}s naming the operation and DN.
   */
  async use<T>(
    fn: (client: Client) => Promise<T>,
    context: { operation: LdapOperation; dn: string; attributes?: string[]; write?: boolean },
  ): Promise<T> {
    const conn = await this.acquire();
    try {
      return await fn(conn.client);
    } catch (err) {
      throw toLdapError(err, { ...context, ...(this.bindDn ? { bindDn: this.bindDn } : {}) });
    } finally {
      this.release(conn);
    }
  }

  /** Opens one connection now (checks the URL, TLS and the bind) and reads the root DSE. */
  async verify(): Promise<RootDse> {
    const conn = await this.acquire();
    this.release(conn);
    return this.rootDse();
  }

  /** Reads the root DSE once per pool. */
  rootDse(): Promise<RootDse> {
    this.dse ??= this.use(
      async (client) => {
        const { searchEntries } = await client.search('', {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: ['supportedControl', 'supportedExtension', 'namingContexts', 'vendorVersion'],
        });
        const e = searchEntries[0] ? toLdapEntry(searchEntries[0]) : { dn: '', attrs: {} };
        return {
          supportedControl: e.attrs.supportedcontrol ?? [],
          supportedExtension: e.attrs.supportedextension ?? [],
          namingContexts: e.attrs.namingcontexts ?? [],
          ...(e.attrs.vendorversion?.[0] ? { vendorVersion: e.attrs.vendorversion[0] } : {}),
        };
      },
      { operation: 'search', dn: '' },
    ).catch((err) => {
      this.dse = undefined;
      throw err;
    });
    return this.dse;
  }

  /** True when the root DSE lists the control. */
  async supportsControl(oid: string): Promise<boolean> {
    return (await this.rootDse()).supportedControl.includes(oid);
  }

  /** Whether value adds/deletes go with Permissive Modify (see {@link LdapConfig.permissiveModify}). */
  async usePermissiveModify(): Promise<boolean> {
    const mode = this.config.permissiveModify ?? 'auto';
    if (mode !== 'auto') return mode === 'always';
    return this.supportsControl(PERMISSIVE_MODIFY_OID);
  }

  /** Whether writes can be made conditional with the Assertion control. */
  async supportsAssertion(): Promise<boolean> {
    return this.supportsControl(ASSERTION_OID);
  }

  /** Searches, paging through the results. */
  async search(base: string, spec: SearchSpec = {}): Promise<LdapEntry[]> {
    const out: LdapEntry[] = [];
    for await (const page of this.searchPages(base, spec)) out.push(...page);
    return out;
  }

  /** Searches page by page (constant memory for large results). */
  async *searchPages(base: string, spec: SearchSpec = {}): AsyncIterable<LdapEntry[]> {
    const options = {
      scope: spec.scope ?? 'sub',
      ...(spec.filter !== undefined ? { filter: spec.filter } : {}),
      attributes: spec.attributes ?? ['*'],
    };
    if (options.scope === 'base') {
      yield await this.use(async (c) => (await c.search(base, options)).searchEntries.map(toLdapEntry), {
        operation: 'search',
        dn: base,
      });
      return;
    }
    const conn = await this.acquire();
    try {
      const pages = conn.client.searchPaginated(base, {
        ...options,
        paged: { pageSize: spec.pageSize ?? 500 },
      });
      for await (const page of pages) yield page.searchEntries.map(toLdapEntry);
    } catch (err) {
      throw toLdapError(err, {
        operation: 'search',
        dn: base,
        ...(this.bindDn ? { bindDn: this.bindDn } : {}),
      });
    } finally {
      this.release(conn);
    }
  }

  /** Reads one entry by DN; `undefined` when it does not exist. */
  async read(dn: string, attributes: string[] = ['*']): Promise<LdapEntry | undefined> {
    try {
      const found = await this.use((c) => c.search(dn, { scope: 'base', attributes }), {
        operation: 'search',
        dn,
      });
      const first = found.searchEntries[0];
      return first ? toLdapEntry(first) : undefined;
    } catch (err) {
      if (err instanceof LdapError && err.code === 32) return undefined;
      throw err;
    }
  }

  /**
   * Finds the one entry under `base` whose `attribute` equals `value`;
   * `undefined` when none does. Throws a permanent error when several do.
   */
  async findOne(
    base: string,
    attribute: string,
    value: string,
    attributes: string[] = ['*'],
    scope: 'one' | 'sub' = 'sub',
  ): Promise<LdapEntry | undefined> {
    const found = await this.search(base, { scope, filter: eq(attribute, value), attributes });
    if (found.length > 1) {
      throw new LdapError(
        'permanent',
        'search',
        base,
        `ldap search ${base}: ${found.length} entries have ${attribute}=${value}, expected at most one: ${found
          .slice(0, 5)
          .map((e) => e.dn)
          .join('; ')}`,
        { attributes: [attribute] },
      );
    }
    return found[0];
  }

  /** Adds an entry. */
  async add(dn: string, attributes: Record<string, string[]>, controls?: Control[]): Promise<void> {
    const attrs = Object.entries(attributes)
      .filter(([, v]) => v.length > 0)
      .map(([type, values]) => new Attribute({ type, values }));
    await this.use((c) => c.add(dn, attrs, controls), {
      operation: 'add',
      dn,
      attributes: Object.keys(attributes),
      write: true,
    });
  }

  /** Modifies an entry. */
  async modify(dn: string, changes: Modification[], controls?: Control[]): Promise<void> {
    if (changes.length === 0) return;
    const list = changes.map(
      (m) =>
        new Change({ operation: m.op, modification: new Attribute({ type: m.attribute, values: m.values }) }),
    );
    const attributes = [...new Set(changes.map((m) => m.attribute))];
    await this.use((c) => c.modify(dn, list, controls), { operation: 'modify', dn, attributes, write: true });
  }

  /** Deletes an entry. */
  async del(dn: string, controls?: Control[]): Promise<void> {
    await this.use((c) => c.del(dn, controls), { operation: 'delete', dn, write: true });
  }

  /**
   * Renames or moves an entry, keeping its attributes (modifyDN with deleteOldRdn).
   * The new DN is re-escaped canonically first: ldapts splits it at its first
   * unescaped comma into the new RDN and the new superior.
   */
  async modifyDN(dn: string, newDn: string, controls?: Control[]): Promise<void> {
    await this.use((c) => c.modifyDN(dn, canonicalDn(newDn), controls), {
      operation: 'modifyDN',
      dn: `${dn} -> ${newDn}`,
      write: true,
    });
  }

  /** Unbinds every connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new LdapError('permanent', 'connect', this.config.url, 'the LDAP pool was closed');
    for (const w of this.waiters.splice(0)) w(err);
    await Promise.all(this.idle.splice(0).map((c) => c.close()));
  }
}
