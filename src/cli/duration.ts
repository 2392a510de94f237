const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `90`, `90s`, `10m`, `1h30m`, `500ms`, `7d`, `2w` → milliseconds. Plain numbers are seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== t.length) {
    throw new Error(`"${text}" is not a duration; use e.g. 30s, 10m, 1h30m, 7d`);
  }
  return Math.round(total);
}

/**
 * A point in time given as an age (`7d`: seven days before `now`) or as a date
 * (`2026-11-01`, local midnight; `2026-11-01T02:00:00+01:00`). Epoch ms.
 */
export function parseTimePoint(text: string, now: number): number {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const [y, m, d] = t.split('-').map(Number) as [number, number, number];
    return new Date(y, m - 1, d).getTime();
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(t)) {
    const at = Date.parse(t);
    if (Number.isNaN(at)) throw new Error(`"${text}" is not a date and time`);
    return at;
  }
  try {
    return now - parseDuration(t);
  } catch {
    throw new Error(`"${text}" is neither an age (7d, 12h) nor a date (2026-11-01)`);
  }
}
