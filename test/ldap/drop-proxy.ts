/**
 * A TCP proxy on 127.0.0.1 in front of slapd that can lose the server's answer
 * to the next write: the write reaches the server and is applied, then the
 * connection is cut before the client hears back. That is the ambiguous
 * failure (the outcome of a write is unknown) made real.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

const WRITE_OPS = new Map([
  [0x66, 'modify'],
  [0x68, 'add'],
  [0x4a, 'delete'],
  [0x6c, 'modifyDN'],
]);

/** Splits a stream of BER-encoded LDAP messages; returns the messages and the rest. */
function frames(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const first = buffer[offset + 1] as number;
    let length: number;
    let header: number;
    if (first < 0x80) {
      length = first;
      header = 2;
    } else {
      const n = first & 0x7f;
      if (buffer.length - offset < 2 + n) break;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + (buffer[offset + 2 + i] as number);
      header = 2 + n;
    }
    if (buffer.length - offset < header + length) break;
    messages.push(buffer.subarray(offset, offset + header + length));
    offset += header + length;
  }
  return { messages, rest: buffer.subarray(offset) };
}

/** The messageID and protocolOp tag of one LDAP message. */
function describe(message: Buffer): { id: number; op: number } {
  let p = message[1] as number;
  p = p < 0x80 ? 2 : 2 + (p & 0x7f);
  // messageID INTEGER
  const idLen = message[p + 1] as number;
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + (message[p + 2 + i] as number);
  const op = message[p + 2 + idLen] as number;
  return { id, op };
}

export class DropProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private armed: string | undefined;
  /** Writes whose answers were lost. */
  readonly dropped: string[] = [];
  /** Connections accepted so far. */
  connections = 0;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** Loses the answer to the next write of this kind (`add`, `modify`, `delete`, `modifyDN`, or `any`). */
  dropNextAnswer(op: string): void {
    this.armed = op;
  }

  private pipe(client: Socket): void {
    this.connections++;
    const upstream = connect(this.target, '127.0.0.1');
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
    let fromClient: Buffer = Buffer.alloc(0);
    let fromServer: Buffer = Buffer.alloc(0);
    const doomed = new Set<number>();
    client.on('data', (chunk) => {
      const { messages, rest } = frames(Buffer.concat([fromClient, chunk]));
      fromClient = rest;
      for (const m of messages) {
        const { id, op } = describe(m);
        const name = WRITE_OPS.get(op);
        if (name && this.armed && (this.armed === 'any' || this.armed === name)) {
          this.armed = undefined;
          this.dropped.push(name);
          doomed.add(id);
        }
        upstream.write(m);
      }
    });
    upstream.on('data', (chunk) => {
      const { messages, rest } = frames(Buffer.concat([fromServer, chunk]));
      fromServer = rest;
      for (const m of messages) {
        if (doomed.has(describe(m).id)) {
          kill();
          return;
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
