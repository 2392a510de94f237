/**
 * Opening the connector for a task: the pool, its cleanup, and the warnings.
 */
import { isIP } from 'node:net';
import type { SetupContext } from '../../core/task.ts';
import type { LdapConfig } from './config.ts';
import type { MemberBatchOptions } from './member-writes.ts';
import { LdapPool } from './pool.ts';
import type { SnapshotOptions } from './snapshot.ts';

/**
 * What {@link connect} sets up besides the connections.
 * @example { snapshot: { entries: { base: people, attribute: 'uid' }, groups: { base: groups } } }
 */
export interface ConnectOptions {
  /**
   * Check against a snapshot of the population the task manages, read once per
   * run (dry runs too), starting as soon as the pool is connected, instead of
   * searching once per record.
   * Writes stay guarded: see {@link SnapshotOptions}.
   */
  snapshot?: SnapshotOptions;
  /** How member writes of concurrent records are batched per group. */
  batch?: MemberBatchOptions;
}

/**
 * Connections `connect` opens at most unless `poolSize` says otherwise. Each
 * carries up to `PIPELINE_DEPTH` (64) requests at once, and the requests sent in
 * one tick go out in one socket write: 10,000 people (npm run bench, 2 cores) cost
 * idem 5.0 s and slapd 2.7 s of CPU on 2 such connections, against 6.4 s and
 * 3.4 s on 16 connections of one request each.
 */
export const MAX_POOL = 2;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * Opens a pool of `--concurrency` connections (at most {@link MAX_POOL}, or `config.poolSize`), binds one
 * at once (so a wrong URL, certificate or password fails before any record),
 * reads the root DSE, and registers the pool's cleanup. It warns when
 * certificate verification is off, or when a password would cross the network
 * in clear text. With `options.snapshot`, checks read the managed population
 * once instead of once per record.
 *
 * @example
 * connect: async (setup) => ({ ldap: await ldap.connect(setup, ldap.configFromEnv(setup)) })
 */
export async function connect(
  setup: SetupContext,
  config: LdapConfig,
  options: ConnectOptions = {},
): Promise<LdapPool> {
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
  const pool = new LdapPool(config, Math.max(1, config.poolSize ?? Math.min(setup.concurrency, MAX_POOL)));
  try {
    await pool.verify();
  } catch (err) {
    await pool.close();
    throw err;
  }
  setup.onClose(() => {
    const conflicts = pool.snapshot?.stats().conflicts ?? 0;
    if (conflicts > 0) {
      setup.warn(
        `LDAP: ${conflicts} write(s) met an entry another writer changed since the run's snapshot was read; ` +
          'each such record was checked again against the server (see its note and retry line)',
      );
    }
    return pool.close();
  });
  pool.recordsInFlight = setup.concurrency;
  if (options.batch) pool.batchMembers(options.batch);
  // Read while the run opens (its ledger, the first records): checks start sooner (10k people: ~50 ms).
  if (options.snapshot) pool.useSnapshot(options.snapshot, (m) => setup.warn(m)).prefetch();
  return pool;
}
