/**
 * The connectors' public surface, name by name: adding to it (or letting
 * plumbing leak into it) is a decision this test makes visible. Everything on
 * it has TSDoc with an `@example`, and every deprecated alias is the very
 * function it names.
 */
import { describe, expect, it } from 'vitest';
import * as idem from '../../src/index.ts';
import { publicSurface } from './surface.ts';

const surface = publicSurface();

describe('the public surface of the connectors', () => {
  it('is what a task author uses, each name once', () => {
    const names = (name: string) => {
      const { values, types, deprecated } = surface[name]!;
      return { values, types, deprecated };
    };
    expect(names('cmd')).toEqual({
      values: ['run'],
      types: ['CheckCommand', 'RunDiff', 'RunOptions'],
      deprecated: [],
    });
    expect(names('fs')).toEqual({
      values: ['ensureAbsent', 'ensureDir', 'ensureFile', 'ensureLine', 'root', 'writeAtomic'],
      types: [
        'EnsureAbsentOptions',
        'EnsureDirOptions',
        'EnsureFileOptions',
        'EnsureLineOptions',
        'FileContent',
        'FsContext',
        'FsRoot',
        'Template',
      ],
      deprecated: [],
    });
    expect(names('http')).toEqual({
      values: ['client', 'ensureResource', 'HttpPermanentError', 'HttpTransientError', 'post', 'urlPath'],
      types: [
        'EnsureResourceOptions',
        'HttpClient',
        'HttpClientOptions',
        'HttpContext',
        'HttpRequest',
        'HttpResponse',
        'PostOptions',
        'ResourceDiff',
      ],
      deprecated: [],
    });
    expect(names('ldap')).toEqual({
      values: [
        'and',
        'childDn',
        'classify',
        'configFromEnv',
        'connect',
        'dnEquals',
        'ensureAbsent',
        'ensureEntry',
        'ensureMember',
        'ensureMembers',
        'ensureMemberships',
        'ensureRenamed',
        'eq',
        'escapeDnValue',
        'escapeFilterValue',
        'filter',
        'LdapError',
        'listValues',
        'not',
        'or',
        'present',
      ],
      types: [
        'AbsentDiff',
        'Attributes',
        'EnsureAbsentOptions',
        'EnsureEntryOptions',
        'EnsureMembershipsOptions',
        'EnsureMembersOptions',
        'EnsureRenamedOptions',
        'EntryDiff',
        'EntryRef',
        'FindBy',
        'LdapConfig',
        'LdapContext',
        'LdapEntry',
        'LdapEnvConfig',
        'LdapPool',
        'LdapTlsOptions',
        'ListValuesOptions',
        'MembersDiff',
        'MembershipsDiff',
        'Modification',
        'RenameDiff',
        'SearchSpec',
      ],
      deprecated: ['classifyLdap', 'connectLdap', 'ldapConfigFromEnv'],
    });
    expect(names('sql')).toEqual({
      values: ['classify', 'ensureAbsentRow', 'ensureRow', 'sqlite', 'upsert'],
      types: [
        'EnsureRowOptions',
        'SqlConnection',
        'SqlContext',
        'SqliteOptions',
        'SqlStepOptions',
        'SqlValue',
        'UpsertRowOptions',
      ],
      deprecated: ['classifySql'],
    });
    expect(surface.idem?.values).toEqual(expect.arrayContaining(['cmd', 'fs', 'http', 'ldap', 'sql']));
  });

  it('has TSDoc with an @example on every name', () => {
    for (const name of ['cmd', 'fs', 'http', 'ldap', 'sql']) {
      expect(surface[name]?.withoutExample, name).toEqual([]);
    }
  });

  it('keeps each deprecated name as an alias of its new one', () => {
    expect(idem.ldap.connectLdap).toBe(idem.ldap.connect);
    expect(idem.ldap.ldapConfigFromEnv).toBe(idem.ldap.configFromEnv);
    expect(idem.ldap.classifyLdap).toBe(idem.ldap.classify);
    expect(idem.sql.classifySql).toBe(idem.sql.classify);
  });
});
