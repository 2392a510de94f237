import { isAbsolute, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDEM_HOME } from '../runner/version.ts';

/** `at fn (/path/file.ts:12:7)`, `at /path/file.ts:12:7`, `at file:///path/file.ts:12:7`. */
const FRAME = /^at (?:.*? \()?((?:file:\/\/)?[^()\s]+):(\d+):(\d+)\)?$/;

/** idem's own code (built and source), never the task's. */
const IDEM_CODE = ['dist', 'src'].map((p) => join(IDEM_HOME, p) + sep);

/** A stack frame's file, line and column, or undefined for `node:` frames and natives. */
function parseFrame(line: string): { file: string; line: number; column: number } | undefined {
  const m = FRAME.exec(line.trim());
  if (!m) return undefined;
  let file = m[1] as string;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (!isAbsolute(file)) return undefined;
  return { file, line: Number(m[2]), column: Number(m[3]) };
}

/**
 * `file:line:column` of the first frame of a stack that is the task's own code:
 * a file in the task's folder (outside node_modules), or, when the folder is not
 * known, the first file that is neither idem's nor a package's.
 */
export function taskFrame(stack: string, taskDir?: string): string | undefined {
  const inside = taskDir ? (taskDir.endsWith(sep) ? taskDir : taskDir + sep) : undefined;
  for (const line of stack.split('\n')) {
    const f = parseFrame(line);
    if (!f || f.file.includes(`${sep}node_modules${sep}`)) continue;
    const mine = inside ? f.file.startsWith(inside) : !IDEM_CODE.some((c) => f.file.startsWith(c));
    if (mine) return `${f.file}:${f.line}:${f.column}`;
  }
  return undefined;
}
