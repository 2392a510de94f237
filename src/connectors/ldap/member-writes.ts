/**
 * Coalesced member writes: the member values that concurrent records add to or
 * remove from one group go to the server in one modify, instead of one modify
 * per record (each rewrites the whole group entry, so a `staff` group of N
 * members costs N² without it).
 *
 * - A batch holds at most `maxValues` values and waits at most `delayMs` for more
 *   (from its first value, or from the return of the group's previous modify: one
 *   modify in flight per group); a full batch goes out at once. Each modify
 *   rewrites the whole group at the server, so waiting pays: 10,000 people (npm run
 *   bench) take ~700 group writes and slapd 2.4 s of CPU with 25 ms, against ~1,800
 *   and 3.0 s with 2 ms, for the same idem CPU. But each record waits for its
 *   batch, so the wait follows the records in flight (an eighth of them in ms, 2 to
 *   25): with few in flight a long wait would only slow the run.
 * - Each caller's promise resolves only when the server acknowledged the modify
 *   that carried its values, so a record is never `changed` before its write landed.
 * - A batch the server rejects with a result code about the values (16, 20, 21,
 *   65...) is sent again value by value, so one bad value fails only its record;
 *   a lost connection or a busy server fails the whole batch (each record's retry
 *   re-checks), and the values are read again before they are trusted.
 * - A missing group is created (`groupOfNames`) with the batch's values; a
 *   `groupOfNames` that would be left empty keeps the placeholder value when one
 *   is given, and the placeholder leaves when a real member joins. Whether a group
 *   holds it is known from the snapshot, or asked once per group per run.
 */

import { kindOf } from '../../core/errors.ts';
import { permissiveModify } from './controls.ts';
import { normalizeDn } from './dn.ts';
import { comparable } from './entry.ts';
import { resultCode, TRANSIENT_CODES } from './errors.ts';
import type { GroupIndex } from './group-index.ts';
import type { LdapPool, Modification } from './pool.ts';
import { changeValues, valuesPresent } from './value-changes.ts';

/** How a group is written. */
export interface MemberWriteOptions {
  /** The attributes of a missing group given its first values; without it a missing group is an error. */
  create?: (values: string[]) => Record<string, string[]>;
  /** A value that keeps an emptied group valid (see `EnsureMembersOptions.placeholder`). */
  placeholder?: string;
}

/**
 * Batching of member writes.
 * @example { maxValues: 1000, delayMs: 25 }
 */
export interface MemberBatchOptions {
  /** Most values in one modify. @default 1000 */
  maxValues?: number;
  /**
   * Milliseconds a batch waits for more values (a full one does not wait).
   * @default an eighth of `recordsInFlight` ms, from 2 to 25 (25 when it is not known):
   *   a record waits for its batch, so a longer wait than that would hold the run
   *   below about 8,000 records/s (at 4 in flight a 25 ms wait gave 134 records/s).
   */
  delayMs?: number;
  /** How many records the run has in flight (its concurrency), for the default `delayMs`. */
  recordsInFlight?: number | undefined;
}

/** The default `delayMs` for `recordsInFlight` records in flight. */
export function batchDelayMs(recordsInFlight: number | undefined): number {
  if (recordsInFlight === undefined) return 25;
  return Math.min(25, Math.max(2, recordsInFlight / 8));
}

/** Counts since the pool opened: modifies sent, values they carried, batches resent value by value. */
export interface MemberWriteStats {
  batches: number;
  values: number;
  fallbacks: number;
}

interface Pending {
  op: 'add' | 'remove';
  value: string;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

interface Queue {
  dn: string;
  attribute: string;
  options: MemberWriteOptions;
  batches: Map<string, Pending>[];
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Whether the group holds the placeholder, as far as this run knows. */
  placeholderHeld: boolean | undefined;
}

/** Result codes about the bind or the server, not about a value: the whole batch fails with them. */
const NOT_ABOUT_VALUES = new Set([8, 13, 48, 49, 50, 53]);

async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** The member writes of one pool. */
export class MemberWrites {
  private readonly queues = new Map<string, Queue>();
  private readonly maxValues: number;
  private readonly delayMs: number;
  readonly stats: MemberWriteStats = { batches: 0, values: 0, fallbacks: 0 };

