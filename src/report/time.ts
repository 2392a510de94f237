const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * `2026-11-24 02:00:03 +01:00`: a time in the local zone (TZ) with its UTC
 * offset, so a line read in another zone, or across a DST change, is not ambiguous.
 */
export function localTime(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'unknown time';
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** ISO 8601 in UTC (`2026-11-24T01:00:03.120Z`): the JSON forms' time. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
