/**
 * A strict parser of the Prometheus text exposition format (0.0.4), as
 * node_exporter's textfile collector reads it, stricter where the spec leaves
 * room: every family has one HELP and one TYPE before its samples, its samples
 * are contiguous, no series repeats, every label value uses only the escapes
 * \\, \" and \n, every value parses, a counter is named *_total and never
 * negative, and the file ends with a newline. Any departure throws.
 */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, where: string): number {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value "${text}"`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` → labels; throws on anything else. */
function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name} value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\n') throw new Error(`${where}: raw newline in a label value`);
      if (c === '\\') {
        const e = text[j + 1];
        if (e === '\\' || e === '"') value += e;
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${e} in a label value`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i === text.length) break;
    if (text[i] !== ',') throw new Error(`${where}: expected "," after label ${name}`);
    i++;
  }
  return labels;
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the file does not end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') throw new Error(`${where}: empty line`);
    if (line !== line.trim()) throw new Error(`${where}: leading or trailing whitespace`);
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (line.startsWith('#')) {
      if (!meta) throw new Error(`${where}: a comment that is neither HELP nor TYPE`);
      const [, what, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      const f = families.get(name);
      if (f && f.samples.length > 0) throw new Error(`${where}: ${what} for ${name} after its samples`);
      const family = f ?? { type: 'untyped', help: '', samples: [] };
      if (what === 'HELP') {
        if (family.help) throw new Error(`${where}: second HELP for ${name}`);
        family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      } else {
        if (f?.type && f.type !== 'untyped') throw new Error(`${where}: second TYPE for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`${where}: unknown type ${rest}`);
        family.type = rest as Family['type'];
      }
      families.set(name, family);
      current = name;
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line}`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const family = families.get(name);
    if (!family || family.type === 'untyped' || !family.help)
      throw new Error(`${where}: sample of ${name} before its HELP and TYPE`);
    if (current !== name) throw new Error(`${where}: samples of ${name} are not contiguous`);
    const labels = parseLabels(labelText ?? '', where);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`${where}: series repeated: ${series}`);
    seen.add(series);
    const value = parseValue(valueText, where);
    if (family.type === 'counter') {
      if (!name.endsWith('_total')) throw new Error(`${where}: counter ${name} is not named *_total`);
      if (!(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    }
    family.samples.push({ labels, value });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sample(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = (families.get(name)?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}`);
  return (found[0] as Sample).value;
}