  constructor(
    private readonly pool: LdapPool,
    options: MemberBatchOptions = {},
  ) {
    this.maxValues = Math.max(1, options.maxValues ?? 1000);
    this.delayMs = Math.max(0, options.delayMs ?? batchDelayMs(options.recordsInFlight));
  }

  /**
   * Adds and removes values of a group's member attribute; resolves when the
   * server acknowledged every one of them, rejects with the first failure
   * (after all of them settled).
   */
  change(
    groupDn: string,
    attribute: string,
    change: { add?: string[]; remove?: string[] },
    options: MemberWriteOptions = {},
  ): Promise<void> {
    const q = this.queue(groupDn, attribute, options);
    const done: Promise<void>[] = [];
    for (const v of change.add ?? []) done.push(this.enqueue(q, 'add', v));
    for (const v of change.remove ?? []) done.push(this.enqueue(q, 'remove', v));
    this.schedule(q);
    return settleAll(done);
  }

  private queue(dn: string, attribute: string, options: MemberWriteOptions): Queue {
    const key = `${normalizeDn(dn)}\n${attribute.toLowerCase()}`;
    let q = this.queues.get(key);
    if (!q) {
      q = {
        dn,
        attribute,
        options: {},
        batches: [],
        busy: false,
        timer: undefined,
        placeholderHeld: undefined,
      };
      this.queues.set(key, q);
    }
    if (options.create && !q.options.create) q.options.create = options.create;
    if (options.placeholder !== undefined && q.options.placeholder === undefined)
      q.options.placeholder = options.placeholder;
    return q;
  }

  private enqueue(q: Queue, op: 'add' | 'remove', value: string): Promise<void> {
    const key = comparable(q.attribute, value);
    let batch = q.batches[q.batches.length - 1];
    const there = batch?.get(key);
    if (!batch || (there && there.op !== op) || (!there && batch.size >= this.maxValues)) {
      batch = new Map();
      q.batches.push(batch);
    }
    return new Promise((resolve, reject) => {
      const pending = batch.get(key) ?? { op, value, waiters: [] };
      pending.waiters.push({ resolve, reject });
      batch.set(key, pending);
    });
  }

  private schedule(q: Queue): void {
    if (q.busy || q.batches.length === 0) return;
    const first = q.batches[0] as Map<string, Pending>;
    if (q.batches.length > 1 || first.size >= this.maxValues) {
      void this.flush(q);
      return;
    }
    if (q.timer) return;
    q.timer = setTimeout(() => {
      q.timer = undefined;
      void this.flush(q);
    }, this.delayMs);
  }

  private async flush(q: Queue): Promise<void> {
    if (q.busy) return; // the modify in flight sends what is queued when it returns
    if (q.timer) {
      clearTimeout(q.timer);
      q.timer = undefined;
    }
    const batch = q.batches.shift();
    if (!batch) return;
    q.busy = true;
    try {
      await this.write(q, batch);
    } catch (err) {
      // A bug, not a server answer: every waiter still hears of it (resolved ones ignore it).
      for (const p of batch.values()) for (const w of p.waiters) w.reject(err);
    } finally {
      q.busy = false;
      // What arrived while this modify was in flight goes out together: at once when a
      // batch is full, else once the batch waited `delayMs` for more.
      this.schedule(q);
    }
  }

  private async write(q: Queue, batch: Map<string, Pending>): Promise<void> {
    const all = [...batch.values()];
    const adds = all.filter((p) => p.op === 'add').map((p) => p.value);
    const removes = all.filter((p) => p.op === 'remove').map((p) => p.value);
    const index = this.pool.snapshot?.groupIndexOf(q.dn, q.attribute);
    const release = this.pool.snapshot?.own(q.dn);
    try {
      this.stats.batches++;
      this.stats.values += all.length;
      const done = await this.send(q, adds, removes, index);
      index?.applied(q.dn, done.added, done.removed, done.created);
      for (const p of all) for (const w of p.waiters) w.resolve();
    } catch (err) {
      const code = resultCode(err);
      if (code === undefined || TRANSIENT_CODES.has(code) || NOT_ABOUT_VALUES.has(code)) {
        q.placeholderHeld = undefined;
        index?.unsure(q.dn, [...adds, ...removes]);
        for (const p of all) for (const w of p.waiters) w.reject(err);
        return;
      }
      this.stats.fallbacks++;
      await this.oneByOne(q, all, index);
    } finally {
      release?.();
    }
  }

