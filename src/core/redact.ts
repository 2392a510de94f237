import { SECRET_MASK } from './diff.ts';

/** Replaces registered secret values with `<secret>` in any text or JSON value. */
export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers a secret value. */
  add(value: string): string {
    if (value.length > 0) this.secrets.add(value);
    return value;
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) {
      if (out.includes(s)) out = out.split(s).join(SECRET_MASK);
    }
    return out;
  }

  /** Deep-redacts strings inside a JSON-like value. */
  redactValue<T>(value: T): T {
    if (this.secrets.size === 0) return value;
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactValue(v)) as T;
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.redactValue(v);
      return out as T;
    }
    return value;
  }
}
