/**
 * Module resolution hooks for task files:
 *
 * - a task file anywhere on disk may `import ... from 'idem'` and gets this very
 *   installation (the same module instances as the CLI), even when idem is
 *   installed globally;
 * - a `.ts` task outside an ESM package (no `"type": "module"` above it, as in
 *   /etc/idem/tasks) is still loaded as an ES module, as task files are written.
 */
let entry = '';

export async function initialize(data: { entry: string }): Promise<void> {
  entry = data.entry;
}

interface Resolved {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved> {
  if (specifier === 'idem') return { url: entry, format: 'module', shortCircuit: true };
  const resolved = await next(specifier, context);
  if (
    resolved.url.startsWith('file:') &&
    /\.(ts|tsx)$/.test(new URL(resolved.url).pathname) &&
    !resolved.url.includes('/node_modules/') &&
    resolved.format !== 'module'
  ) {
    return { ...resolved, format: 'module' };
  }
  return resolved;
}
