// The "library alone" baselines of the LDAP part of `npm run bench`, run as their own
// `node` process on the HR export (test/ldap/users.ts's format). No check, no
// snapshot, no retry, no lock, no report: what idem's design costs with no engine at
// all, so the bench can say how much of a first run is idem's own work.
//
// - `plain`: add every person with ldapts, `inFlight` adds at once on one connection,
//   then add each group with all its members (as the ldapadd baseline does).
// - `ledger`: the same, plus the ledger rows idem writes for each record of a first run,
//   through idem's own SqliteLedger and Journal (built in dist/): every record's plan row
//   committed before the first write, then per record an apply history line before each
//   of its two writing steps, its result row and its done line (not the run's key hashes
//   and final counts, a handful of rows per run).
// - `acknowledged`: `ledger`, and each record also waits until the server acknowledged
//   a write carrying its member values, as idem promises ("never changed before its
//   write landed"): member values are coalesced per group, one write in flight per
//   group; after the first value, or the return of the group's previous write, the group
//   waits `delay ms` for more, then sends what arrived together (idem waits 25 ms at its
//   task's 256 records in flight); the group is added with its first values.
//
// Usage: node naive-ldap.mjs <url> <bind dn> <password file> <users.csv> <people dn> <groups dn> <in flight>
//          [plain | ledger <ledger file> | acknowledged <ledger file> <delay ms>]
// Prints {"people": n, "groups": n, "groupWrites": n}.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { Attribute, Change, Client } from 'ldapts';

const USAGE =
  'usage: node naive-ldap.mjs <url> <bind dn> <password file> <users.csv> <people dn> <groups dn> <in flight> ' +
  '[plain | ledger <ledger file> | acknowledged <ledger file> <delay ms>]';
const [url, bindDn, passwordFile, input, peopleDn, groupsDn, inFlight, mode = 'plain', ledgerPath, delay] =
  process.argv.slice(2);
const modes = new Set(['plain', 'ledger', 'acknowledged']);
if (!url || !bindDn || !passwordFile || !input || !peopleDn || !groupsDn || !inFlight || !modes.has(mode)) {
  console.error(USAGE);
  process.exit(2);
}
if (mode !== 'plain' && !ledgerPath) {
  console.error(`${USAGE}\n(${mode} needs a ledger file)`);
  process.exit(2);
}
const acknowledged = mode === 'acknowledged';
const delayMs = Number(delay ?? 25);

const rows = parse(readFileSync(input), { columns: true, skip_empty_lines: true, trim: true });
const groupDn = (g) => `cn=${g},${groupsDn}`;

/** One person's entry, groups and the diff idem would record for its first run. */
function person(u) {
  const dn = `uid=${u.uid},${peopleDn}`;
  const attrs = {
    objectClass: ['inetOrgPerson', 'organizationalPerson', 'person', 'top'],
    uid: u.uid,
    cn: `${u.givenName} ${u.sn}`,
    sn: u.sn,
    givenName: u.givenName,
    mail: u.mail,
    employeeNumber: u.employeeNumber,
    departmentNumber: u.department,
  };
  const groups = u.groups.split(';').filter(Boolean);
  const entry = [{ op: '+', field: 'entry', to: dn }];
  for (const [field, to] of Object.entries(attrs)) entry.push({ op: '+', field, to });
  const memberships = groups.map((g) => ({ op: '+', field: 'group', to: groupDn(g) }));
  const diff = [
    { step: 'ldap.entry', changes: entry },
    { step: 'ldap.memberships', changes: memberships },
  ];
  return { dn, attrs, groups, diff };
}