  /** The batch again, one value per modify: a bad value fails only the records waiting for it. */
  private async oneByOne(q: Queue, all: Pending[], index: GroupIndex | undefined): Promise<void> {
    q.placeholderHeld = undefined;
    for (const p of all) {
      const change = p.op === 'add' ? { add: [p.value] } : { remove: [p.value] };
      try {
        await changeValues(this.pool, q.dn, q.attribute, change, q.options);
        index?.applied(q.dn, change.add ?? [], change.remove ?? []);
        for (const w of p.waiters) w.resolve();
      } catch (err) {
        if (kindOf(err) !== 'permanent') index?.unsure(q.dn, [p.value]);
        for (const w of p.waiters) w.reject(err);
      }
    }
  }

  /** One modify (or the add of a new group) carrying the batch; what it changed. */
  private async send(
    q: Queue,
    adds: string[],
    removes: string[],
    index: GroupIndex | undefined,
  ): Promise<{ added: string[]; removed: string[]; created: boolean }> {
    const { dn, attribute } = q;
    const { create, placeholder } = q.options;
    if (adds.length > 0 && create && index?.exists(dn) === false) {
      const created = await this.create(q, adds);
      if (created) return created;
    }
    const permissive = await this.pool.usePermissiveModify();
    const held = placeholder === undefined ? false : await this.placeholderHeld(q, index, permissive);
    let drop = placeholder !== undefined && adds.length > 0 && held !== false;
    const count = index?.count(dn);
    let keep =
      placeholder !== undefined &&
      count !== undefined &&
      count + adds.length - removes.length - (drop ? 1 : 0) <= 0;
    if (keep) drop = false;
    for (let round = 0; round < 3; round++) {
      const mods: Modification[] = [];
      if (adds.length > 0)
        mods.push({ op: 'add', attribute, values: keep ? [...adds, placeholder as string] : adds });
      else if (keep) mods.push({ op: 'add', attribute, values: [placeholder as string] });
      if (removes.length > 0 || drop) {
        mods.push({ op: 'delete', attribute, values: drop ? [...removes, placeholder as string] : removes });
      }
      try {
        await this.pool.modify(dn, mods, permissive ? [permissiveModify()] : undefined);
        q.placeholderHeld = keep ? true : drop ? false : held;
        const p = placeholder === undefined ? [] : [placeholder];
        return {
          added: keep ? [...adds, ...p] : adds,
          removed: drop ? [...removes, ...p] : removes,
          created: false,
        };
      } catch (err) {
        const code = resultCode(err);
        if (code === 32) {
          if (adds.length === 0) return { added: [], removed: [], created: false }; // gone: nothing to remove from
          const created = create ? await this.create(q, adds) : undefined;
          if (created) return created;
          throw err;
        }
        if (code === 65 && placeholder !== undefined && !keep) {
          keep = true; // the last real members leave: the placeholder keeps the group valid
          drop = false;
          continue;
        }
        if (code === 16 && drop && !permissive && removes.length === 0) {
          drop = false; // the placeholder was not there after all
          continue;
        }
        throw err;
      }
    }
    throw new Error(`ldap modify ${dn} [${attribute}]: could not settle the placeholder value`);
  }

  /** Adds the group with the batch's values; undefined when it exists already (68). */
  private async create(
    q: Queue,
    adds: string[],
  ): Promise<{ added: string[]; removed: string[]; created: boolean } | undefined> {
    try {
      await this.pool.add(q.dn, (q.options.create as NonNullable<MemberWriteOptions['create']>)(adds));
      q.placeholderHeld = false;
      return { added: adds, removed: [], created: true };
    } catch (err) {
      if (resultCode(err) === 68) return undefined;
      throw err;
    }
  }

  /** Whether the group holds the placeholder: from this run, the snapshot, or one read per group per run. */
  private async placeholderHeld(
    q: Queue,
    index: GroupIndex | undefined,
    permissive: boolean,
  ): Promise<boolean | undefined> {
    if (q.placeholderHeld !== undefined) return q.placeholderHeld;
    const placeholder = q.options.placeholder as string;
    const known = index?.holds(q.dn, placeholder);
    if (known !== undefined || permissive) return known; // permissive: deleting a missing value is fine
    const present = await valuesPresent(this.pool, q.dn, q.attribute, [placeholder]);
    q.placeholderHeld = present?.get(placeholder) === true;
    return q.placeholderHeld;
  }
}
