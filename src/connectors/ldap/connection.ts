/**
 * One LDAP connection: a TCP (or TLS) socket to a pinned address, upgraded with
 * StartTLS when asked, then bound. It never reconnects by itself: ldapts would
 * silently reopen a dropped socket without binding (or without StartTLS), so a
 * connection that dropped refuses further use and the pool replaces it with a
 * fresh, bound one.
 */
import { isIP, Socket } from 'node:net';
import * as tls from 'node:tls';
import { Client } from 'ldapts';
import type { LdapConfig } from './config.ts';
import { toLdapError } from './errors.ts';
import { decodeLeanEntries } from './lean-entries.ts';

/** The server address every connection of a pool uses for the whole run. */
export interface PinnedServer {
  /** The host name from the URL (used for certificate verification). */
  host: string;
  /** The IP address it resolved to once, at the first connection. */
  address: string;
  port: number;
  secure: boolean;
}

/**
 * What a used connection does when ldapts tries to reconnect on its own: it
 * refuses (ldapts turns the throw into a failed operation, before sending anything).
 */
function refuseReconnect(): never {
  throw new Error('the LDAP connection was lost; it is not reopened without a bind');
}

function tlsOptions(config: LdapConfig, server: PinnedServer): tls.ConnectionOptions {
  const t = config.tls ?? {};
  const servername = t.servername ?? (isIP(server.host) ? undefined : server.host);
  return {
    rejectUnauthorized: !t.insecure,
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(servername ? { servername } : {}),
    ...(t.insecure ? { checkServerIdentity: () => undefined } : {}),
  };
}

/**
 * Makes the requests written to `socket` in one tick go out in one write: the
 * first write of a tick corks the socket and the tick's end uncorks it (one
 * writev), instead of one syscall per LDAP message. The order of the bytes is
 * unchanged; with TLS, the records are made on uncork.
 */
export function coalesceWrites<T extends Socket>(socket: T): T {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: T, ...args: unknown[]) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as T['write'];
  return socket;
}

/** A bound connection, used by the pool's operations (several at once when they are pipelined). */
export class LdapConnection {
  readonly client: Client;
  private opened = false;

  constructor(
    private readonly config: LdapConfig,
    private readonly server: PinnedServer,
  ) {
    const options = tlsOptions(config, server);
    this.client = new Client({
      url: config.url,
      timeout: config.timeoutMs ?? 10_000,
      connectTimeout: config.connectTimeoutMs ?? 5_000,
      ...(server.secure ? { tlsOptions: options } : {}),
      createConnection: ((..._args: unknown[]) => {
        if (this.opened) refuseReconnect();
        this.opened = true;
        return coalesceWrites(
          new Socket().setNoDelay(true).connect({ port: server.port, host: server.address }),
        );
      }) as never,
      createSecureConnection: ((...args: unknown[]) => {
        const first = args[0];
        if (typeof first === 'object' && first !== null) {
          // StartTLS: ldapts hands over the plain socket to upgrade.
          return coalesceWrites(
            tls.connect({ ...(first as tls.ConnectionOptions), ...options, host: server.host }),
          );
        }
        if (this.opened) refuseReconnect();
        this.opened = true;
        return coalesceWrites(tls.connect({ ...options, port: server.port, host: server.address }));
      }) as never,
    });
    decodeLeanEntries(this.client);
  }

  /** True while the socket is up and bound. */
  get usable(): boolean {
    return this.client.isConnected && (this.config.bindDn === undefined || this.client.isBound);
  }

  /** Connects, upgrades with StartTLS (before any credential is sent) and binds. */
  async open(): Promise<void> {
    const { config } = this;
    if (config.startTLS && !this.server.secure) {
      try {
        await this.client.startTLS(tlsOptions(config, this.server));
      } catch (err) {
        throw toLdapError(err, { operation: 'startTLS', dn: config.url });
      }
    }
    if (config.bindDn !== undefined) {
      try {
        await this.client.bind(config.bindDn, config.password ?? '');
      } catch (err) {
        throw toLdapError(err, { operation: 'bind', dn: config.bindDn, bindDn: config.bindDn });
      }
    } else if (!this.client.isConnected) {
      // Anonymous: open the socket now so that a dead server shows at once.
      try {
        await this.client.search('', { scope: 'base', attributes: ['1.1'] });
      } catch (err) {
        throw toLdapError(err, { operation: 'connect', dn: config.url });
      }
    }
  }

  async close(): Promise<void> {
    try {
      await this.client.unbind();
    } catch {
      // closing a dead connection: nothing to do
    }
  }
}
