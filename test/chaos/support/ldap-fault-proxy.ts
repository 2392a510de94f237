/**
 * A TCP proxy on 127.0.0.1 in front of slapd that injects LDAP faults into the
 * Nth request of a kind (add, modify, search...), parsing BER just enough to know
 * each message's id, operation and DN:
 *
 * - `answer`: answer it with a result code, without forwarding it (or, with
 *   `forward`, after the server applied it: the server's own answer is replaced);
 * - `reset`: reset the client's connection (RST) instead of forwarding it;
 * - `stall`: hold it for ever: never forwarded, never answered (the client times out);
 * - `lose`: forward it, then cut the connection before relaying the answer (the
 *   ambiguous write: applied, but the client never hears so);
 * - `forward`: pass it on (with `before`: after another writer's change).
 *
 * Any of them can first run a function (`before`), e.g. another writer's change.
 *
 * Every request is logged (operation, DN), so a test counts what the client sent.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Request tags (protocolOp) and the tag of their answer. */
const REQUESTS = new Map<number, { name: LdapOpName; answer: number }>([
  [0x60, { name: 'bind', answer: 0x61 }],
  [0x63, { name: 'search', answer: 0x65 }],
  [0x66, { name: 'modify', answer: 0x67 }],
  [0x68, { name: 'add', answer: 0x69 }],
  [0x4a, { name: 'delete', answer: 0x6b }],
  [0x6c, { name: 'modifyDN', answer: 0x6d }],
  [0x6e, { name: 'compare', answer: 0x6f }],
  [0x77, { name: 'extended', answer: 0x78 }],
]);

export type LdapOpName =
  | 'bind'
  | 'search'
  | 'modify'
  | 'add'
  | 'delete'
  | 'modifyDN'
  | 'compare'
  | 'extended'
  | 'other';

const WRITES: ReadonlySet<LdapOpName> = new Set(['add', 'modify', 'delete', 'modifyDN']);

/**
 * What the proxy does to the request a fault matches, after `before` (another
 * writer's change straight to the server, say) when one is given.
 */
export type FaultAction = (
  | { kind: 'answer'; code: number; message?: string; forward?: boolean }
  | { kind: 'reset' }
  | { kind: 'stall' }
  | { kind: 'lose' }
  | { kind: 'forward' }
) & { before?: () => Promise<void> };

/**
 * A fault for the `nth` (1-based, default 1) request of operation `op` (`write`:
 * any add, modify, delete or modifyDN) whose DN matches `dn`, if given.
 * @example proxy.inject({ op: 'add', dn: /^uid=/, action: { kind: 'answer', code: 51 } })
 */
export interface Fault {
  op: LdapOpName | 'write';
  dn?: RegExp;
  nth?: number;
  action: FaultAction;
}

/** One request as the proxy saw it. */
export interface SeenRequest {
  op: LdapOpName;
  dn: string;
  /** The fault it met, if any. */
  fault?: FaultAction['kind'];
}

interface Armed extends Fault {
  seen: number;
}

/** Reads a BER length at `at`: the length and where the content starts; undefined if incomplete. */
function lengthAt(buffer: Buffer, at: number): { length: number; start: number } | undefined {
  if (at >= buffer.length) return undefined;
  const first = buffer[at] as number;
  if (first < 0x80) return { length: first, start: at + 1 };
  const n = first & 0x7f;
  if (at + 1 + n > buffer.length) return undefined;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (buffer[at + 1 + i] as number);
  return { length, start: at + 1 + n };
}

/** Splits a stream of BER-encoded LDAP messages; returns the messages and the rest. */
export function frames(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const len = lengthAt(buffer, offset + 1);
    if (!len || len.start + len.length > buffer.length) break;
    messages.push(buffer.subarray(offset, len.start + len.length));
    offset = len.start + len.length;
  }
  return { messages, rest: buffer.subarray(offset) };
}

/** The messageID, protocolOp tag and (for requests that name one) the DN of one LDAP message. */
export function describe(message: Buffer): { id: number; tag: number; dn: string } {
  const outer = lengthAt(message, 1) as { start: number };
  const idLen = lengthAt(message, outer.start + 1) as { length: number; start: number };
  let id = 0;
  for (let i = 0; i < idLen.length; i++) id = id * 256 + (message[idLen.start + i] as number);
  const opAt = idLen.start + idLen.length;
  const tag = message[opAt] as number;
  const op = lengthAt(message, opAt + 1);
  let dn = '';
  if (op) {
    if (tag === 0x4a) dn = message.toString('utf8', op.start, op.start + op.length);
    else if (tag === 0x60 || tag === 0x63 || tag === 0x66 || tag === 0x68 || tag === 0x6c) {
      let at = op.start;
      if (tag === 0x60) at += 2 + (message[at + 1] as number); // bind: version INTEGER first
      if (message[at] === 0x04) {
        const s = lengthAt(message, at + 1);
        if (s) dn = message.toString('utf8', s.start, s.start + s.length);
      }
    }
  }
  return { id, tag, dn };
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 0xff])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function integer(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return Buffer.from(bytes);
}

