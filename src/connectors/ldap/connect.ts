/**
 * Opening the connector for a task: the pool, its cleanup, and the warnings.
 */
import { isIP } from 'node:net';
import type { SetupContext } from '../../core/task.ts';
import type { LdapConfig } from './config.ts';
import { LdapPool } from './pool.ts';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * Opens a pool of `--concurrency` connections (or `config.poolSize`), binds one
 * at once (so a wrong URL, certificate or password fails before any record),
 * reads the root DSE, and registers the pool's cleanup. It warns when
 * certificate verification is off, or when a password would cross the network
 * in clear text.
 *
 * @example
 * connect: async (setup) => ({ ldap: await ldap.connect(setup, ldap.configFromEnv(setup)) })
 */
export async function connect(setup: SetupContext, config: LdapConfig): Promise<LdapPool> {
  const url = new URL(config.url);
  const secure = url.protocol === 'ldaps:' || config.startTLS === true;
  if (secure && config.tls?.insecure) {
    setup.warn(
      `LDAP: TLS certificate verification is OFF for ${config.url} (insecure option set); ` +
        'anyone between here and the server can read the bind password. Use it for test servers only.',
    );
  }
  if (!secure && config.bindDn !== undefined && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) {
    setup.warn(
      `LDAP: ${config.url} is neither ldaps:// nor StartTLS; the bind password crosses the network in clear text`,
    );
  }
  const pool = new LdapPool(config, Math.max(1, config.poolSize ?? setup.concurrency));
  try {
    await pool.verify();
  } catch (err) {
    await pool.close();
    throw err;
  }
  setup.onClose(() => pool.close());
  return pool;
}
