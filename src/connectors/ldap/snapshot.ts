/**
 * The directory snapshot: the population a task manages (people by key, groups
 * with their members), read once per run with paged searches and shared by
 * every check, dry run included. Writes never trust it blindly (see the steps);
 * what the server acknowledged is applied to it, anything in doubt is read again.
 */
import { normalizeDn } from './dn.ts';
import { EntryIndex, type EntryPopulation } from './entry-index.ts';
import { resultCode } from './errors.ts';
import { GroupIndex, type GroupPopulation } from './group-index.ts';
import type { FindBy } from './locate.ts';
import type { LdapPool } from './pool.ts';

/**
 * What the snapshot holds, and how much of it.
 *
 * Memory (measured by `npm run bench`, Node 20, inetOrgPerson entries of about 12
 * attributes, each person in `staff` and one department group, every 7th in a
 * third): about 0.6 KB per person and 0.1 KB per member value, so 10,000 people
 * cost about 9 MB and 50,000 about 42 MB. Beyond `maxEntries` people (or
 * `maxMembers` member values), or when the server refuses to return them all
 * (`sizeLimitExceeded`), that part of the snapshot is not held, with a warning:
 * each record's entry (or its groups) is read from the server when it is checked,
 * once per record (its steps share the read), and the last 4,096 are kept.
 *
 * @example
 * ldap.connect(setup, config, {
 *   snapshot: {
 *     entries: { base: 'ou=people,dc=example,dc=com', attribute: 'uid' },
 *     groups: { base: 'ou=groups,dc=example,dc=com' },
 *   },
 * })
 */
export interface SnapshotOptions {
  /**
   * Entries found by a key attribute: `ensureEntry`, `ensureRenamed` and
   * `ensureAbsent` with a `FindBy` of the same base, attribute and scope check
   * against it (and `listValues` of that attribute lists from it).
   */
  entries?: EntryPopulation;
  /** Groups with their members: `ensureMemberships` with the same base checks against it. */
  groups?: GroupPopulation;
  /** Most entries held; beyond, per-record reads. @default 100_000 */
  maxEntries?: number;
  /** Most member values held over all groups; beyond, one search per record for its groups. @default 1_000_000 */
  maxMembers?: number;
}

/** What the snapshot did in this run, for the operator and the bench. */
export interface SnapshotStats {
  entries: number;
  memberValues: number;
  /** Reads made because the snapshot did not hold the answer, or it was in doubt. */
  liveReads: number;
  /** Writes that met an entry changed by another writer since the snapshot; each record was checked again. */
  conflicts: number;
  /** `full`, or `lazy` (over the size limit: per-record reads). */
  mode: { entries?: 'full' | 'lazy'; groups?: 'full' | 'lazy' };
}

/** The snapshot of one pool. Made by `pool.useSnapshot(options)`, loaded at its first use (or {@link DirectorySnapshot.prefetch}). */
export class DirectorySnapshot {
  readonly entries: EntryIndex | undefined;
  readonly groups: GroupIndex | undefined;
  private loading: Promise<void> | undefined;
  private loaded = false;
  /** The background read `prefetch` started, until a check has met its outcome. */
  private prefetched: Promise<void> | undefined;
  private readonly owned = new Map<string, number>();
  private readonly writtenWhileLoading: string[] = [];

  constructor(
    pool: LdapPool,
    private readonly options: SnapshotOptions,
    private readonly warn: (message: string) => void = () => {},
  ) {
    this.entries = options.entries ? new EntryIndex(pool, options.entries) : undefined;
    this.groups = options.groups ? new GroupIndex(pool, options.groups) : undefined;
  }

  /**
   * Starts reading the populations now, in the background: the first check waits
   * for it instead of starting it. A failure is kept for the first check that
   * asks (it fails that attempt, which is retried or reported like any read of
   * its own), never swallowed; the checks after it read again.
   */
  prefetch(): void {
    const reading = this.ready();
    reading.catch(() => undefined);
    this.prefetched = reading;
  }

