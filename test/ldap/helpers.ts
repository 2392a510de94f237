/** Shared helpers for the LDAP suites. */

import type { LdapConfig } from '../../src/connectors/ldap/config.ts';
import { LdapError } from '../../src/connectors/ldap/errors.ts';
import type { LdapContext } from '../../src/connectors/ldap/locate.ts';
import { LdapPool } from '../../src/connectors/ldap/pool.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { Diff } from '../../src/core/diff.ts';
import { classifyWith } from '../../src/core/errors.ts';
import { Journal } from '../../src/core/journal.ts';
import type { Reporter } from '../../src/core/reporter.ts';
import type { Step } from '../../src/core/step.ts';
import { runStep, type StepResult } from '../../src/core/step-runner.ts';
import { DEFAULT_RETRY, type SetupContext } from '../../src/core/task.ts';
import type { MemoryLedger } from '../../src/ledger/memory-ledger.ts';
import type { Slapd } from '../support/slapd.ts';
import { makeEnv } from '../support/step-env.ts';

/** A SetupContext for calling `connect` directly; it records warnings and cleanups. */
export function fakeSetup(over: Partial<SetupContext> = {}): SetupContext & {
  warnings: string[];
  close(): Promise<void>;
} {
  const warnings: string[] = [];
  const cleanups: (() => unknown)[] = [];
  return {
    taskDir: process.cwd(),
    stateDir: process.cwd(),
    env: {},
    concurrency: 2,
    secret: (v) => v,
    readSecret: () => {
      throw new Error('no secrets in this setup');
    },
    onClose: (fn) => cleanups.push(fn),
    warn: (m) => warnings.push(m),
    warnings,
    async close() {
      for (const fn of cleanups.reverse()) await fn();
    },
    ...over,
  };
}

/** A pool bound as the admin (or the reader) of a test slapd. */
export function poolFor(
  slapd: Slapd,
  over: Partial<LdapConfig> = {},
  as: 'admin' | 'reader' = 'admin',
): LdapPool {
  return new LdapPool(
    {
      url: slapd.url,
      bindDn: as === 'admin' ? slapd.adminDn : slapd.readerDn,
      password: as === 'admin' ? slapd.adminPassword : slapd.readerPassword,
      timeoutMs: 5000,
      connectTimeoutMs: 2000,
      ...over,
    },
    over.poolSize ?? 2,
  );
}

/** Runs a step the way the engine does once: check, apply, re-check. */
export async function converge<D extends Diff>(
  step: Step<unknown, LdapContext, D>,
  ctx: LdapContext,
): Promise<{ diff: D | undefined; after: D | undefined }> {
  const env = makeEnv({ step: step.name });
  const diff = (await step.check(undefined, ctx, env)) ?? undefined;
  if (!diff) return { diff: undefined, after: undefined };
  await step.apply(undefined, ctx, diff, env);
  const after = (await step.check(undefined, ctx, env)) ?? undefined;
  return { diff, after };
}

/** Only the check (a dry run). */
export async function plan<D extends Diff>(
  step: Step<unknown, LdapContext, D>,
  ctx: LdapContext,
): Promise<D | undefined> {
  return (await step.check(undefined, ctx, makeEnv({ step: step.name }))) ?? undefined;
}

/** The changes of a diff as `op field` strings, for compact assertions. */
export function ops(diff: Diff | undefined): string[] {
  return (diff?.changes ?? []).map((c) => `${c.op}${c.field}`);
}

/**
 * Every entry under a base with its user attributes, values sorted: to compare
 * two directories entry for entry.
 */
export async function snapshot(
  pool: LdapPool,
  base: string,
): Promise<Record<string, Record<string, string[]>>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const e of await pool.search(base, { scope: 'sub', attributes: ['*'] })) {
    const attrs: Record<string, string[]> = {};
    for (const k of Object.keys(e.attrs).sort()) attrs[k] = [...(e.attrs[k] ?? [])].sort();
    out[e.dn.toLowerCase()] = attrs;
  }
  return out;
}

/** The LdapError a promise (or a step's apply result) rejects with; fails the test otherwise. */
export async function failure(work: unknown): Promise<LdapError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof LdapError) return err;
    throw err;
  }
  throw new Error('expected an LdapError, but it succeeded');
}

const silent: Reporter = {
  runStarted: () => {},
  recordFinished: () => {},
  retrying: () => {},
  warn: () => {},
  runFinished: () => {},
};

/**
 * Runs a step through the engine's step runner (check, apply, verify; retries
 * that check first, 10-50 ms apart); its history lands in `ledger`, its notes in `notes`.
 */
export async function engineRun(
  step: Step<unknown, LdapContext>,
  ctx: LdapContext,
  ledger: MemoryLedger,
  notes: string[] = [],
): Promise<StepResult> {
  const journal = new Journal(ledger, systemClock, ledger.location);
  const result = await runStep(
    step,
    undefined,
    ctx,
    {
      task: 't',
      key: 'k',
      runId: 'r1',
      signal: new AbortController().signal,
      effects: makeEnv().effects,
      pending: [],
      redact: (t) => t,
      note: (t) => notes.push(t),
    },
    {
      runId: 'r1',
      dryRun: false,
      retry: { ...DEFAULT_RETRY, minDelayMs: 10, maxDelayMs: 50, jitter: false },
      classify: (err, s) => classifyWith(s.classify)(err),
      journal,
      reporter: silent,
      clock: systemClock,
      signal: new AbortController().signal,
      redact: (t) => t,
      beforeApply: () => {},
    },
    Date.now() + 30_000,
  );
  await journal.flush();
  return result;
}

/** An inetOrgPerson's attributes with `uid`, `cn` and `sn` all the uid. */
export const person = (uid: string, mail: string) => ({
  objectClass: ['inetOrgPerson'],
  uid,
  cn: uid,
  sn: uid,
  mail,
});

/** Everything an async iterable yields. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