/** The ledger rows idem writes for a first run, through idem's own ledger (or none). */
async function openLedger() {
  if (mode === 'plain') return undefined;
  const dist = new URL('../../dist/', import.meta.url);
  const { SqliteLedger } = await import(new URL('ledger/sqlite-ledger.js', dist).href);
  const { Journal } = await import(new URL('core/journal.js', dist).href);
  const { systemClock } = await import(new URL('core/clock.js', dist).href);
  const { formatChange } = await import(new URL('core/diff.js', dist).href);
  const ledger = new SqliteLedger(ledgerPath);
  const journal = new Journal(ledger, systemClock, ledger.location);
  const runId = 'r-naive-ldap';
  await ledger.insertRun({
    ...{ id: runId, task: 'naive-ldap', startedAt: Date.now(), status: 'running', dryRun: false },
    ...{ inputDigest: '', inputPath: input, host: 'bench', pid: process.pid, options: {} },
    ...{ records: rows.length, phase: 'plan' },
  });
  const hashOf = (u) => createHash('sha256').update(JSON.stringify(u)).digest('hex');
  const apply = (u, change) =>
    journal.event({
      ...{ runId, key: u.uid, step: change.step, kind: 'apply', attempt: 1 },
      ...{ detail: change.changes.map(formatChange).join('; '), at: Date.now() },
    });
  return {
    /** The plan phase: every record's plan row, committed before the first write. */
    async plan() {
      for (let i = 0; i < rows.length; i++) {
        const u = rows[i];
        const record = { slot: u.uid, key: u.uid, line: i + 2, inputHash: hashOf(u), prune: false };
        await journal.planned(runId, { ...record, diff: person(u).diff });
      }
      await journal.flush();
      await ledger.updateRun(runId, { status: 'running', phase: 'apply' });
    },
    apply,
    async done(u, i, diff, startedAt) {
      const endedAt = Date.now();
      const result = { key: u.uid, slot: u.uid, line: i + 2, outcome: 'changed', absorbed: false, diff };
      const committing = journal.result(runId, {
        ...{ ...result, attempts: 1, inputHash: hashOf(u), startedAt, endedAt },
      });
      if (committing) await committing;
      await journal.event({ runId, key: u.uid, kind: 'done', detail: 'changed', at: endedAt });
    },
    async close() {
      await journal.flush();
      await ledger.updateRun(runId, { status: 'succeeded', endedAt: Date.now() });
      await ledger.close();
    },
  };
}

const client = new Client({ url, timeout: 120_000, connectTimeout: 5000 });
await client.bind(bindDn, readFileSync(passwordFile, 'utf8'));
const ledger = await openLedger();
await ledger?.plan();

/** Member values per group: all of them (plain, ledger), or the ones waiting for the next write (acknowledged). */
const groups = new Map();
let groupWrites = 0;

/** Resolves once a write carrying `dn` in group `g` was acknowledged (acknowledged mode). */
function joinGroup(g, dn) {
  let q = groups.get(g);
  if (!q) {
    q = { waiting: [], busy: false, exists: false };
    groups.set(g, q);
  }
  const group = q;
  return new Promise((resolve, reject) => {
    group.waiting.push({ dn, resolve, reject });
    if (!group.busy) void writeGroup(g, group);
  });
}

async function writeGroup(g, q) {
  q.busy = true;
  while (q.waiting.length > 0) {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const batch = q.waiting;
    q.waiting = [];
    const dns = batch.map((w) => w.dn);
    groupWrites++;
    try {
      if (q.exists) {
        const values = new Attribute({ type: 'member', values: dns });
        await client.modify(groupDn(g), [new Change({ operation: 'add', modification: values })]);
      } else {
        await client.add(groupDn(g), { objectClass: 'groupOfNames', cn: g, member: dns });
        q.exists = true;
      }
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
  q.busy = false;
}

let next = 0;
async function adder() {
  while (next < rows.length) {
    const i = next++;
    const u = rows[i];
    const startedAt = Date.now();
    const { dn, attrs, groups: names, diff } = person(u);
    await ledger?.apply(u, diff[0]);
    await client.add(dn, attrs);
    await ledger?.apply(u, diff[1]);
    if (acknowledged) {
      await Promise.all(names.map((g) => joinGroup(g, dn)));
    } else {
      for (const g of names) {
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(dn);
      }
    }
    await ledger?.done(u, i, diff, startedAt);
  }
}
await Promise.all(Array.from({ length: Math.max(1, Number(inFlight)) }, adder));
if (!acknowledged) {
  for (const [g, dns] of groups) {
    groupWrites++;
    await client.add(groupDn(g), { objectClass: 'groupOfNames', cn: g, member: dns });
  }
}
await client.unbind();
await ledger?.close();
console.log(JSON.stringify({ people: rows.length, groups: groups.size, groupWrites }));
