/** The q-quantile (0..1) of unsorted samples, nearest-rank. */
export function quantile(samples, q) {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of every numeric figure across rounds. */
export function medianFigures(rounds) {
  const out = {};
  for (const key of Object.keys(rounds[0] ?? {})) {
    if (typeof rounds[0][key] === "number") out[key] = median(rounds.map((r) => r[key]));
  }
  return out;
}
