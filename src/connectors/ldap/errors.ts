/**
 * LDAP error classification. ldapts reports a result code as `.code` on a
 * `ResultCodeError`, and transport trouble as plain errors (`Connection closed
 * before message response was received`, `Operation timed out`, socket errors)
 * or Node's errno codes. {@link classify} maps both to the engine's classes;
 * {@link LdapError} is what the connector throws: it names the operation, the DN
 * and the attributes, and keeps the result code as `.code`.
 */
import { type Classifier, type ErrorClass, IdemError } from '../../core/errors.ts';

/** The LDAP operation an error came from. */
export type LdapOperation =
  | 'connect'
  | 'startTLS'
  | 'bind'
  | 'search'
  | 'add'
  | 'modify'
  | 'delete'
  | 'modifyDN';

/** Result codes a retry can fix: time limit, busy, unavailable. */
export const TRANSIENT_CODES: ReadonlySet<number> = new Set([3, 51, 52]);

/**
 * Result codes a retry cannot fix: constraint violation, invalid syntax, invalid DN
 * syntax, invalid credentials, insufficient access, unwilling to perform, naming
 * and object class violations, and `noSuchObject` (32) on an add (the parent is missing).
 */
export const PERMANENT_CODES: ReadonlySet<number> = new Set([
  7, 8, 12, 13, 17, 18, 19, 21, 32, 34, 48, 49, 50, 53, 54, 64, 65, 66, 67, 69, 71,
]);

/**
 * Codes that mean the check was stale (the entry appeared, vanished, or changed
 * since it was read): a retry re-checks first, so it is transient.
 */
export const STALE_CODES: ReadonlySet<number> = new Set([16, 20, 68, 122]);

/** Result code names, for messages. */
export const RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'operationsError',
  2: 'protocolError',
  3: 'timeLimitExceeded',
  4: 'sizeLimitExceeded',
  7: 'authMethodNotSupported',
  8: 'strongerAuthRequired',
  12: 'unavailableCriticalExtension',
  13: 'confidentialityRequired',
  16: 'noSuchAttribute',
  17: 'undefinedAttributeType',
  18: 'inappropriateMatching',
  19: 'constraintViolation',
  20: 'attributeOrValueExists',
  21: 'invalidAttributeSyntax',
  32: 'noSuchObject',
  34: 'invalidDNSyntax',
  48: 'inappropriateAuthentication',
  49: 'invalidCredentials',
  50: 'insufficientAccessRights',
  51: 'busy',
  52: 'unavailable',
  53: 'unwillingToPerform',
  54: 'loopDetect',
  64: 'namingViolation',
  65: 'objectClassViolation',
  66: 'notAllowedOnNonLeaf',
  67: 'notAllowedOnRDN',
  68: 'entryAlreadyExists',
  69: 'objectClassModsProhibited',
  71: 'affectsMultipleDSAs',
  80: 'other',
  122: 'assertionFailed',
};

const TRANSPORT_ERRNO =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN|ENOTFOUND)$/;

/** The numeric LDAP result code of an error, if it has one. */
export function resultCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * How the transport failed, from ldapts' messages and Node's errno codes:
 * `lost` when a request was sent and its answer never came (ambiguous for a
 * write), `down` when nothing could be sent.
 */
export function transportFailure(err: unknown): 'lost' | 'down' | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const message = String((err as { message?: unknown }).message ?? '');
  const code = (err as { code?: unknown }).code;
  if (/Connection closed before message response|Operation timed out|^Socket error/i.test(message))
    return 'lost';
  if (typeof code === 'string' && TRANSPORT_ERRNO.test(code)) return 'down';
  if (/Connection timeout|Socket connection not established|connection was lost/i.test(message))
    return 'down';
  return undefined;
}

/** The class of a result code for an operation (32 on an add means the parent is missing). */
export function classOfCode(code: number, operation: LdapOperation): ErrorClass {
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (code === 32) return operation === 'add' || operation === 'search' ? 'permanent' : 'transient';
  if (STALE_CODES.has(code)) return 'transient';
  return 'permanent';
}

/**
 * An LDAP failure, naming the operation, the DN and the attributes involved.
 *
 * @example
 * if (err instanceof ldap.LdapError && err.code === 50) console.error(`no write rights on ${err.dn}`);
 */
