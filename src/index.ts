/**
 * The public API for task authors.
 *
 * @example
 * import { defineTask, csv, once } from 'idem';
 */

export * as cmd from './connectors/cmd/index.ts';
export * as fs from './connectors/fs/index.ts';
export * as http from './connectors/http/index.ts';
export * as ldap from './connectors/ldap/index.ts';
export * as sql from './connectors/sql/index.ts';
export {
  added,
  type Change,
  type ChangeOp,
  type Diff,
  diffOf,
  formatChange,
  modified,
  removed,
} from './core/diff.ts';
export {
  AmbiguousError,
  type Classifier,
  type ErrorClass,
  type ErrorKind,
  IdemError,
  InDoubtError,
  InvalidRecordError,
  PermanentError,
  TransientError,
  UsageError,
} from './core/errors.ts';
export { type OnceOptions, once } from './core/once.ts';
export type { Counts, Outcome, RecordResult, RunStatus } from './core/outcome.ts';
export type { Reporter, RetryNotice, RunStart, RunSummary } from './core/reporter.ts';
export type { LineFilter, RecordSource, SourceRecord, SourceSpec } from './core/source.ts';
export {
  type CheckThenActOptions,
  checkThenAct,
  type EffectStore,
  type Step,
  type StepEnv,
  type UpsertDiff,
  type UpsertOptions,
  upsertStep,
} from './core/step.ts';
export {
  DEFAULT_PRUNE_LIMIT,
  DEFAULT_RETRY,
  type DeleteLimit,
  defineTask,
  type PruneRecord,
  type PruneSpec,
  type RetryPolicy,
  type SetupContext,
  type TaskDefinition,
} from './core/task.ts';
export { type RunOptions, run } from './runner/run.ts';
export { type CsvOptions, csv } from './sources/csv.ts';
