/**
 * A module resolution hook: lets a task file anywhere on disk `import ... from 'idem'`
 * and get this very installation (same module instances as the CLI), even when
 * idem is installed globally.
 */
let entry = '';

export async function initialize(data: { entry: string }): Promise<void> {
  entry = data.entry;
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<unknown>,
): Promise<unknown> {
  if (specifier === 'idem') return { url: entry, shortCircuit: true };
  return next(specifier, context);
}
