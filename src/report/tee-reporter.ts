import type { Reporter } from '../core/reporter.ts';

/** Tells several reporters the same things, in order (the screen, the log file, the metrics tally). */
export function teeReporter(...reporters: Reporter[]): Reporter {
  return {
    runStarted(info) {
      for (const r of reporters) r.runStarted(info);
    },
    recordFinished(result) {
      for (const r of reporters) r.recordFinished(result);
    },
    retrying(notice) {
      for (const r of reporters) r.retrying(notice);
    },
    warn(message) {
      for (const r of reporters) r.warn(message);
    },
    runFinished(summary) {
      for (const r of reporters) r.runFinished(summary);
    },
  };
}
