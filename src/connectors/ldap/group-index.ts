/**
 * The groups of a snapshot: every group under a base with its members, read
 * once, kept as "member → the groups that hold it" plus a member count per
 * group, so a membership check is a lookup, and the member batcher knows when a
 * group is new or about to be emptied. Acknowledged member writes update it.
 */
import { normalizeDn, sameDnAs } from './dn.ts';
import { and, eq } from './filter.ts';
import type { LdapPool } from './pool.ts';

/**
 * Which groups a snapshot holds.
 * @example { base: 'ou=groups,dc=example,dc=com' }
 */
export interface GroupPopulation {
  base: string;
  /** The member attribute. @default 'member' */
  attribute?: string;
  /** The group object class. @default 'groupOfNames' */
  objectClass?: string;
}

/** Members whose groups are kept when the population is too big to hold. */
export const LAZY_MEMBER_CACHE = 4096;

interface Group {
  /** The DN as the server spells it. */
  dn: string;
  /** How many values the member attribute holds (placeholder included); undefined when not known. */
  count: number | undefined;
}

function norm(dn: string): string {
  try {
    return normalizeDn(dn);
  } catch {
    return dn; // not a DN: compared as written
  }
}

/** Member → groups, for one group population: all of it (`full`) or the recently asked members (`lazy`). */
export class GroupIndex {
  mode: 'full' | 'lazy' = 'full';
  private readonly groups = new Map<string, Group>();
  private readonly memberOf = new Map<string, string[]>();
  private readonly staleMembers = new Set<string>();
  /** Groups written outside the member batcher (a task's own `ldap.modify`): their members are read live. */
  private readonly touchedGroups = new Set<string>();
  private readonly baseNorm: string;
  private readonly isBase: (dn: string) => boolean;
  readonly attribute: string;
  readonly objectClass: string;
  /** Live searches made (lazy mode, doubts, outside writes). */
  liveReads = 0;

  constructor(
    private readonly pool: LdapPool,
    readonly population: GroupPopulation,
  ) {
    this.baseNorm = normalizeDn(population.base);
    this.isBase = sameDnAs(this.baseNorm);
    this.attribute = population.attribute ?? 'member';
    this.objectClass = population.objectClass ?? 'groupOfNames';
  }

  /** Member values held (the memory it costs grows with this). */
  get values(): number {
    let n = 0;
    for (const g of this.memberOf.values()) n += g.length;
    return n;
  }

  /** True when a memberships step with this base, attribute and object class can use it. */
  covers(base: string, attribute: string, objectClass: string): boolean {
    return (
      attribute.toLowerCase() === this.attribute.toLowerCase() &&
      objectClass.toLowerCase() === this.objectClass.toLowerCase() &&
      this.isBase(base)
    );
  }

  /** True when a DN is under the base. */
  under(dnNorm: string): boolean {
    return dnNorm.endsWith(`,${this.baseNorm}`);
  }

  /** Reads every group with its members; false (holding nothing: `lazy`) beyond `max` member values. */
  async load(max: number): Promise<boolean> {
    let total = 0;
    this.groups.clear(); // what a failed earlier attempt read
    this.memberOf.clear();
    const attribute = this.attribute.toLowerCase();
    for await (const page of this.pool.searchRawPages(this.population.base, {
      scope: 'sub',
      filter: eq('objectClass', this.objectClass),
      attributes: [this.attribute],
      pageSize: 200,
    })) {
      for (const entry of page) {
        const g = norm(entry.dn);
        const name = Object.keys(entry).find((k) => k.toLowerCase() === attribute);
        const raw = name === undefined ? [] : entry[name];
        const members = (Array.isArray(raw) ? raw : [raw]).map(String);
        total += members.length;
        this.groups.set(g, { dn: entry.dn, count: members.length });
        for (const m of members) this.link(norm(m), g);
      }
      if (total > max) {
        this.goLazy();
        return false;
      }
    }
    return true;
  }

  /** Holds nothing and searches on demand from now on. */
  goLazy(): void {
    this.groups.clear();
    this.memberOf.clear();
    this.mode = 'lazy';
  }

  private link(m: string, g: string): boolean {
    const list = this.memberOf.get(m);
    if (!list) this.memberOf.set(m, [g]);
    else if (!list.includes(g)) list.push(g);
    else return false;
    return true;
  }