export class LdapError extends IdemError {
  /** The LDAP result code, or Node's errno code for transport errors. */
  readonly code: number | string | undefined;
  /** The attributes the operation touched, if any. */
  readonly attributes: string[];
  /** Whether a retry may help: transient, ambiguous (the write may have landed) or permanent. */
  override get kind(): ErrorClass {
    return super.kind as ErrorClass;
  }
  constructor(
    kind: ErrorClass,
    readonly operation: LdapOperation,
    readonly dn: string,
    message: string,
    options: { cause?: unknown; code?: number | string; attributes?: string[] } = {},
  ) {
    super(kind, message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'LdapError';
    this.code = options.code;
    this.attributes = options.attributes ?? [];
  }
}

/** Context for {@link toLdapError}. */
export interface LdapErrorContext {
  operation: LdapOperation;
  dn: string;
  attributes?: string[];
  /** The bind DN, named in access errors. */
  bindDn?: string;
  /** A write whose outcome is unknown when the connection drops (add, modify...). */
  write?: boolean;
}

function hint(code: number, ctx: LdapErrorContext): string {
  switch (code) {
    case 32:
      return ctx.operation === 'add'
        ? '; the parent entry does not exist'
        : ctx.operation === 'search'
          ? '; the search base does not exist'
          : '; the entry no longer exists';
    case 49:
      return `; check the bind DN (${ctx.bindDn ?? 'anonymous'}) and its password`;
    case 50:
      return `; the bind DN ${ctx.bindDn ?? '(anonymous)'} lacks the rights for this ${ctx.operation}`;
    case 65:
      return '; the entry would break its object classes (a required attribute missing, or a disallowed one)';
    case 122:
      return '; the entry changed since it was checked';
    default:
      return '';
  }
}

/**
 * Wraps any error from an LDAP operation into an {@link LdapError} with its class
 * and a message naming the operation, the DN and the attributes.
 *
 * @example
 * try { await client.add(dn, attrs) } catch (e) { throw toLdapError(e, { operation: 'add', dn, write: true }) }
 */
export function toLdapError(err: unknown, ctx: LdapErrorContext): LdapError {
  if (err instanceof LdapError) return err;
  const attrs = ctx.attributes?.length ? ` [${ctx.attributes.join(', ')}]` : '';
  const where = `ldap ${ctx.operation} ${ctx.dn === '' ? '(root DSE)' : ctx.dn}${attrs}`;
  const code = resultCode(err);
  const serverText = err instanceof Error ? err.message : String(err);
  if (code !== undefined) {
    const name = RESULT_NAMES[code] ?? 'result';
    const text = `${where}: ${name} (${code})${hint(code, ctx)}${serverText ? `: ${serverText}` : ''}`;
    return new LdapError(classOfCode(code, ctx.operation), ctx.operation, ctx.dn, text, {
      cause: err,
      code,
      attributes: ctx.attributes ?? [],
    });
  }
  const transport = transportFailure(err);
  const errno = (err as { code?: unknown } | null)?.code;
  const codeOpt = typeof errno === 'string' ? { code: errno } : {};
  if (transport === 'lost') {
    const cls: ErrorClass = ctx.write ? 'ambiguous' : 'transient';
    const why = ctx.write ? '; the write may or may not have been applied' : '';
    return new LdapError(
      cls,
      ctx.operation,
      ctx.dn,
      `${where}: connection lost before the answer${why}: ${serverText}`,
      {
        cause: err,
        ...codeOpt,
        attributes: ctx.attributes ?? [],
      },
    );
  }
  if (transport === 'down') {
    return new LdapError('transient', ctx.operation, ctx.dn, `${where}: server unreachable: ${serverText}`, {
      cause: err,
      ...codeOpt,
      attributes: ctx.attributes ?? [],
    });
  }
  return new LdapError('permanent', ctx.operation, ctx.dn, `${where}: ${serverText}`, {
    cause: err,
    ...codeOpt,
    attributes: ctx.attributes ?? [],
  });
}

/**
 * The classifier for LDAP errors, for a step's or a task's `classify`:
 * transient for 3, 51, 52, socket errors and connect timeouts; permanent for 19,
 * 21, 32 (on add), 34, 49, 50, 53, 64, 65 and the like; ambiguous when the
 * connection closed or timed out after a request was sent. Returns `undefined`
 * for errors that are not LDAP's, so the next classifier decides.
 *
 * @example
 * defineTask({ ..., classify: ldap.classify })
 */
export const classify: Classifier = (err) => {
  if (err instanceof LdapError) return err.kind;
  const code = resultCode(err);
  const name = (err as { name?: unknown } | null)?.name;
  if (code !== undefined && typeof name === 'string' && name.endsWith('Error'))
    return classOfCode(code, 'add');
  const transport = transportFailure(err);
  if (transport === 'lost') return 'ambiguous';
  if (transport === 'down') return 'transient';
  return undefined;
};

/**
 * The error of a search by key that found several entries where at most one may be.
 *
 * @example
 * throw severalEntries('ou=people,dc=example,dc=com', 'uid', 'jdoe', found.map((e) => e.dn));
 */
export function severalEntries(base: string, attribute: string, value: string, dns: string[]): LdapError {
  return new LdapError(
    'permanent',
    'search',
    base,
    `ldap search ${base}: several entries have ${attribute}=${value}, expected at most one: ${dns
      .slice(0, 5)
      .join('; ')}`,
    { attributes: [attribute] },
  );
}
