#!/usr/bin/env node
// The built CLI with test-only faults, so production code carries none.
//
// IDEM_CRASH_AT=<event kind>:<step>[:<key>] kills this process with SIGKILL just before
// the ledger would record that history line (and the state that goes with it), for
// any record or only for the record <key>:
//   effect-intent:welcome-mail  before a once intent is written (the effect never ran);
//   effect-done:welcome-mail    after the effect ran, before its completion is written.
//
// IDEM_CRASH_AFTER=<event kind>:<step>[:<key>] kills it just after the ledger recorded
// that line: effect-intent:welcome-mail:u0001 is the moment between a once intent and
// its effect.
//
// IDEM_CRASH_IN_COMMIT=<key> kills it inside the batch commit that writes the outcome of
// the record <key>: a temporary trigger on the ledger's connection (nothing is stored in
// the file) fires while the transaction is open, after some of the batch's rows.
//
// IDEM_LEDGER_FAIL_AFTER=<n> makes every batch commit after the first n fail as a
// full disk does (SQLITE_FULL), while the rest of the ledger keeps working.
import { main } from '../../dist/bundle/cli/main.js';

/** `kind:step[:key]` as a matcher of ledger events. */
function eventMatcher(spec) {
  if (!spec) return () => false;
  const [kind, step, key] = spec.split(':');
  return (event) => event.kind === kind && (!step || event.step === step) && (!key || event.key === key);
}

const crashBefore = eventMatcher(process.env.IDEM_CRASH_AT);
const crashAfter = eventMatcher(process.env.IDEM_CRASH_AFTER);
const crashInCommit = process.env.IDEM_CRASH_IN_COMMIT;
const failAfter = process.env.IDEM_LEDGER_FAIL_AFTER ? Number(process.env.IDEM_LEDGER_FAIL_AFTER) : undefined;
let commits = 0;
let trigger = false;

const crash = () => process.kill(process.pid, 'SIGKILL');

/** Arms the in-commit crash on the ledger's own connection (once its tables exist). */
function armCommitCrash(ledger) {
  if (!crashInCommit || trigger) return;
  trigger = true;
  ledger.db.function('idem_test_crash', () => {
    crash();
    return 0;
  });
  const key = `'${crashInCommit.replaceAll("'", "''")}'`;
  ledger.db.exec(
    `CREATE TEMP TRIGGER idem_test_crash_in_commit AFTER INSERT ON main.results
       WHEN NEW.key = ${key} BEGIN SELECT idem_test_crash(); END`,
  );
}

const faulty = {
  putEffect: (real) => async (id, record, event) => {
    if (crashBefore(event)) crash();
    await real(id, record, event);
    if (crashAfter(event)) crash();
  },
  commit: (real, target) => (batch) => {
    if (failAfter !== undefined && ++commits > failAfter) {
      return Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    }
    armCommitCrash(target);
    return real(batch);
  },
};

function wrapLedger(ledger) {
  return new Proxy(ledger, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const real = value.bind(target);
      return faulty[prop] ? faulty[prop](real, target) : real;
    },
  });
}

await main(process.argv, { wrapLedger });
