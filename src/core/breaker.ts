import type { RecordResult } from './outcome.ts';

/**
 * The circuit breaker: trips when the same error ends K consecutive records.
 * `ok` and `changed` reset it; `invalid` and `skipped` records (input problems)
 * neither count nor reset.
 */
export class CircuitBreaker {
  private lastSignature: string | undefined;
  private streak = 0;
  private trippedBy: RecordResult | undefined;

  constructor(readonly threshold: number) {}

  /** Feeds one finished record; returns true when the breaker trips. */
  observe(result: RecordResult, signature: string | undefined): boolean {
    if (this.threshold <= 0 || this.trippedBy) return Boolean(this.trippedBy);
    if (result.outcome === 'ok' || result.outcome === 'changed') {
      this.streak = 0;
      this.lastSignature = undefined;
      return false;
    }
    if (result.outcome !== 'failed' || signature === undefined) return false;
    if (signature === this.lastSignature) this.streak++;
    else {
      this.lastSignature = signature;
      this.streak = 1;
    }
    if (this.streak >= this.threshold) this.trippedBy = result;
    return Boolean(this.trippedBy);
  }

  get tripped(): RecordResult | undefined {
    return this.trippedBy;
  }
}

/**
 * What makes two failures "the same error": the step, the error's code (LDAP
 * result code, errno) or else its message with the record's key and numbers blurred.
 */
export function errorSignature(step: string | undefined, err: unknown, key: string): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const name = err instanceof Error ? err.name : typeof err;
  if (code !== undefined && code !== null && code !== '') return `${step}|${name}|code:${String(code)}`;
  const message = err instanceof Error ? err.message : String(err);
  const blurred = (key ? message.split(key).join('<key>') : message).replace(/\d+/g, '#');
  return `${step}|${name}|${blurred}`;
}
