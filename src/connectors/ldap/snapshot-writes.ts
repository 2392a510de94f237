/**
 * Writes to entries a check saw in the snapshot. None trusts the snapshot
 * blindly: a modify, delete or move asserts the entry's `entryCSN` (Assertion
 * control, RFC 4528: any change by anyone since fails it with 122), an add fails
 * on an entry that exists (68). Either way the key is read again from the server
 * and a transient error says so: the engine's retry checks the record again
 * against what the server holds, so nothing is lost and nothing stale is written.
 * What the server acknowledged is applied to the snapshot, so the engine's
 * verifying re-check needs no read.
 */
import type { Control } from 'ldapts';
import { kindOf } from '../../core/errors.ts';
import type { StepEnv } from '../../core/step.ts';
import { assertion } from './controls.ts';
import { dnEquals } from './dn.ts';
import { type LdapEntry, valuesOf } from './entry.ts';
import { type EntryIndex, SnapshotConflict } from './entry-index.ts';
import { type LdapOperation, resultCode, STALE_CODES } from './errors.ts';
import { and, eq } from './filter.ts';
import type { EntryRef } from './locate.ts';
import type { LdapPool, Modification } from './pool.ts';

/**
 * Runs a write of a step's apply; a conflict with another writer is noted on the
 * record (and rethrown: the engine retries after a re-check).
 */
export async function noting(env: Pick<StepEnv, 'note'>, write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (err instanceof SnapshotConflict) {
      env.note(
        `${err.dn} changed since the run's snapshot was read (another writer): checked again against the server`,
      );
    }
    throw err;
  }
}

/** The snapshot's entry index for a step's target, when it has one (loaded). */
export async function indexFor(pool: LdapPool, ref: EntryRef): Promise<EntryIndex | undefined> {
  if (typeof ref === 'string' || !pool.snapshot) return undefined;
  return pool.snapshot.entriesFor(ref);
}

/** Same attributes (ignoring `entryCSN`), values as sets. */
function sameAttributes(a: LdapEntry, b: LdapEntry): boolean {
  const keys = (e: LdapEntry) => Object.keys(e.attrs).filter((k) => k !== 'entrycsn');
  const ka = keys(a);
  if (ka.length !== keys(b).length) return false;
  return ka.every((k) => {
    const x = a.attrs[k] ?? [];
    const y = new Set(b.attrs[k] ?? []);
    return x.length === y.size && x.every((v) => y.has(v));
  });
}

/**
 * The controls that make a write to `seen` conditional on it being unchanged:
 * `entryCSN` (and `entryUUID`) asserted. When its CSN is not known (written in
 * this run) it is read again first; when the server lacks the Assertion control
 * the entry is read again and compared instead. Throws the conflict when it changed.
 */
async function guard(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  seen: LdapEntry,
  operation: LdapOperation,
): Promise<Control[] | undefined> {
  const asserted = await pool.supportsAssertion();
  let csn = asserted ? valuesOf(seen, 'entryCSN')[0] : undefined;
  if (csn === undefined) {
    await index.refresh(value);
    const now = await index.get(value);
    if (!now || !dnEquals(now.dn, seen.dn) || !sameAttributes(now, seen)) {
      throw await index.conflict(value, operation, seen.dn, undefined, undefined);
    }
    if (!asserted) return undefined;
    csn = valuesOf(now, 'entryCSN')[0];
    if (csn === undefined) return undefined;
  }
  const uuid = valuesOf(seen, 'entryUUID')[0];
  const filter = uuid ? and(eq('entryUUID', uuid), eq('entryCSN', csn)) : eq('entryCSN', csn);
  return [assertion(filter)];
}

/** What a failed write means for the snapshot: a conflict (read again), a doubt, or the error as is. */
async function failed(
  index: EntryIndex,
  value: string,
  operation: LdapOperation,
  dn: string,
  err: unknown,
): Promise<unknown> {
  const code = resultCode(err);
  if (code === 32 && operation === 'delete') return err; // gone already: the caller decides
  if (code !== undefined && (STALE_CODES.has(code) || (code === 32 && operation !== 'add'))) {
    return index.conflict(value, operation, dn, err, code);
  }
  if (kindOf(err) !== 'permanent') index.unsure(value);
  return err;
}

/** Runs one write the snapshot is told about; its failure is turned into a conflict where it is one. */
async function tracked(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  operation: LdapOperation,
  dns: string[],
  write: () => Promise<void>,
): Promise<void> {
  const releases = dns.map((dn) => pool.snapshot?.own(dn));
  try {
    await write();
  } catch (err) {
    throw await failed(index, value, operation, dns[0] as string, err);
  } finally {
    for (const release of releases) release?.();
  }
}

/** Adds an entry the snapshot does not hold (68, it exists after all: a conflict). */
export async function addEntry(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  dn: string,
  attrs: Record<string, string[]>,
): Promise<void> {
  await tracked(pool, index, value, 'add', [dn], () => pool.add(dn, attrs));
  index.added(value, dn, attrs);
}

/** Modifies the entry the check saw, if it is unchanged since. */
export async function modifyEntry(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  seen: LdapEntry,
  mods: Modification[],
): Promise<void> {
  const controls = await guard(pool, index, value, seen, 'modify');
  await tracked(pool, index, value, 'modify', [seen.dn], () => pool.modify(seen.dn, mods, controls));
  index.modified(value, seen, mods);
}

/** Deletes the entry the check saw, if it is unchanged since; gone already is fine. */
export async function deleteEntry(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  seen: LdapEntry,
): Promise<void> {
  const controls = await guard(pool, index, value, seen, 'delete');
  try {
    await tracked(pool, index, value, 'delete', [seen.dn], () => pool.del(seen.dn, controls));
  } catch (err) {
    if (resultCode(err) !== 32) throw err;
  }
  index.deleted(value, seen.dn);
}

/** Moves the entry the check saw to `to`, if it is unchanged since. */
export async function moveEntry(
  pool: LdapPool,
  index: EntryIndex,
  value: string,
  seen: LdapEntry,
  to: string,
): Promise<void> {
  const controls = await guard(pool, index, value, seen, 'modifyDN');
  await tracked(pool, index, value, 'modifyDN', [seen.dn, to], () => pool.modifyDN(seen.dn, to, controls));
  index.moved(value, seen, to);
}
