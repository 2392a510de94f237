import type { LedgerEvent } from '../core/ledger.ts';
import { formatCounts } from '../core/outcome.ts';
import type { RunJson } from './ledger-json.ts';
import { formatDuration, type Style } from './style.ts';
import { localTime } from './time.ts';

/**
 * The human forms of what the ledger holds: run rows (`runs`, `status`,
 * `show`), history lines (`history`). Times in the local zone, with its offset.
 */

const STATUS_WIDTH = 'completed-with-failures'.length;

function statusWord(run: RunJson, style: Style): string {
  const word = run.status.padEnd(STATUS_WIDTH);
  if (run.status === 'succeeded') return style.green(word);
  if (run.status === 'running' || run.status === 'superseded') return style.yellow(word);
  return style.red(word);
}

/** `r-…  2026-11-24 02:00:03 +01:00  1.2s  succeeded  changed=3 ok=47 …`, and its message below. */
export function runLines(run: RunJson, style: Style): string[] {
  const took = run.durationMs === null ? '-' : formatDuration(run.durationMs);
  const counts = `${formatCounts(run.counts)}${run.countsPartial ? ' (so far)' : ''}`;
  const dry = run.dryRun ? style.dim(' (dry run)') : '';
  const lines = [
    `${run.id}  ${localTime(Date.parse(run.startedAt))}  ${took.padStart(6)}  ${statusWord(run, style)}  ${counts}${dry}`,
  ];
  if (run.message) lines.push(style.dim(`    ${run.message}`));
  return lines;
}

/** What a history line says happened, in words. */
function eventWords(e: LedgerEvent): string {
  const step = e.step ? ` ${e.step}` : '';
  const attempt = e.attempt ? ` (attempt ${e.attempt})` : '';
  const detail = e.detail ? `: ${e.detail}` : '';
  switch (e.kind) {
    case 'apply':
      return `apply${step}${attempt}${detail}`;
    case 'retry':
      return `retry${step}: attempt ${e.attempt ?? '?'} failed${detail}`;
    case 'absorbed':
      return `absorbed${step}${attempt}: the retry found the work already done`;
    case 'failed':
      return `failed${step}${attempt}${detail}`;
    case 'done':
      return `done${detail}`;
    case 'interrupted':
      return 'interrupted before its outcome was recorded';
    case 'resumed':
      return `run resumed${detail}`;
    case 'crashed':
      return `run crashed${detail}`;
    case 'superseded':
      return `run superseded${detail}`;
    case 'effect-intent':
      return e.detail?.startsWith('held: ')
        ? `once${step}: held in doubt${detail}`
        : `once${step}: intent recorded, about to run it`;
    case 'effect-done':
      return `once${step}: done`;
    case 'effect-abandoned':
      return `once${step}: intent dropped, it certainly did not happen${detail}`;
    case 'resolved':
      return `once${step}: resolved${detail}`;
  }
}

/** `2026-11-24 02:00:03 +01:00  r-…  retry kv.put: attempt 1 failed: transient: busy` */
export function historyLine(e: LedgerEvent, style: Style): string {
  const words = eventWords(e);
  const colour =
    e.kind === 'failed' || e.kind === 'crashed'
      ? style.red
      : e.kind === 'retry' || e.kind === 'absorbed' || e.kind === 'superseded' || e.kind === 'resolved'
        ? style.yellow
        : (t: string) => t;
  return `${localTime(e.at)}  ${e.runId}  ${colour(words)}`;
}
