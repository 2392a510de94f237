import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage, kindOf, UsageError } from '../core/errors.ts';
import type { Reporter, RunSummary } from '../core/reporter.ts';
import { LedgerReader } from '../ledger/ledger-reader.ts';
import { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { LogFileReporter } from '../report/log-file-reporter.ts';
import {
  type MetricsStatus,
  MetricsTally,
  readPreviousMetrics,
  renderMetrics,
  writeFileAtomic,
} from '../report/metrics.ts';
import { teeReporter } from '../report/tee-reporter.ts';
import { ledgerPath } from '../runner/state.ts';
import { EXIT } from './exit-codes.ts';

/** What `--metrics-file` and `--log-file` need to know of a run. */
export interface RunOutputOptions {
  task: string;
  stateDir: string;
  dryRun: boolean;
  metricsFile?: string | undefined;
  logFile?: string | undefined;
  /** Where a problem with these files is told (stderr). */
  warn: (message: string) => void;
}

/** The task's last success and in-doubt effects, from the ledger, when it can be read. */
async function ledgerFacts(stateDir: string, task: string) {
  const path = ledgerPath(stateDir);
  if (!existsSync(path)) return {};
  let ledger: SqliteLedger | undefined;
  try {
    ledger = new SqliteLedger(path);
    const success = new LedgerReader(ledger.db, path).lastWithStatus(task, 'succeeded');
    return { lastSuccessAt: success?.endedAt, inDoubt: (await ledger.listEffects(task, 'intent')).length };
  } catch {
    return {};
  } finally {
    await ledger?.close();
  }
}

/**
 * The files `idem run` keeps for other tools: the Prometheus metrics file,
 * replaced at the end of every invocation (a dry run leaves it alone), and the
 * NDJSON log file, appended line by line. Both are checked before the run, so
 * a wrong path is a usage error (exit 2), not a silent gap in monitoring.
 */
export class RunOutputs {
  private readonly tally = new MetricsTally();
  private readonly log: LogFileReporter | undefined;
  private readonly started = Date.now();
  /** How long the run waited for the lock (ms). */
  lockWaitMs: number | undefined;

  constructor(private readonly o: RunOutputOptions) {
    if (o.metricsFile) {
      const dir = dirname(o.metricsFile);
      if (!existsSync(dir) || !statSync(dir).isDirectory())
        throw new UsageError(`--metrics-file ${o.metricsFile}: the folder ${dir} does not exist`);
    }
    try {
      this.log = o.logFile ? new LogFileReporter(o.logFile, o.task, o.warn) : undefined;
    } catch (err) {
      throw new UsageError(`--log-file ${o.logFile}: cannot open it for appending: ${errorMessage(err)}`);
    }
  }

  /** What the run tells these files. */
  get reporter(): Reporter {
    return this.log ? teeReporter(this.tally, this.log) : this.tally;
  }

  /** The run ended with a summary. */
  async finished(summary: RunSummary): Promise<void> {
    await this.writeMetrics(summary.status);
  }

  /** The invocation ended with an error instead of a summary (the lock was held, a usage error). */
  async failed(err: unknown, exitCode: number): Promise<void> {
    const interrupted = exitCode === EXIT.sigint || exitCode === EXIT.sigterm;
    const status: MetricsStatus = exitCode === EXIT.locked ? 'locked' : interrupted ? 'interrupted' : 'error';
    // A second signal leaves without a kind: it is an interruption, not a bug.
    this.log?.failed(kindOf(err) ?? (interrupted ? 'interrupted' : 'internal'), errorMessage(err), exitCode);
    await this.writeMetrics(status);
  }

  private async writeMetrics(status: MetricsStatus): Promise<void> {
    const path = this.o.metricsFile;
    if (!path || this.o.dryRun) return;
    try {
      const facts = await ledgerFacts(this.o.stateDir, this.o.task);
      const endedAt = Date.now();
      const text = renderMetrics(
        {
          task: this.o.task,
          status,
          endedAt,
          durationMs: endedAt - this.started,
          records: this.tally.records,
          retries: this.tally.retries,
          inDoubt: facts.inDoubt,
          lockWaitMs: this.lockWaitMs ?? (status === 'locked' ? endedAt - this.started : 0),
          lastSuccessAt: facts.lastSuccessAt,
        },
        readPreviousMetrics(path, this.o.task),
      );
      writeFileAtomic(path, text);
    } catch (err) {
      this.o.warn(`cannot write the metrics file ${path}: ${errorMessage(err)}`);
    }
  }

  close(): void {
    this.log?.close();
  }
}
