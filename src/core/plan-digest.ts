import { createHash } from 'node:crypto';
import type { PlannedRecord } from './ledger.ts';

const MOD = 1n << 256n;

/** What a plan hash binds besides the planned records. */
export interface PlanHeader {
  task: string;
  inputDigest: string;
  taskDigest: string | undefined;
  idemVersion: string | undefined;
}

/**
 * The hash of a plan: its header (task, input digest, task file digest, idem
 * version) and every planned record (slot, line, pending diffs). Records arrive
 * in any order from concurrent checks, so each record's sha256 is added modulo
 * 2^256 (a multiset hash) and the sum hashed with the header: the same plan
 * gives the same hash in constant memory, whatever the order.
 */
export class PlanDigest {
  private sum = 0n;
  count = 0;

  add(record: Pick<PlannedRecord, 'slot' | 'line' | 'diff' | 'prune'>): void {
    const h = createHash('sha256')
      .update(JSON.stringify([record.slot, record.line, record.prune, record.diff]))
      .digest('hex');
    this.sum = (this.sum + BigInt(`0x${h}`)) % MOD;
    this.count++;
  }

  /** `sha256` hex of the header and the records. */
  hash(header: PlanHeader): string {
    return createHash('sha256')
      .update(
        JSON.stringify([
          'idem-plan-1',
          header.task,
          header.inputDigest,
          header.taskDigest ?? null,
          header.idemVersion ?? null,
          this.count,
          this.sum.toString(16),
        ]),
      )
      .digest('hex');
  }
}