  /** The DNs of the groups that hold `memberDn` (as the live search `(member=<dn>)` would find them). */
  async groupsOf(memberDn: string): Promise<string[]> {
    const known = this.peekGroupsOf(memberDn);
    if (known) return known;
    const list = await this.live(memberDn, norm(memberDn));
    return list.map((g) => this.groups.get(g)?.dn ?? g);
  }

  /** What {@link groupsOf} gives, when it needs no search (the one place that says when the snapshot is trusted); undefined when it does. */
  peekGroupsOf(memberDn: string): string[] | undefined {
    if (this.touchedGroups.size > 0) return undefined;
    const m = norm(memberDn);
    const cached = this.memberOf.get(m);
    if (this.staleMembers.has(m) || (cached === undefined && this.mode !== 'full')) return undefined;
    return (cached ?? []).map((g) => this.groups.get(g)?.dn ?? g);
  }

  private async live(memberDn: string, m: string): Promise<string[]> {
    this.liveReads++;
    const found = await this.pool.search(this.population.base, {
      scope: 'sub',
      filter: and(eq('objectClass', this.objectClass), eq(this.attribute, memberDn)),
      attributes: ['1.1'],
    });
    const now = found.map((e) => {
      const g = norm(e.dn);
      if (!this.groups.has(g)) this.groups.set(g, { dn: e.dn, count: undefined });
      return g;
    });
    const before = this.memberOf.get(m) ?? [];
    for (const g of now) if (!before.includes(g)) this.bump(g, 1);
    for (const g of before) if (!now.includes(g)) this.bump(g, -1);
    this.staleMembers.delete(m);
    this.memberOf.delete(m);
    this.memberOf.set(m, now);
    this.evict();
    return now;
  }

  private bump(g: string, by: number): void {
    const group = this.groups.get(g);
    if (group?.count !== undefined) group.count += by;
  }

  private evict(): void {
    if (this.mode !== 'lazy') return;
    for (const m of this.memberOf.keys()) {
      if (this.memberOf.size <= LAZY_MEMBER_CACHE) break;
      this.memberOf.delete(m);
    }
  }

  /** Whether the group exists: known in `full` mode, and for groups seen or made in this run. */
  exists(groupDn: string): boolean | undefined {
    if (this.groups.has(norm(groupDn))) return true;
    return this.mode === 'full' ? false : undefined;
  }

  /** How many values the group's member attribute holds, when known. */
  count(groupDn: string): number | undefined {
    return this.groups.get(norm(groupDn))?.count;
  }

  /** Whether the group holds the value, when known. */
  holds(groupDn: string, value: string): boolean | undefined {
    const m = norm(value);
    if (this.staleMembers.has(m) || this.touchedGroups.has(norm(groupDn))) return undefined;
    const list = this.memberOf.get(m);
    if (list) return list.includes(norm(groupDn));
    return this.mode === 'full' ? false : undefined;
  }

  /** The server acknowledged these value changes (`created`: the group was added with `added`). */
  applied(groupDn: string, added: string[], removed: string[], created = false): void {
    const g = norm(groupDn);
    let group = this.groups.get(g);
    if (!group || created) {
      group = { dn: groupDn, count: created ? added.length : undefined };
      this.groups.set(g, group);
    }
    for (const v of added) {
      const m = norm(v);
      if (this.mode === 'lazy' && !this.memberOf.has(m)) continue;
      if (this.link(m, g) && !created) this.bump(g, 1);
    }
    for (const v of removed) {
      const m = norm(v);
      const list = this.memberOf.get(m);
      if (!list?.includes(g)) continue;
      list.splice(list.indexOf(g), 1);
      this.bump(g, -1);
    }
    this.touchedGroups.delete(g);
  }

  /** The outcome of a write of these values is unknown: read their memberships again before trusting them. */
  unsure(groupDn: string, values: string[]): void {
    for (const v of values) this.staleMembers.add(norm(v));
    const group = this.groups.get(norm(groupDn));
    if (group) group.count = undefined;
  }

  /** A write to this group is about to go out. */
  touched(dnNorm: string): void {
    this.touchedGroups.add(dnNorm);
  }
}
