/**
 * Test helper process: writes a large file with `fs.ensureFile` under a base
 * folder and stops half-way through the write, printing `half-written <pid>`,
 * so that the test can SIGKILL it mid-write. Usage: write-child.ts <base> <rel path> <bytes>
 */
import { open } from 'node:fs/promises';
import { ensureFile, root } from '../../../../src/connectors/fs/index.ts';
import { makeEnv } from '../../../support/step-env.ts';

const [base, rel, size] = process.argv.slice(2) as [string, string, string];

// Every FileHandle shares one prototype: take it from a handle on this script.
const probe = await open(new URL(import.meta.url));
const proto = Object.getPrototypeOf(probe) as { writeFile: (data: Uint8Array) => Promise<void> };
await probe.close();
const writeFile = proto.writeFile;
proto.writeFile = async function (this: unknown, data: Uint8Array) {
  await writeFile.call(this, data.subarray(0, data.length >> 1));
  console.log(`half-written ${process.pid}`);
  await new Promise(() => {}); // until the SIGKILL
};

const step = ensureFile(rel, Buffer.alloc(Number(size), 'x'));
await step.apply({}, { fs: root(base) }, { changes: [] }, makeEnv());
