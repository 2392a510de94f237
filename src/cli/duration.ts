/** `90`, `90s`, `10m`, `1h30m`, `500ms` → milliseconds. Plain numbers are seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== t.length) {
    throw new Error(`"${text}" is not a duration; use e.g. 30s, 10m, 1h30m`);
  }
  return Math.round(total);
}
