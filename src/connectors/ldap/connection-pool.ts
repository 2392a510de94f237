/**
 * The mechanics of the pool: a few bound connections to one pinned server,
 * handed out one operation at a time, replaced when they drop.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Client } from 'ldapts';
import type { LdapConfig } from './config.ts';
import { LdapConnection, type PinnedServer } from './connection.ts';
import { LdapError, type LdapOperation, toLdapError } from './errors.ts';

/** The host, port and TLS flag of an LDAP URL; throws a permanent error for anything else. */
export function pinTarget(url: string): { host: string; port: number; secure: boolean } {
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
 * A pool of bound connections to one server. Every connection goes to the same
 * address for the whole run (the host name is resolved once), since
 * check-then-act across replicas is unsafe. A connection that dropped is
 * replaced by a fresh one that binds again. See {@link LdapPool} for the operations.
 */
export class ConnectionPool {
  private readonly idle: LdapConnection[] = [];
  private readonly waiters: ((c: LdapConnection | Error) => void)[] = [];
  private open = 0;
  private closed = false;
  private server: Promise<PinnedServer> | undefined;

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

  protected async acquire(): Promise<LdapConnection> {
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

  protected release(conn: LdapConnection): void {
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

  /** Opens one connection now: checks the URL, TLS and the bind. */
  async connect(): Promise<void> {
    const conn = await this.acquire();
    this.release(conn);
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
