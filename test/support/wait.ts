import type { Readable } from 'node:stream';

/**
 * Resolves with the matching lines once `stream` has printed `count` lines
 * matching `pattern` (a child's stdout, say): an event to wait for, not a
 * sleep. Rejects, with what was seen, after `timeoutMs` (generous, for a
 * loaded machine) or when the stream ends first.
 * @example await linesSeen(child.stdout, /^changed /, 5);
 */
export function linesSeen(
  stream: Readable | null | undefined,
  pattern: RegExp,
  count = 1,
  timeoutMs = 90_000,
): Promise<string[]> {
  if (!stream) return Promise.reject(new Error('linesSeen: no stream (is the child piped?)'));
  return new Promise((resolve, reject) => {
    let text = '';
    const matched = () =>
      text
        .split('\n')
        .slice(0, -1)
        .filter((line) => pattern.test(line));
    const finish = (err?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      if (err) reject(err);
      else resolve(matched().slice(0, count));
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (matched().length >= count) finish();
    };
    const onEnd = () =>
      finish(
        new Error(`the stream ended after ${matched().length} of ${count} lines like ${pattern}:\n${text}`),
      );
    const timer = setTimeout(
      () => finish(new Error(`${count} lines like ${pattern} not seen in ${timeoutMs} ms:\n${text}`)),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}

/** Waits (polling, generous timeout) until `check` holds. */
export async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
