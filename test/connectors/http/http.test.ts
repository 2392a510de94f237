import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveUrl } from '../../../src/connectors/http/client.ts';
import { client, ensureResource, post, urlPath } from '../../../src/connectors/http/index.ts';
import { deriveIdempotencyKey } from '../../../src/connectors/http/post.ts';
import { parseRetryAfter } from '../../../src/connectors/http/status.ts';
import { formatChange } from '../../../src/core/diff.ts';
import { engineFor } from '../helpers.ts';
import { TestApi } from './server.ts';

let api: TestApi;
beforeEach(async () => {
  api = await new TestApi().start();
});
afterEach(async () => {
  await api.stop();
});

const people = [
  { id: 'u1', login: 'ada', name: 'Ada', mail: 'ada@x.test' },
  { id: 'u2', login: 'bob', name: 'Bob', mail: 'bob@x.test' },
];
const ctx = () => ({ http: client({ baseUrl: api.url, timeoutMs: 5000 }) });
const userSteps = (r: Record<string, string>) => [
  ensureResource({ url: urlPath`users/${r.login}`, desired: { name: r.name, mail: r.mail } }),
];

describe('http.ensureResource against a real server', () => {
  it('creates with a PUT, then a rerun only GETs: zero writes', async () => {
    const engine = engineFor(ctx(), userSteps);
    const first = await engine.run(people);
    expect(first.summary.counts).toMatchObject({ changed: 2, failed: 0 });
    expect(first.reporter.records.find((r) => r.key === 'u1')?.diff[0]?.changes.map(formatChange)).toEqual([
      '+name: Ada',
      '+mail: ada@x.test',
    ]);
    expect(api.resources.get('/users/ada')?.body).toEqual({ name: 'Ada', mail: 'ada@x.test' });
    expect(api.writes()).toHaveLength(2);

    api.log.length = 0;
    const second = await engine.run(people);
    expect(second.summary.counts).toMatchObject({ changed: 0, ok: 2 });
    expect(api.log.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('a dry run only reads', async () => {
    const engine = engineFor(ctx(), userSteps);
    const dry = await engine.run(people, { dryRun: true });
    expect(dry.summary.counts.changed).toBe(2);
    expect(api.writes()).toHaveLength(0);
    expect(api.resources.size).toBe(0);
  });

  it('merge mode keeps other fields and PUTs with If-Match; exact mode removes them', async () => {
    api.resources.set('/users/ada', { body: { name: 'Ada', mail: 'old@x.test', shell: 'zsh' }, version: 4 });
    const merge = engineFor(ctx(), userSteps);
    const r = await merge.run([people[0]!]);
    expect(r.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual([
      '~mail: old@x.test -> ada@x.test',
    ]);
    expect(api.writes()[0]).toMatchObject({ method: 'PUT', ifMatch: '"v4"' });
    expect(api.resources.get('/users/ada')?.body).toEqual({ name: 'Ada', mail: 'ada@x.test', shell: 'zsh' });

    const exact = engineFor(ctx(), (p) => [
      ensureResource({
        url: urlPath`users/${p.login}`,
        desired: { name: p.name, mail: p.mail },
        mode: 'exact',
      }),
    ]);
    const e = await exact.run([people[0]!]);
    expect(e.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual(['-shell: zsh']);
    expect(api.resources.get('/users/ada')?.body).toEqual({ name: 'Ada', mail: 'ada@x.test' });
  });

  it('a resource changed between GET and PUT is not overwritten: 412, re-check, converge', async () => {
    api.resources.set('/users/ada', { body: { name: 'Ada', mail: 'old@x.test' }, version: 1 });
    api.fault('PUT', '/users/ada', { kind: 'concurrent-edit', field: 'shell', value: 'fish' });
    const engine = engineFor(ctx(), userSteps);
    const r = await engine.run([people[0]!]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'changed', attempts: 2 });
    // The plan phase's GET, then the apply phase: GET, PUT (412), GET, PUT, the verifying GET.
    expect(api.log.map((x) => x.method)).toEqual(['GET', 'GET', 'PUT', 'GET', 'PUT', 'GET']);
    expect(api.resources.get('/users/ada')?.body).toEqual({ name: 'Ada', mail: 'ada@x.test', shell: 'fish' });
  });

  it('a 4xx is permanent and not retried', async () => {
    const engine = engineFor(ctx(), () => [ensureResource({ url: 'users/x', desired: { a: 1 } })]);
    api.fault('GET', '/users/x', { kind: 'status', status: 403 });
    const r = await engine.run([{ id: '1' }]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(r.reporter.records[0]?.error).toMatchObject({ class: 'permanent' });
    expect(r.reporter.records[0]?.error?.message).toMatch(/GET \/api\/users\/x answered 403/);
    expect(api.log).toHaveLength(1);
  });

  it('connection errors are transient', async () => {
    await api.stop();
    const engine = engineFor(ctx(), userSteps);
    const r = await engine.run([people[0]!], { retry: { attempts: 2 } });
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 2 });
    expect(r.reporter.records[0]?.error?.class).toBe('transient');
    expect(r.reporter.records[0]?.error?.message).toMatch(/ECONNREFUSED/);
  });
});

describe('http.post with an Idempotency-Key', () => {
  const inviteSteps = (r: Record<string, string>) => [
    post({ url: 'invites', body: { login: r.login, mail: r.mail } }),
  ];

  it('sends once with a deterministic key; a rerun sends nothing', async () => {
    const engine = engineFor(ctx(), inviteSteps);
    const first = await engine.run(people);
    expect(first.summary.counts).toMatchObject({ changed: 2 });
    expect(api.invites).toHaveLength(2);
    const ada = api.log.find((x) => (x.body as { login?: string })?.login === 'ada');
    expect(ada?.idempotencyKey).toBe(deriveIdempotencyKey('connector-test', 'u1', 'POST invites'));
    expect(first.reporter.records.find((r) => r.key === 'u1')?.notes?.[0]).toMatch(
      /-> 201 \(Idempotency-Key idem-/,
    );

    api.log.length = 0;
    const second = await engine.run(people);
    expect(second.summary.counts).toMatchObject({ ok: 2, changed: 0 });
    expect(api.log).toHaveLength(0);
  });

  it('a reply lost after the server did the work: the retry re-sends the same key, nothing is duplicated', async () => {
    api.fault('POST', '/invites', { kind: 'drop', afterProcessing: true });
    const engine = engineFor(ctx(), inviteSteps);
    const r = await engine.run([people[0]!]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'changed', attempts: 2 });
    const posts = api.log.filter((x) => x.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[0]?.idempotencyKey).toBeDefined();
    expect(posts[1]?.idempotencyKey).toBe(posts[0]?.idempotencyKey);
    expect(api.invites).toHaveLength(1);
  });

  it('503 and 429 are transient; Retry-After is honoured; every retry carries the same key', async () => {
    api.fault('POST', '/invites', { kind: 'status', status: 503, afterProcessing: true });
    api.fault('POST', '/invites', { kind: 'status', status: 429, retryAfter: '1' });
    const engine = engineFor(ctx(), inviteSteps);
    const r = await engine.run([people[0]!]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'changed', attempts: 3 });
    expect(r.reporter.retries.map((x) => x.error)).toEqual([
      expect.stringMatching(/answered 503/),
      expect.stringMatching(/answered 429/),
    ]);
    // The engine waits what Retry-After asked for (the reporter is told the delay).
    expect((r.reporter.retries[1] as { delayMs?: number }).delayMs).toBe(1000);
    const keys = new Set(api.log.filter((x) => x.method === 'POST').map((x) => x.idempotencyKey));
    expect(keys.size).toBe(1);
    expect(api.invites).toHaveLength(1);
  });

  it('a crash between send and completion: the next run re-sends the same key (re-sendable, never in-doubt)', async () => {
    api.fault('POST', '/invites', { kind: 'drop', afterProcessing: true });
    const engine = engineFor(ctx(), inviteSteps);
    const first = await engine.run([people[0]!], { retry: { attempts: 1 } });
    expect(first.reporter.records[0]?.outcome).toBe('failed');
    const second = await engine.run([people[0]!]);
    expect(second.reporter.records[0]?.outcome).toBe('changed');
    expect(second.reporter.records[0]?.diff[0]?.changes.map(formatChange)).toEqual([
      '+POST: invites (re-send, same Idempotency-Key)',
    ]);
    const posts = api.log.filter((x) => x.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[1]?.idempotencyKey).toBe(posts[0]?.idempotencyKey);
    expect(api.invites).toHaveLength(1);
  });

  it('the same key with another payload is refused before anything is sent', async () => {
    for (const explicit of [undefined, 'invite-ada']) {
      api.log.length = 0;
      api.fault('POST', '/invites', { kind: 'drop', afterProcessing: false });
      const engine = engineFor(ctx(), (r) => [
        post({
          url: 'invites',
          body: { login: r.login, mail: r.mail },
          ...(explicit ? { idempotencyKey: explicit } : {}),
        }),
      ]);
      const first = await engine.run([people[0]!], { retry: { attempts: 1 } });
      expect(first.reporter.records[0]?.outcome).toBe('failed');
      const changed = await engine.run([{ ...people[0]!, mail: 'other@x.test' }]);
      expect(changed.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 1 });
      expect(changed.reporter.records[0]?.error?.message).toMatch(/first sent with another payload/);
      expect(api.log.filter((x) => x.method === 'POST')).toHaveLength(1);
    }
    expect(api.invites).toHaveLength(0);
  });

  it('a 4xx answer is permanent, not retried', async () => {
    const engine = engineFor(ctx(), () => [post({ url: 'reject', body: { a: 1 } })]);
    const r = await engine.run([{ id: '1' }]);
    expect(r.reporter.records[0]).toMatchObject({ outcome: 'failed', attempts: 1 });
    expect(r.reporter.records[0]?.error?.message).toMatch(/answered 400: \{"error":"bad payload"\}/);
  });
});

describe('http helpers', () => {
  it('urlPath encodes each value as one segment and refuses dot segments', () => {
    expect(urlPath`users/${'a/b?c#d'}/keys`).toBe('users/a%2Fb%3Fc%23d/keys');
    expect(() => urlPath`users/${'..'}`).toThrow(/not allowed/);
  });

  it('resolveUrl keeps relative URLs under the base', () => {
    const base = 'http://127.0.0.1:1/api/';
    expect(resolveUrl('users/ada', base).href).toBe('http://127.0.0.1:1/api/users/ada');
    expect(resolveUrl('/users/ada', base).href).toBe('http://127.0.0.1:1/api/users/ada');
    expect(() => resolveUrl('../admin', base)).toThrow(/leaves the base URL/);
    expect(() => resolveUrl('users/%2e%2e/%2e%2e/admin', base)).toThrow(/leaves the base URL/);
    expect(resolveUrl('//evil.test/x', base).href).toBe('http://127.0.0.1:1/api/evil.test/x');
    expect(resolveUrl('https://other.test/x', base).href).toBe('https://other.test/x'); // the author's absolute URL
  });

  it('parses Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
