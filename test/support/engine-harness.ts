import { systemClock } from '../../src/core/clock.ts';
import { Effects } from '../../src/core/effects.ts';
import { Journal } from '../../src/core/journal.ts';
import type { MemoryLedger } from '../../src/ledger/memory-ledger.ts';

export { runInMemory, testSetup } from '../../src/testing.ts';

/** The core's `once` rules over a ledger, as `idem resolve` and the engine use them. */
export function effectsOf(ledger: MemoryLedger, task = 't'): Effects {
  return new Effects(ledger, new Journal(ledger, systemClock, ledger.location), systemClock, task);
}
