/**
 * HTTP faults for `npm run test:chaos` (issue 9): `http.post` (a `once` effect with a
 * deterministic Idempotency-Key) through the engine, with the production retry
 * policy, against a real HTTP server on 127.0.0.1 (test/connectors/http/server.ts)
 * that answers 429 with `Retry-After: 1`, 503 twice, a reset after it accepted the
 * body and recorded the effect, and a 503 after it accepted the body.
 *
 * Figures come from the server's request log: the POSTs of each record, the
 * Idempotency-Key values they carried, the effects it recorded (a key it has seen
 * replays the first answer), and the wait between a 429 and the next try. A
 * Retry-After is the delay itself (fault 11): the wait is at least the 1,000 ms asked
 * for, and less than 1,000 ms plus the smallest backoff the policy would add. The 429
 * records run with a first backoff of 2 s (the production policy otherwise), so that
 * "on top" (>= 3 s) and "instead" (about 1 s) stay far apart on a loaded machine.
 */
import { expect, it } from 'vitest';
import { client, post } from '../../src/connectors/http/index.ts';
import { DEFAULT_RETRY } from '../../src/core/task.ts';
import { engineFor } from '../connectors/helpers.ts';
import { type Fault, TestApi } from '../connectors/http/server.ts';
import { chaosRow } from './support/table.ts';

interface Scenario {
  id: string;
  title: string;
  faults: Fault[];
  /** POSTs the server must see. */
  posts: number;
  /** The 0-based POST answered 429, whose wait is measured. */
  waitAfter?: number;
}

const RETRY_AFTER_MS = 1000;
/**
 * The first backoff of the 429 records, far above Retry-After's 1 s: a Retry-After
 * honoured waits about 1 s; one ignored waits at least this (the backoff), and one
 * slept on top of the backoff longer still. The gap leaves seconds for a loaded machine.
 */
const BACKOFF_MS = 6000;
const busy = (retryAfter?: string, afterProcessing = false): Fault => ({
  kind: 'status',
  status: retryAfter ? 429 : 503,
  ...(retryAfter ? { retryAfter } : {}),
  ...(afterProcessing ? { afterProcessing } : {}),
});

const SCENARIOS: Scenario[] = [
  { id: 'r429', title: 'http 429 Retry-After: 1', faults: [busy('1')], posts: 2, waitAfter: 0 },
  {
    id: 'r503-429',
    title: 'http 503, then 429 Retry-After: 1 (a later retry)',
    faults: [busy(), busy('1')],
    posts: 3,
    waitAfter: 1,
  },
  { id: 'r503x2', title: 'http 503 twice', faults: [busy(), busy()], posts: 3 },
  {
    id: 'reset',
    title: 'http reset after the body was accepted',
    faults: [{ kind: 'drop', afterProcessing: true }],
    posts: 2,
  },
  {
    id: 'r503-done',
    title: 'http 503 after the body was accepted',
    faults: [busy(undefined, true)],
    posts: 2,
  },
];

async function runScenario(s: Scenario) {
  const api = await new TestApi().start();
  try {
    for (const f of s.faults) api.fault('POST', '/invites', f);
    const engine = engineFor({ http: client({ baseUrl: api.url, timeoutMs: 10_000 }) }, (r) => [
      post({ url: 'invites', body: { login: r.login } }),
    ]);
    const retry = { ...DEFAULT_RETRY, ...(s.waitAfter === undefined ? {} : { minDelayMs: BACKOFF_MS }) };
    const r = await engine.run([{ id: s.id, login: `user-${s.id}` }], { retry });
    const posts = api.log.filter((x) => x.method === 'POST');
    const keys = new Set(posts.map((x) => x.idempotencyKey));
    const wait =
      s.waitAfter === undefined
        ? undefined
        : (posts[s.waitAfter + 1]?.at ?? Number.NaN) - (posts[s.waitAfter]?.at ?? Number.NaN);
    return {
      outcome: r.reporter.records[0]?.outcome ?? 'none',
      posts: posts.length,
      keys: keys.has(undefined) ? -1 : keys.size,
      effects: api.invites.length,
      wait,
    };
  } finally {
    await api.stop();
  }
}

it('chaos: HTTP faults keep one Idempotency-Key per record and one effect at the server', {
  timeout: 120_000,
}, async () => {
  const results = await Promise.all(SCENARIOS.map(runScenario));
  const broken: string[] = [];
  SCENARIOS.forEach((s, i) => {
    const m = results[i] as Awaited<ReturnType<typeof runScenario>>;
    const waited = m.wait === undefined || (m.wait >= RETRY_AFTER_MS && m.wait < BACKOFF_MS);
    const ok = m.outcome === 'changed' && m.posts === s.posts && m.keys === 1 && m.effects === 1 && waited;
    const result = [
      m.outcome,
      `${m.posts} POSTs`,
      m.keys === -1 ? 'a POST WITHOUT a key' : `${m.keys} Idempotency-Key value${m.keys === 1 ? '' : 's'}`,
      `${m.effects} effect${m.effects === 1 ? '' : 's'} at the server`,
      ...(m.wait === undefined ? [] : [`waited ${m.wait} ms after the 429`]),
    ].join(', ');
    chaosRow({
      test: s.title,
      count: 1,
      bound: `changed, ${s.posts} POSTs, 1 key, 1 effect${s.waitAfter === undefined ? '' : `, ${RETRY_AFTER_MS} <= wait < ${BACKOFF_MS} ms (the backoff)`}`,
      result,
      ok,
    });
    if (!ok) broken.push(`${s.id}: ${result}`);
  });
  expect(broken).toEqual([]);
});
