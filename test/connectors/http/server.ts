import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server saw it. */
export interface LoggedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  ifMatch?: string;
  body?: unknown;
  /** When it was read whole (Date.now()). */
  at: number;
}

/** What the server does to the next matching request instead of (or after) handling it. */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; afterProcessing?: boolean }
  | { kind: 'drop'; afterProcessing: boolean }
  | { kind: 'concurrent-edit'; field: string; value: unknown };

/**
 * A small JSON API on 127.0.0.1 with a request log: PUT/GET resources with
 * ETags (If-Match honoured), and POST /invites honouring Idempotency-Key
 * (a repeat with the same payload replays the first answer; another payload is 422).
 */
export class TestApi {
  readonly log: LoggedRequest[] = [];
  readonly resources = new Map<string, { body: Record<string, unknown>; version: number }>();
  readonly invites: unknown[] = [];
  private readonly keys = new Map<string, { hash: string; status: number; answer: unknown }>();
  private readonly faults: { method: string; path: string; fault: Fault }[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Queues a fault for the next request with this method and path. */
  fault(method: string, path: string, fault: Fault): void {
    this.faults.push({ method, path, fault });
  }

  writes(): LoggedRequest[] {
    return this.log.filter((r) => r.method !== 'GET');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const path = (req.url ?? '').replace(/^\/api/, '');
    const entry: LoggedRequest = { method: req.method ?? '', path, at: Date.now() };
    if (typeof req.headers['idempotency-key'] === 'string')
      entry.idempotencyKey = req.headers['idempotency-key'];
    if (typeof req.headers['if-match'] === 'string') entry.ifMatch = req.headers['if-match'];
    if (raw) entry.body = JSON.parse(raw);
    this.log.push(entry);
    const i = this.faults.findIndex((f) => f.method === entry.method && f.path === path);
    const fault = i >= 0 ? this.faults.splice(i, 1)[0]?.fault : undefined;
    if (fault?.kind === 'concurrent-edit') {
      const cur = this.resources.get(path);
      if (cur)
        this.resources.set(path, {
          body: { ...cur.body, [fault.field]: fault.value },
          version: cur.version + 1,
        });
    }
    const processed = () => this.route(entry, req);
    if (fault?.kind === 'drop') {
      if (fault.afterProcessing) processed();
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      if (fault.afterProcessing) processed();
      res.writeHead(fault.status, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
      res.end(JSON.stringify({ error: `injected ${fault.status}` }));
      return;
    }
    const { status, body, headers } = processed();
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  private route(
    r: LoggedRequest,
    req: IncomingMessage,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    if (r.method === 'POST' && r.path === '/invites') {
      const key = r.idempotencyKey;
      const hash = createHash('sha256').update(JSON.stringify(r.body)).digest('hex');
      const seen = key ? this.keys.get(key) : undefined;
      if (seen) return seen.hash === hash ? { status: seen.status, body: seen.answer } : { status: 422 };
      this.invites.push(r.body);
      const answer = { id: this.invites.length };
      if (key) this.keys.set(key, { hash, status: 201, answer });
      return { status: 201, body: answer };
    }
    if (r.method === 'POST' && r.path === '/reject') return { status: 400, body: { error: 'bad payload' } };
    const cur = this.resources.get(r.path);
    if (r.method === 'GET') {
      if (!cur) return { status: 404 };
      return { status: 200, body: cur.body, headers: { etag: `"v${cur.version}"` } };
    }
    if (r.method === 'PUT') {
      const ifMatch = req.headers['if-match'];
      if (ifMatch && (!cur || ifMatch !== `"v${cur.version}"`)) return { status: 412 };
      const version = (cur?.version ?? 0) + 1;
      this.resources.set(r.path, { body: r.body as Record<string, unknown>, version });
      return { status: cur ? 200 : 201, body: r.body, headers: { etag: `"v${version}"` } };
    }
    return { status: 405 };
  }
}