  /** Reads the populations (once; again after a failed attempt). */
  ready(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    const prefetched = this.prefetched;
    if (prefetched) {
      this.prefetched = undefined;
      return prefetched;
    }
    this.loading ??= this.load().then(
      () => {
        this.loaded = true;
        for (const dn of this.writtenWhileLoading.splice(0)) this.mark(dn);
      },
      (err) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  private async load(): Promise<void> {
    const { entries, groups } = this;
    await Promise.all([
      entries &&
        this.bounded(
          entries,
          this.options.maxEntries ?? 100_000,
          'entries',
          "each record's entry is read from the server when it is checked instead",
        ),
      groups &&
        this.bounded(
          groups,
          this.options.maxMembers ?? 1_000_000,
          'member values',
          "each record's groups are searched on the server when it is checked instead",
        ),
    ]);
  }

  /** Loads one index; beyond the limit (ours or the server's) it stays lazy, with a warning. */
  private async bounded(index: EntryIndex | GroupIndex, max: number, what: string, instead: string) {
    let why: string | undefined;
    try {
      if (!(await index.load(max))) why = `more than ${max} ${what}`;
    } catch (err) {
      const code = resultCode(err);
      if (code !== 4 && code !== 11) throw err;
      index.goLazy();
      why = `the server refused to return all ${what} (${code === 4 ? 'sizeLimitExceeded' : 'adminLimitExceeded'})`;
    }
    if (why) this.warn(`LDAP snapshot: ${why} under ${index.population.base}; ${instead}`);
  }

  /** The entry index a step's `FindBy` can use when it is loaded already (no wait), else undefined. */
  loadedEntriesFor(find: FindBy): EntryIndex | undefined {
    return this.loaded && this.entries?.covers(find) ? this.entries : undefined;
  }

  /** The group index a memberships step under `base` can use when it is loaded already, else undefined. */
  loadedGroupsFor(base: string, attribute: string, objectClass: string): GroupIndex | undefined {
    return this.loaded && this.groups?.covers(base, attribute, objectClass) ? this.groups : undefined;
  }

  /** The entry index a step's `FindBy` can use (loaded), or undefined. */
  async entriesFor(find: FindBy): Promise<EntryIndex | undefined> {
    if (!this.entries?.covers(find)) return undefined;
    await this.ready();
    return this.entries;
  }

  /** The group index a memberships step under `base` can use (loaded), or undefined. */
  async groupsFor(base: string, attribute: string, objectClass: string): Promise<GroupIndex | undefined> {
    if (!this.groups?.covers(base, attribute, objectClass)) return undefined;
    await this.ready();
    return this.groups;
  }

  /** The loaded group index that holds the group `dn`, for the member batcher. */
  groupIndexOf(dn: string, attribute: string): GroupIndex | undefined {
    const g = this.groups;
    if (!this.loaded || !g || g.attribute.toLowerCase() !== attribute.toLowerCase()) return undefined;
    return g.under(normalizeDn(dn)) ? g : undefined;
  }

  /**
   * A step is about to write `dn` and will tell the snapshot what the server
   * acknowledged (or read it again): the pool's write hook leaves it alone until
   * the returned release is called.
   */
  own(dn: string): () => void {
    const n = normalizeDn(dn);
    this.owned.set(n, (this.owned.get(n) ?? 0) + 1);
    return () => {
      const left = (this.owned.get(n) ?? 1) - 1;
      if (left <= 0) this.owned.delete(n);
      else this.owned.set(n, left);
    };
  }

  /** The pool is about to write `dn`: unless a step owns that write, the snapshot stops trusting it. */
  touched(dn: string): void {
    let n: string;
    try {
      n = normalizeDn(dn);
    } catch {
      return;
    }
    if (this.owned.has(n)) return;
    if (!this.loaded && this.loading) this.writtenWhileLoading.push(n);
    this.mark(n);
  }

  private mark(n: string): void {
    if (this.entries?.under(n)) this.entries.touched(n);
    if (this.groups?.under(n)) this.groups.touched(n);
  }

  stats(): SnapshotStats {
    return {
      entries: this.entries?.size ?? 0,
      memberValues: this.groups?.values ?? 0,
      liveReads: (this.entries?.liveReads ?? 0) + (this.groups?.liveReads ?? 0),
      conflicts: this.entries?.conflicts ?? 0,
      mode: {
        ...(this.entries ? { entries: this.entries.mode } : {}),
        ...(this.groups ? { groups: this.groups.mode } : {}),
      },
    };
  }
}
