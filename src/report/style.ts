/** Minimal ANSI colouring that respects NO_COLOR and non-TTY streams. */
export interface Style {
  red(t: string): string;
  green(t: string): string;
  yellow(t: string): string;
  dim(t: string): string;
  bold(t: string): string;
}

const wrap = (open: number, close: number) => (t: string) => `\u001b[${open}m${t}\u001b[${close}m`;

export const plainStyle: Style = {
  red: (t) => t,
  green: (t) => t,
  yellow: (t) => t,
  dim: (t) => t,
  bold: (t) => t,
};

export const ansiStyle: Style = {
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  dim: wrap(2, 22),
  bold: wrap(1, 22),
};

/** Colour only on a TTY, and never when NO_COLOR is set (https://no-color.org). */
export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Style {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return plainStyle;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return ansiStyle;
  return stream.isTTY ? ansiStyle : plainStyle;
}

/** `1.2s`, `3m04s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
