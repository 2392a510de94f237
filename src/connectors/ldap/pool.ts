/**
 * The directory operations steps use through `ctx.ldap`: searches, reads and
 * writes over the pooled connections, every error wrapped into an
 * {@link LdapError} that names the operation and the DN.
 */
import { Attribute, Change, type Control, type Entry, type Filter } from 'ldapts';
import { ConnectionPool } from './connection-pool.ts';
import { ASSERTION_OID, PERMISSIVE_MODIFY_OID } from './controls.ts';
import { canonicalDn } from './dn.ts';
import { type LdapEntry, toLdapEntry } from './entry.ts';
import { LdapError, severalEntries, toLdapError } from './errors.ts';
import { eq } from './filter.ts';
import { LEAN_ENTRIES } from './lean-entries.ts';
import { type MemberBatchOptions, MemberWrites } from './member-writes.ts';
import { DirectorySnapshot, type SnapshotOptions } from './snapshot.ts';

/**
 * One change of a modify request.
 * @example await ctx.ldap.modify(dn, [{ op: 'replace', attribute: 'mail', values: [r.mail] }]);
 */
export interface Modification {
  op: 'add' | 'delete' | 'replace';
  attribute: string;
  /** For `delete`, an empty list removes the whole attribute. */
  values: string[];
}

/**
 * Search options for {@link LdapPool.search}.
 * @example await ctx.ldap.search(ctx.people, { scope: 'one', filter: ldap.eq('departmentNumber', r.dept), attributes: ['uid'] });
 */
export interface SearchSpec {
  scope?: 'base' | 'one' | 'sub';
  filter?: Filter | string;
  /** Attributes to return; `['1.1']` for none. @default ['*'] */
  attributes?: string[];
  /** Page size for paged searches. @default 500 */
  pageSize?: number;
}

/** What the root DSE says about the server. */
export interface RootDse {
  supportedControl: string[];
  supportedExtension: string[];
  namingContexts: string[];
  vendorVersion?: string;
}

/**
 * The pool steps use as `ctx.ldap`. Made by `ldap.connect`.
 *
 * @example
 * const pool = new LdapPool({ url: 'ldap://127.0.0.1:389', bindDn, password }, 4);
 * const people = await pool.search('ou=people,dc=example,dc=com', { scope: 'one', attributes: ['uid'] });
 */
export class LdapPool extends ConnectionPool {
  private dse: Promise<RootDse> | undefined;
  private batcher: MemberWrites | undefined;
  /** The snapshot checks use, when the task asked for one ({@link LdapPool.useSnapshot}). */
  snapshot: DirectorySnapshot | undefined;

  /**
   * Checks against a snapshot of the population the task manages, read once
   * (at the first check) instead of once per record. See {@link SnapshotOptions}.
   *
   * @example
   * pool.useSnapshot({ entries: { base: people, attribute: 'uid' }, groups: { base: groups } });
   */
  useSnapshot(options: SnapshotOptions, warn?: (message: string) => void): DirectorySnapshot {
    this.snapshot = new DirectorySnapshot(this, options, warn);
    return this.snapshot;
  }

  /**
   * How many records the run has in flight (its `--concurrency`), when known:
   * how long a member batch waits for more follows from it (see {@link MemberBatchOptions.delayMs}).
   */
  recordsInFlight: number | undefined;

  /** Coalesced member writes: see {@link MemberWrites}. */
  get members(): MemberWrites {
    this.batcher ??= new MemberWrites(this, { recordsInFlight: this.recordsInFlight });
    return this.batcher;
  }

  /** Sets how member writes are batched (before the first write). */
  batchMembers(options: MemberBatchOptions): void {
    this.batcher = new MemberWrites(this, { recordsInFlight: this.recordsInFlight, ...options });
  }

  /** Opens one connection now (checks the URL, TLS and the bind) and reads the root DSE. */
  async verify(): Promise<RootDse> {
    await this.connect();
    return this.rootDse();
  }

  /** Reads the root DSE once per pool. */
  rootDse(): Promise<RootDse> {
    this.dse ??= this.use(
      async (client) => {
        const { searchEntries } = await client.search('', {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: ['supportedControl', 'supportedExtension', 'namingContexts', 'vendorVersion'],
        });
        const e = searchEntries[0] ? toLdapEntry(searchEntries[0]) : { dn: '', attrs: {} };
        return {
          supportedControl: e.attrs.supportedcontrol ?? [],
          supportedExtension: e.attrs.supportedextension ?? [],
          namingContexts: e.attrs.namingcontexts ?? [],
          ...(e.attrs.vendorversion?.[0] ? { vendorVersion: e.attrs.vendorversion[0] } : {}),
        };
      },
      { operation: 'search', dn: '' },
    ).catch((err) => {
      this.dse = undefined;
      throw err;
    });
    return this.dse;
  }

  /** True when the root DSE lists the control. */
  async supportsControl(oid: string): Promise<boolean> {
    return (await this.rootDse()).supportedControl.includes(oid);
  }

  /** Whether value adds/deletes go with Permissive Modify (see {@link LdapConfig.permissiveModify}). */
  async usePermissiveModify(): Promise<boolean> {
    const mode = this.config.permissiveModify ?? 'auto';
    if (mode !== 'auto') return mode === 'always';
    return this.supportsControl(PERMISSIVE_MODIFY_OID);
  }

  /** Whether writes can be made conditional with the Assertion control. */
  async supportsAssertion(): Promise<boolean> {
    return this.supportsControl(ASSERTION_OID);
  }

