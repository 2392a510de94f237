import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import type { LockHolder } from './lock.ts';

/**
 * The lock's first half on Linux: an abstract Unix socket named after the lock
 * folder and the task. Binding it is atomic (of two starts exactly one binds
 * it), the kernel drops it the moment its holder dies, and it has no path in
 * the filesystem, so nobody can delete it. Its holder answers whoever connects
 * with its details as one JSON line, so a refusal names the holder before the
 * holder's record file exists, or after someone removed it.
 */

/** `\0idem-lock-<sha256(realpath(dir) + '\0' + task)>`: one name per lock folder and task. */
export function socketName(dir: string, task: string): string {
  const digest = createHash('sha256')
    .update(`${realpathSync(dir)}\0${task}`)
    .digest('hex');
  return `\0idem-lock-${digest}`;
}

export type Bound =
  | { state: 'held'; server: Server }
  /** Another process holds it. */
  | { state: 'in-use' }
  /** The system refuses abstract sockets here (EPERM in a sandbox, not Linux): the file lock alone. */
  | { state: 'unavailable'; reason: string };

/** Binds the socket; the holder answers each connection with `answer()`. */
export function bindSocket(name: string, answer: () => string): Promise<Bound> {
  return new Promise((resolve) => {
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.end(answer());
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      resolve(
        err.code === 'EADDRINUSE'
          ? { state: 'in-use' }
          : { state: 'unavailable', reason: err.code ?? err.message },
      );
    });
    server.listen({ path: name }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      // The lock does not keep the process alive; release() closes it.
      server.unref();
      resolve({ state: 'held', server });
    });
  });
}

export type Asked =
  | { state: 'answered'; holder: LockHolder }
  /** Nobody listens any more: the holder let go between our bind and our connect. */
  | { state: 'gone' }
  /** Connected, but no answer in time (a stopped or busy holder). */
  | { state: 'silent' };

/** Asks the socket's holder who it is, waiting up to `timeoutMs` for its answer. */
export function askHolder(name: string, timeoutMs: number): Promise<Asked> {
  return new Promise((resolve) => {
    let data = '';
    let done = false;
    const finish = (a: Asked) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(a);
    };
    const sock = connect({ path: name });
    const timer = setTimeout(() => finish({ state: 'silent' }), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\n') || data.length > 65_536) finish(parseAnswer(data));
    });
    sock.on('end', () => finish(parseAnswer(data)));
    sock.on('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? { state: 'gone' } : { state: 'silent' }),
    );
  });
}

function parseAnswer(data: string): Asked {
  const holder = parseHolder(data.split('\n')[0] ?? '');
  return holder ? { state: 'answered', holder } : { state: 'silent' };
}

/** A holder's details from JSON, or `undefined` when they are not a holder's. */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder> | null;
    if (typeof h !== 'object' || h === null) return undefined;
    if (typeof h.pid !== 'number' || typeof h.host !== 'string' || typeof h.task !== 'string')
      return undefined;
    return {
      pid: h.pid,
      host: h.host,
      runId: typeof h.runId === 'string' ? h.runId : 'unknown',
      task: h.task,
      since: typeof h.since === 'number' ? h.since : Number.NaN,
      ...(typeof h.command === 'string' ? { command: h.command } : {}),
    };
  } catch {
    return undefined;
  }
}
