import { PermanentError } from '../../core/errors.ts';

/**
 * A text with `{{ name }}` placeholders and the values to put in them.
 * @example fs.ensureFile('motd', { template: 'Hello {{ name }}\n', values: { name: r.name } })
 */
export interface Template {
  template: string;
  values: Record<string, unknown>;
}

/**
 * What `ensureFile` writes: text, bytes, or a template.
 * @example const content: FileContent = readFileSync(new URL('./motd.txt', import.meta.url));
 */
export type FileContent = string | Uint8Array | Template;

/**
 * Fills `{{ name }}` placeholders; a placeholder without a value is an error,
 * never an empty string.
 *
 * @example
 * render({ template: 'user = "{{ login }}"\n', values: { login: 'ada' } }) // 'user = "ada"\n'
 */
export function render(t: Template): string {
  const missing = new Set<string>();
  const out = t.template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (_m, name: string) => {
    const v = t.values[name];
    if (v === undefined || v === null) {
      missing.add(name);
      return '';
    }
    return String(v);
  });
  if (missing.size > 0) throw new PermanentError(`template: no value for ${[...missing].join(', ')}`);
  return out;
}

/** The bytes a content stands for. */
export function contentBytes(content: FileContent): Buffer {
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  if (content instanceof Uint8Array) return Buffer.from(content);
  return Buffer.from(render(content), 'utf8');
}
