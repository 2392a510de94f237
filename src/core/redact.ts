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

  /**
   * Deep-redacts strings inside a JSON-like value. What holds no secret is returned
   * as it is (the same object): only the path to a secret is copied.
   */
  redactValue<T>(value: T): T {
    if (this.secrets.size === 0) return value;
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v = this.redactValue(value[i]);
        if (v !== value[i]) {
          out ??= value.slice();
          out[i] = v;
        }
      }
      return (out ?? value) as T;
    }
    if (value && typeof value === 'object') {
      let out: Record<string, unknown> | undefined;
      for (const k in value) {
        if (!Object.hasOwn(value, k)) continue;
        const before = (value as Record<string, unknown>)[k];
        const v = this.redactValue(before);
        if (v !== before) {
          out ??= { ...(value as Record<string, unknown>) };
          out[k] = v;
        }
      }
      return (out ?? value) as T;
    }
    return value;
  }
}
