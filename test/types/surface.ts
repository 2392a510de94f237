/**
 * The public surface a task author sees, measured with the TypeScript compiler:
 * the names each connector's index.ts exports (the `ldap`, `sql`... namespaces
 * of `'idem'`) and the names src/index.ts exports, split into values and
 * type-only names. Names whose declaration is marked `@deprecated` are listed
 * apart: they are kept for one release and are not part of the surface.
 *
 * @example
 * npx tsx test/types/surface.ts          # a table of counts
 * npx tsx test/types/surface.ts --names  # and the names
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The entry points measured, by the name a task author knows them by. */
export const ENTRY_POINTS: Readonly<Record<string, string>> = {
  idem: 'src/index.ts',
  cmd: 'src/connectors/cmd/index.ts',
  fs: 'src/connectors/fs/index.ts',
  http: 'src/connectors/http/index.ts',
  ldap: 'src/connectors/ldap/index.ts',
  sql: 'src/connectors/sql/index.ts',
};

/** The exported names of one entry point. */
export interface Surface {
  /**
   * Functions, classes, constants and namespaces (a class is also a type; it
   * counts here, unless it is exported as a type only).
   */
  values: string[];
  /** Interfaces and type aliases. */
  types: string[];
  /** Names marked `@deprecated`, values and types alike. */
  deprecated: string[];
  /** Names (of any list above) with a declaration whose TSDoc has no `@example`. */
  withoutExample: string[];
}

/** The declarations a reader sees: an overloaded function's signatures, not its body. */
function declared(symbol: ts.Symbol): ts.Declaration[] {
  const all = symbol.declarations ?? [];
  return all.filter((d) => !(all.length > 1 && ts.isFunctionDeclaration(d) && d.body));
}

const tagged = (d: ts.Declaration, tag: string) => ts.getJSDocTags(d).some((t) => t.tagName.text === tag);

/** Deprecated as a whole: every declaration is. */
function isDeprecated(symbol: ts.Symbol): boolean {
  const list = declared(symbol);
  return list.length > 0 && list.every((d) => tagged(d, 'deprecated'));
}

/** Every declaration has an `@example` (a namespace's lives on its index.ts, not checked here). */
function hasExample(symbol: ts.Symbol): boolean {
  if (symbol.flags & ts.SymbolFlags.ValueModule) return true;
  const list = declared(symbol);
  return list.length > 0 && list.every((d) => tagged(d, 'example'));
}

/** Lists the exports of every entry point, sorted by name. */
export function publicSurface(): Record<string, Surface> {
  const files = Object.values(ENTRY_POINTS).map((f) => `${ROOT}${f}`);
  const { config } = ts.readConfigFile(`${ROOT}tsconfig.json`, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const program = ts.createProgram(files, { ...options, noEmit: true });
  const checker = program.getTypeChecker();
  const out: Record<string, Surface> = {};
  for (const [name, file] of Object.entries(ENTRY_POINTS)) {
    const source = program.getSourceFile(`${ROOT}${file}`);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read the exports of ${file}`);
    const surface: Surface = { values: [], types: [], deprecated: [], withoutExample: [] };
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      // `export type { LdapPool }` exports a class as a type only.
      const typeOnly = (exported.declarations ?? []).some(
        (d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly),
      );
      const list =
        isDeprecated(exported) || isDeprecated(symbol)
          ? surface.deprecated
          : symbol.flags & ts.SymbolFlags.Value && !typeOnly
            ? surface.values
            : surface.types;
      list.push(exported.name);
      if (!hasExample(symbol)) surface.withoutExample.push(exported.name);
    }
    for (const list of Object.values(surface)) list.sort((a: string, b: string) => a.localeCompare(b));
    out[name] = surface;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.includes('--names');
  console.log('namespace  values  types  total  (deprecated)');
  for (const [name, s] of Object.entries(publicSurface())) {
    const total = s.values.length + s.types.length;
    console.log(
      `${name.padEnd(9)}  ${String(s.values.length).padStart(6)}  ${String(s.types.length).padStart(5)}  ${String(total).padStart(5)}  (${s.deprecated.length})`,
    );
    if (names) {
      console.log(`  values: ${s.values.join(', ')}`);
      console.log(`  types: ${s.types.join(', ')}`);
      if (s.deprecated.length > 0) console.log(`  deprecated: ${s.deprecated.join(', ')}`);
      if (s.withoutExample.length > 0) console.log(`  no @example: ${s.withoutExample.join(', ')}`);
    }
  }
}
