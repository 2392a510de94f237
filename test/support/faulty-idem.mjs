#!/usr/bin/env node
// The built CLI with test-only faults, so production code carries none.
//
// IDEM_CRASH_AT=<event kind>:<step> kills this process with SIGKILL just before
// the ledger would record that history line (and the state that goes with it):
//   effect-intent:welcome-mail  before a once intent is written (the effect never ran);
//   effect-done:welcome-mail    after the effect ran, before its completion is written.
//
// IDEM_LEDGER_FAIL_AFTER=<n> makes every batch commit after the first n fail as a
// full disk does (SQLITE_FULL), while the rest of the ledger keeps working.
import { main } from '../../dist/cli/main.js';

const [kind, step] = (process.env.IDEM_CRASH_AT ?? '').split(':');
const failAfter = process.env.IDEM_LEDGER_FAIL_AFTER ? Number(process.env.IDEM_LEDGER_FAIL_AFTER) : undefined;
let commits = 0;

const faulty = {
  putEffect: (real) => (id, record, event) => {
    if (kind && event.kind === kind && (!step || event.step === step)) process.kill(process.pid, 'SIGKILL');
    return real(id, record, event);
  },
  commit: (real) => (batch) => {
    if (failAfter !== undefined && ++commits > failAfter) {
      return Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    }
    return real(batch);
  },
};

function wrapLedger(ledger) {
  return new Proxy(ledger, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const real = value.bind(target);
      return faulty[prop] ? faulty[prop](real) : real;
    },
  });
}

await main(process.argv, { wrapLedger });
