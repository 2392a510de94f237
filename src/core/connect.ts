import { classifyWith, errorMessage, kindOf, UnavailableError, UsageError } from './errors.ts';
import type { EngineDeps } from './run-options.ts';

/**
 * Calls the task's `connect`. A failure is the operator's to fix (bad config:
 * `UsageError`, exit 2) or the target's (unreachable: `UnavailableError`, exit 4).
 */
export async function connectTask<R, C>(deps: EngineDeps<R, C>): Promise<C> {
  const { task } = deps;
  try {
    return task.connect ? await task.connect(deps.setup) : (undefined as C);
  } catch (err) {
    const kind = kindOf(err);
    if (kind === 'usage' || kind === 'unavailable') throw err;
    // The message holds the whole cause chain, redacted. The raw error is not kept as the
    // cause: whatever prints this error walks its causes, and would print the secrets again.
    const message = `task ${task.name}: connect failed: ${deps.redactor.redact(errorMessage(err))}`;
    if (classifyWith(task.classify)(err) === 'permanent') throw new UsageError(message);
    throw new UnavailableError(message);
  }
}
