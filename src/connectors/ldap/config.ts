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
   * The DN to bind as; anonymous when unset (`configFromEnv` asks for
   * `IDEM_LDAP_ANONYMOUS=1` to leave it unset).
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
   * Connections in the pool (each pipelines up to 64 requests). `ldap.connect` uses the run's `--concurrency`, at most 2.
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
 * - `IDEM_LDAP_URL` and `IDEM_LDAP_BASE` (required);
 * - `IDEM_LDAP_BIND_DN` with `IDEM_LDAP_PASSWORD` or `IDEM_LDAP_PASSWORD_FILE`
 *   (declared secret), required unless `IDEM_LDAP_ANONYMOUS=1` asks for an
 *   anonymous bind (then neither may be set);
 * - `IDEM_LDAP_STARTTLS=1`, `IDEM_LDAP_CA_FILE=<pem>`, `IDEM_LDAP_TLS_INSECURE=1`;
 * - `IDEM_LDAP_TIMEOUT_MS`, `IDEM_LDAP_CONNECT_TIMEOUT_MS`.
 *
 * A missing bind DN is never taken as "bind anonymously": every record would
 * then fail against a directory that hides its entries from anonymous
 * readers. Throws one usage error (exit 2) naming every missing or
 * contradictory setting at once.
 *
 * @example
 * connect: (setup) => ldap.connect(setup, ldap.configFromEnv(setup))
 */
export function configFromEnv(setup: SetupContext, prefix = 'IDEM_LDAP'): LdapEnvConfig {
  const get = (name: string) => {
    const v = setup.env[`${prefix}_${name}`];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const url = get('URL');
  const base = get('BASE');
  const bind = bindOf(setup, get, prefix);
  const missing = [!url && `${prefix}_URL`, !base && `${prefix}_BASE`, ...bind.missing].filter(
    (m): m is string => Boolean(m),
  );
  const problems = missing.length ? [`missing LDAP settings: set ${missing.join(', ')}${bind.hint}`] : [];
  problems.push(...bind.problems);
  const config: LdapEnvConfig = { url: url as string, base: base as string };
  if (bind.dn) {
    config.bindDn = bind.dn;
    config.password = bind.password as string;
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
        problems.push(`${prefix}_CA_FILE: cannot read ${path}: ${(err as Error).message}`);
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
      problems.push(`${prefix}_${name} must be a positive number of ms, not "${v}"`);
    else config[key] = n;
  }
  if (problems.length) throw new UsageError(problems.join('; '));
  return config;
}

/**
 * Who to bind as: a bind DN with its password (read through setup.readSecret,
 * which declares it secret), or nobody when an anonymous bind is asked for.
 * What is missing, and what contradicts itself, for the one error.
 */
function bindOf(setup: SetupContext, get: (name: string) => string | undefined, prefix: string) {
  const dn = get('BIND_DN');
  const anonymous = flag(get('ANONYMOUS'));
  const secret = `${prefix}_PASSWORD or ${prefix}_PASSWORD_FILE`;
  const passwordSet = get('PASSWORD') !== undefined || get('PASSWORD_FILE') !== undefined;
  let password: string | undefined;
  if (dn && !anonymous) {
    try {
      password = setup.readSecret({ env: `${prefix}_PASSWORD`, fileEnv: `${prefix}_PASSWORD_FILE` });
    } catch (err) {
      // One it cannot find is missing; a file it cannot read is an error of its own.
      if (passwordSet) throw err;
    }
  }
  const hasPassword = passwordSet || password !== undefined;
  if (anonymous) {
    const extra = [dn && `${prefix}_BIND_DN`, hasPassword && secret].filter(Boolean);
    const problems = extra.length
      ? [
          `${prefix}_ANONYMOUS=1 asks for an anonymous bind, but ${extra.join(' and ')} ${extra.length > 1 ? 'are' : 'is'} set too: unset one or the other`,
        ]
      : [];
    return { dn: undefined, password: undefined, missing: [], hint: '', problems };
  }
  const hint =
    !dn && !hasPassword
      ? ` (or, for an anonymous bind, ${prefix}_ANONYMOUS=1 instead of the bind DN and password)`
      : !dn
        ? ` (a password without ${prefix}_BIND_DN would bind anonymously)`
        : '';
  return {
    dn,
    password,
    missing: [!dn && `${prefix}_BIND_DN`, !hasPassword && secret],
    hint,
    problems: [] as string[],
  };
}
