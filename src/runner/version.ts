import { readFileSync } from 'node:fs';

/** This idem's version, from its package.json: bound into plans and runs so a resume or an apply notices an upgrade. */
export const IDEM_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
