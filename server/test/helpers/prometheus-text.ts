/** One sample of the Prometheus text exposition format: `name{labels} value`. */
export type Sample = { name: string; labels: Record<string, string>; value: number };

/** The samples of a `/metrics` body (comments skipped; label values unescaped). */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Metric families by `# TYPE` line: name → counter, gauge, histogram, summary, untyped. */
export function parseTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(name as string, type as string);
  return types;
}

/**
 * Every series name a PromQL expression may select from this exposition: each family's name,
 * and for histograms and summaries their `_bucket`, `_sum` and `_count` series, whether or not
 * a sample has been observed yet.
 */
export function seriesNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of parseTypes(text)) {
    names.add(name);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(name + suffix);
  }
  for (const sample of parseSamples(text)) names.add(sample.name);
  return names;
}