  /** Searches, paging through the results. */
  async search(base: string, spec: SearchSpec = {}): Promise<LdapEntry[]> {
    const out: LdapEntry[] = [];
    for await (const page of this.searchPages(base, spec)) out.push(...page);
    return out;
  }

  /** Searches page by page (constant memory for large results). */
  async *searchPages(base: string, spec: SearchSpec = {}): AsyncIterable<LdapEntry[]> {
    for await (const page of this.searchRawPages(base, spec)) yield page.map(toLdapEntry);
  }

  /**
   * {@link searchPages} with the entries as ldapts's client gives them, decoded
   * lean (see lean-entries.ts): every value a string. No copy: the snapshot packs them itself.
   */
  async *searchRawPages(base: string, spec: SearchSpec = {}): AsyncIterable<Entry[]> {
    const options = {
      scope: spec.scope ?? 'sub',
      ...(spec.filter !== undefined ? { filter: spec.filter } : {}),
      attributes: spec.attributes ?? ['*'],
      explicitBufferAttributes: LEAN_ENTRIES,
    };
    if (options.scope === 'base') {
      yield await this.use(async (c) => (await c.search(base, options)).searchEntries, {
        operation: 'search',
        dn: base,
      });
      return;
    }
    const conn = await this.acquire(true);
    const pages = conn.client
      .searchPaginated(base, { ...options, paged: { pageSize: spec.pageSize ?? 500 } })
      [Symbol.asyncIterator]();
    // One page read ahead: the request for the next page goes out before this one is
    // handed over, so the server makes it while the caller uses this one.
    let ahead: Promise<IteratorResult<{ searchEntries: Entry[] }>> | undefined = pages.next();
    try {
      for (;;) {
        const page = await ahead;
        ahead = undefined;
        if (page.done) return;
        ahead = pages.next();
        // Requests written in one tick leave together at its end (coalesceWrites): let it end.
        await new Promise<void>((resolve) => process.nextTick(resolve));
        yield page.value.searchEntries;
      }
    } catch (err) {
      throw toLdapError(err, {
        operation: 'search',
        dn: base,
        ...(this.bindDn ? { bindDn: this.bindDn } : {}),
      });
    } finally {
      // A caller that stopped early: the page asked for ahead arrives before the connection is let go.
      if (ahead) await ahead.catch(() => undefined);
      this.release(conn);
    }
  }

  /** Reads one entry by DN; `undefined` when it does not exist. */
  async read(dn: string, attributes: string[] = ['*']): Promise<LdapEntry | undefined> {
    try {
      const found = await this.use((c) => c.search(dn, { scope: 'base', attributes }), {
        operation: 'search',
        dn,
      });
      const first = found.searchEntries[0];
      return first ? toLdapEntry(first) : undefined;
    } catch (err) {
      if (err instanceof LdapError && err.code === 32) return undefined;
      throw err;
    }
  }

  /**
   * Finds the one entry under `base` whose `attribute` equals `value`;
   * `undefined` when none does. Throws a permanent error when several do.
   */
  async findOne(
    base: string,
    attribute: string,
    value: string,
    attributes: string[] = ['*'],
    scope: 'one' | 'sub' = 'sub',
  ): Promise<LdapEntry | undefined> {
    // At most two answers tell "none", "one" and "more than one" apart.
    const found = (
      await this.use(
        (c) => c.search(base, { scope, filter: eq(attribute, value), attributes, sizeLimit: 2 }),
        {
          operation: 'search',
          dn: base,
          attributes: [attribute],
        },
      )
    ).searchEntries.map(toLdapEntry);
    if (found.length > 1) {
      throw severalEntries(
        base,
        attribute,
        value,
        found.map((e) => e.dn),
      );
    }
    return found[0];
  }

  /** Adds an entry. */
  async add(dn: string, attributes: Record<string, string[]>, controls?: Control[]): Promise<void> {
    this.snapshot?.touched(dn);
    const attrs = Object.entries(attributes)
      .filter(([, v]) => v.length > 0)
      .map(([type, values]) => new Attribute({ type, values }));
    await this.use((c) => c.add(dn, attrs, controls), {
      operation: 'add',
      dn,
      attributes: Object.keys(attributes),
      write: true,
    });
  }

  /** Modifies an entry. */
  async modify(dn: string, changes: Modification[], controls?: Control[]): Promise<void> {
    if (changes.length === 0) return;
    this.snapshot?.touched(dn);
    const list = changes.map(
      (m) =>
        new Change({ operation: m.op, modification: new Attribute({ type: m.attribute, values: m.values }) }),
    );
    const attributes = [...new Set(changes.map((m) => m.attribute))];
    await this.use((c) => c.modify(dn, list, controls), { operation: 'modify', dn, attributes, write: true });
  }

  /** Deletes an entry. */
  async del(dn: string, controls?: Control[]): Promise<void> {
    this.snapshot?.touched(dn);
    await this.use((c) => c.del(dn, controls), { operation: 'delete', dn, write: true });
  }

  /**
   * Renames or moves an entry, keeping its attributes (modifyDN with deleteOldRdn).
   * The new DN is re-escaped canonically first: ldapts splits it at its first
   * unescaped comma into the new RDN and the new superior.
   */
  async modifyDN(dn: string, newDn: string, controls?: Control[]): Promise<void> {
    this.snapshot?.touched(dn);
    this.snapshot?.touched(newDn);
    await this.use((c) => c.modifyDN(dn, canonicalDn(newDn), controls), {
      operation: 'modifyDN',
      dn: `${dn} -> ${newDn}`,
      write: true,
    });
  }
}
