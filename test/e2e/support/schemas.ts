import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { expect } from 'vitest';
import { ROOT } from '../../support/cli.ts';

/** The JSON Schemas of docs/schemas/, loaded into one strict validator. */
const DIR = join(ROOT, 'docs', 'schemas');
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
for (const file of readdirSync(DIR).filter((f) => f.endsWith('.schema.json')))
  ajv.addSchema(JSON.parse(readFileSync(join(DIR, file), 'utf8')));

/** Fails the test unless `doc` is valid against docs/schemas/<name>.schema.json. */
export function expectSchema(name: string, doc: unknown): void {
  const validate = ajv.getSchema(`${name}.schema.json`);
  if (!validate) throw new Error(`no schema ${name}.schema.json in ${DIR}`);
  const ok = validate(doc);
  expect(ok, `${name}: ${ajv.errorsText(validate.errors, { separator: '\n' })}\n${JSON.stringify(doc)}`).toBe(
    true,
  );
}

/** Parses stdout that must be exactly one JSON document, and checks it against the schema. */
export function jsonDoc(name: string, stdout: unknown): Record<string, any> {
  // execa strips the final newline.
  const text = String(stdout);
  expect(text.includes('\n'), `one JSON line:\n${text}`).toBe(false);
  const doc = JSON.parse(text);
  expectSchema(name, doc);
  return doc;
}
