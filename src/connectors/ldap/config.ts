/**
 * Connection settings for the LDAP connector, and the standard way to read them
 * from the environment (`IDEM_LDAP_*`).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../../core/errors.ts';
import type { SetupContext } from '../../core/task.ts';

/**
 * TLS settings for `ldaps://` and StartTLS.
 * @example tls: { ca: readFileSync('/etc/ssl/certs/corp-ca.pem') }
 */
export interface LdapTlsOptions {
  /** Trusted CA certificates (PEM), in addition to or instead of the system ones. */
  ca?: string | Buffer | (string | Buffer)[];
  /**
   * Skip certificate verification. Never the default; connecting with it prints a
   * warning. For test servers only.
   * @default false
   */
  insecure?: boolean;
  /** The name to verify the certificate against, when it differs from the URL's host. */
  servername?: string;
}

/**
 * How to reach and bind to the directory.
 * @example
 * const config: ldap.LdapConfig = {
 *   url: 'ldaps://ldap.example.com',
 *   bindDn: 'cn=idem,ou=services,dc=example,dc=com',
 *   password: setup.readSecret({ env: 'LDAP_PASSWORD', fileEnv: 'LDAP_PASSWORD_FILE' }),
 * };
 */
export interface LdapConfig {
  /**
   * `ldap://host:port` or `ldaps://host:port`.
   * @example 'ldaps://ldap.example.com'
   */
  url: string;
  /**
   * The DN to bind as; anonymous when unset.
   * @example 'cn=idem,ou=services,dc=example,dc=com'
   */
  bindDn?: string;
  /** The bind password. Read it with `setup.readSecret`, never from argv. */
  password?: string;
  /**
   * Upgrade an `ldap://` connection with StartTLS before binding.
   * @default false
   */
  startTLS?: boolean;
  /** Certificate verification settings (on by default). */
  tls?: LdapTlsOptions;
  /**
   * Milliseconds an operation may take before the connection is dropped and the
   * operation fails (ambiguous for a write).
   * @default 10_000
   */
  timeoutMs?: number;
  /**
   * Milliseconds to wait for the TCP (and TLS) connection.
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * Connections in the pool. `ldap.connect` uses the run's `--concurrency`, at most 16.
   * @default 4
   */
  poolSize?: number;
  /**
   * Use the Permissive Modify control for value adds and deletes: `auto` when the
   * root DSE lists it, `always`, or `never` (then result 20/16 counts as converged
   * and the values are re-read).
   * @default 'auto'
   */
  permissiveModify?: 'auto' | 'always' | 'never';
}

/**
 * {@link LdapConfig} plus the base DN a task works under.
 * @example const people = `ou=people,${ldap.configFromEnv(setup).base}`;
 */
export interface LdapEnvConfig extends LdapConfig {
  /** The base DN, e.g. `dc=example,dc=com`. */
  base: string;
}

function flag(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

/**
 * Reads the connector's settings from the environment:
 *
 * - `IDEM_LDAP_URL` (required), `IDEM_LDAP_BIND_DN`, `IDEM_LDAP_BASE` (required);
 * - `IDEM_LDAP_PASSWORD` or `IDEM_LDAP_PASSWORD_FILE` (declared secret);
 * - `IDEM_LDAP_STARTTLS=1`, `IDEM_LDAP_CA_FILE=<pem>`, `IDEM_LDAP_TLS_INSECURE=1`;
 * - `IDEM_LDAP_TIMEOUT_MS`, `IDEM_LDAP_CONNECT_TIMEOUT_MS`.
 *
 * Throws a usage error naming what is missing.
 *
 * @example
 * connect: (setup) => ldap.connect(setup, ldap.configFromEnv(setup))
 */
export function configFromEnv(setup: SetupContext, prefix = 'IDEM_LDAP'): LdapEnvConfig {
  const env = setup.env;
  const get = (name: string) => {
    const v = env[`${prefix}_${name}`];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const url = get('URL');
  const base = get('BASE');
  const missing = [!url && `${prefix}_URL`, !base && `${prefix}_BASE`].filter(Boolean);
  if (missing.length) throw new UsageError(`missing LDAP settings: set ${missing.join(' and ')}`);
  const bindDn = get('BIND_DN');
  const config: LdapEnvConfig = { url: url as string, base: base as string };
  if (bindDn) {
    config.bindDn = bindDn;
    config.password = setup.readSecret({ env: `${prefix}_PASSWORD`, fileEnv: `${prefix}_PASSWORD_FILE` });
  }
  if (flag(get('STARTTLS'))) config.startTLS = true;
  const caFile = get('CA_FILE');
  const insecure = flag(get('TLS_INSECURE'));
  if (caFile || insecure) {
    config.tls = {};
    if (caFile) {
      const path = isAbsolute(caFile) ? caFile : resolve(caFile);
      try {
        config.tls.ca = readFileSync(path);
      } catch (err) {
        throw new UsageError(`${prefix}_CA_FILE: cannot read ${path}: ${(err as Error).message}`);
      }
    }
    if (insecure) config.tls.insecure = true;
  }
  for (const [name, key] of [
    ['TIMEOUT_MS', 'timeoutMs'],
    ['CONNECT_TIMEOUT_MS', 'connectTimeoutMs'],
  ] as const) {
    const v = get(name);
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new UsageError(`${prefix}_${name} must be a positive number of ms, not "${v}"`);
    config[key] = n;
  }
  return config;
}
