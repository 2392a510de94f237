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
 * Requests one connection carries at once when every connection of the pool is
 * busy: they go out back to back (one socket write for those sent in the same
 * tick) and slapd answers them in parallel.
 */
export const PIPELINE_DEPTH = 64;

/**
 * A pool of bound connections to one server. Every connection goes to the same
 * address for the whole run (the host name is resolved once), since
 * check-then-act across replicas is unsafe. A connection that dropped is
 * replaced by a fresh one that binds again. See {@link LdapPool} for the operations.
 *
 * An operation goes to an idle connection, else to a new one while the pool is
 * below `size`, else is pipelined on the least busy connection (at most
 * {@link PIPELINE_DEPTH} requests each), else waits. A paged search takes a
 * connection for itself (the server keeps one paging state per connection).
 */
export class ConnectionPool {
  /** Every open connection, with its requests in flight. */
  private readonly conns: { conn: LdapConnection; load: number; exclusive: boolean }[] = [];
  private readonly waiters: { exclusive: boolean; resolve: (c: LdapConnection | Error) => void }[] = [];
  private creating = 0;
  private closed = false;
  private server: Promise<PinnedServer> | undefined;

  constructor(
    readonly config: LdapConfig,
    readonly size: number = config.poolSize ?? 4,
    private readonly depth: number = PIPELINE_DEPTH,
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

  /** Closes the connections that dropped and carry nothing any more. */
  private prune(): void {
    for (let i = this.conns.length - 1; i >= 0; i--) {
      const c = this.conns[i] as (typeof this.conns)[number];
      if (c.load === 0 && !c.conn.usable) {
        this.conns.splice(i, 1);
        void c.conn.close();
      }
    }
  }

  /** A connection for one more request, now, if the pool has one. */
  private pick(exclusive: boolean): LdapConnection | undefined {
    this.prune();
    let best: (typeof this.conns)[number] | undefined;
    for (const c of this.conns) {
      if (c.exclusive || !c.conn.usable) continue;
      if (c.load === 0) {
        best = c;
        break;
      }
      if (!exclusive && c.load < this.depth && (!best || c.load < best.load)) best = c;
    }
    if (!best) return undefined;
    // An idle connection first; a new one before pipelining on a busy one.
    if (best.load > 0 && this.conns.length + this.creating < this.size) return undefined;
    best.load++;
    best.exclusive = exclusive;
    return best.conn;
  }

  /** A bound connection for one request (`exclusive`: for a sequence of requests, alone on it). */
  protected async acquire(exclusive = false): Promise<LdapConnection> {
    if (this.closed) throw new LdapError('permanent', 'connect', this.config.url, 'the LDAP pool is closed');
    const ready = this.pick(exclusive);
    if (ready) return ready;
    if (this.conns.length + this.creating < this.size) {
      this.creating++;
      let conn: LdapConnection;
      try {
        conn = await this.create();
      } catch (err) {
        this.creating--;
        this.wake();
        throw err;
      }
      this.creating--;
      if (this.closed) {
        await conn.close();
        throw new LdapError('permanent', 'connect', this.config.url, 'the LDAP pool is closed');
      }
      this.conns.push({ conn, load: 1, exclusive });
      return conn;
    }
    const next = await new Promise<LdapConnection | Error>((resolve) =>
      this.waiters.push({ exclusive, resolve }),
    );
    if (next instanceof Error) throw next;
    return next;
  }

  /** Hands connections to waiters while there are any to hand (a new one is opened for the first that waits). */
  private wake(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0] as (typeof this.waiters)[number];
      const conn = this.pick(w.exclusive);
      if (conn) {
        this.waiters.shift();
        w.resolve(conn);
        continue;
      }
      if (this.conns.length + this.creating < this.size) {
        this.waiters.shift();
        this.acquire(w.exclusive).then(w.resolve, (err: Error) => w.resolve(err));
        continue;
      }
      return;
    }
  }

  protected release(conn: LdapConnection): void {
    const i = this.conns.findIndex((c) => c.conn === conn);
    const c = this.conns[i];
    if (!c) return;
    c.load--;
    c.exclusive = false;
    if (this.closed) {
      if (c.load === 0) {
        this.conns.splice(i, 1);
        void conn.close();
      }
      return;
    }
    this.wake();
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
    for (const w of this.waiters.splice(0)) w.resolve(err);
    const idle = this.conns.filter((c) => c.load === 0);
    for (const c of idle) this.conns.splice(this.conns.indexOf(c), 1);
    await Promise.all(idle.map((c) => c.conn.close()));
  }
}
