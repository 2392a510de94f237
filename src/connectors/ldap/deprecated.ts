/**
 * The names the `ldap` namespace had before it stopped repeating itself, kept
 * for one release.
 */
import { configFromEnv } from './config.ts';
import { connect } from './connect.ts';
import { classify } from './errors.ts';

/**
 * @deprecated Use `ldap.connect`.
 * @example connect: async (setup) => ({ ldap: await ldap.connect(setup, ldap.configFromEnv(setup)) })
 */
export const connectLdap = connect;

/**
 * @deprecated Use `ldap.configFromEnv`.
 * @example const config = ldap.configFromEnv(setup);
 */
export const ldapConfigFromEnv = configFromEnv;

/**
 * @deprecated Use `ldap.classify`.
 * @example defineTask({ ..., classify: ldap.classify })
 */
export const classifyLdap = classify;