/** An LDAPResult answer to message `id` with this result code. */
export function resultMessage(id: number, answerTag: number, code: number, text: string): Buffer {
  const result = Buffer.concat([
    tlv(0x0a, integer(code)),
    tlv(0x04, Buffer.alloc(0)),
    tlv(0x04, Buffer.from(text, 'utf8')),
  ]);
  return tlv(0x30, Buffer.concat([tlv(0x02, integer(id)), tlv(answerTag, result)]));
}

export class LdapFaultProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly faults: Armed[] = [];
  /** Every request received, in order. */
  readonly requests: SeenRequest[] = [];
  /** Connections accepted so far. */
  connections = 0;
  port = 0;

  constructor(
    private readonly target: number,
    private readonly host = '127.0.0.1',
  ) {}

  async start(): Promise<this> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** Arms a fault; faults are matched in the order they were armed, each fires once. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault, seen: 0 });
  }

  /** Faults armed that have not fired yet. */
  get pending(): number {
    return this.faults.length;
  }

  /** The requests of an operation, optionally for DNs matching `dn`. */
  sent(op: LdapOpName, dn?: RegExp): SeenRequest[] {
    return this.requests.filter((r) => r.op === op && (!dn || dn.test(r.dn)));
  }

  private match(op: LdapOpName, dn: string): FaultAction | undefined {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i] as Armed;
      const opMatches = f.op === op || (f.op === 'write' && WRITES.has(op));
      if (!opMatches || (f.dn && !f.dn.test(dn))) continue;
      f.seen++;
      if (f.seen < (f.nth ?? 1)) continue;
      this.faults.splice(i, 1);
      return f.action;
    }
    return undefined;
  }

  private pipe(client: Socket): void {
    this.connections++;
    const upstream = connect(this.target, this.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => {
      this.sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    /** Answers of the server to replace (id -> our answer) or to cut the connection at (id -> undefined). */
    const intercept = new Map<number, Buffer | undefined>();
    let fromClient: Buffer = Buffer.alloc(0);
    let fromServer: Buffer = Buffer.alloc(0);
    // Requests are handled in order, one at a time: a `before` fault's function runs before the rest go on.
    let queue = Promise.resolve();
    const handle = async (m: Buffer): Promise<void> => {
      if (client.destroyed) return;
      const { id, tag, dn } = describe(m);
      const kind = REQUESTS.get(tag);
      const op = kind?.name ?? 'other';
      const action = kind ? this.match(op, dn) : undefined;
      this.requests.push({ op, dn, ...(action ? { fault: action.kind } : {}) });
      await action?.before?.();
      if (client.destroyed) return;
      switch (action?.kind) {
        case undefined:
        case 'forward':
          upstream.write(m);
          return;
        case 'answer': {
          const answer = resultMessage(id, kind?.answer as number, action.code, action.message ?? '');
          if (action.forward) {
            intercept.set(id, answer);
            upstream.write(m);
          } else client.write(answer);
          return;
        }
        case 'reset':
          client.resetAndDestroy();
          upstream.destroy();
          return;
        case 'stall':
          return;
        case 'lose':
          intercept.set(id, undefined);
          upstream.write(m);
          return;
      }
    };
    client.on('data', (chunk) => {
      const { messages, rest } = frames(Buffer.concat([fromClient, chunk]));
      fromClient = rest;
      for (const m of messages) queue = queue.then(() => handle(m)).catch(kill);
    });
    upstream.on('data', (chunk) => {
      const { messages, rest } = frames(Buffer.concat([fromServer, chunk]));
      fromServer = rest;
      for (const m of messages) {
        const { id, tag } = describe(m);
        if (intercept.has(id)) {
          const answer = intercept.get(id);
          if (!answer) {
            kill();
            return;
          }
          // A search's entries and references go before its one final answer: dropped with it.
          if (tag === 0x64 || tag === 0x73) continue;
          intercept.delete(id);
          client.write(answer);
          continue;
        }
        client.write(m);
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
