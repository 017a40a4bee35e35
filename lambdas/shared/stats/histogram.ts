/**
 * The bins of a histogram on fixed edges: which bin a value falls in (`binIndex`) and each bin's
 * label (`binLabels`), as the drift monitor counts a window on the training profile's histogram and
 * names its buckets in reports.
 */

/**
 * The bin of `value`: bins are [edges[i], edges[i+1]), the last one closed; a value below the
 * first edge falls in the first bin, one above the last edge in the last bin. Binary search.
 */
export function binIndex(edges: number[], value: number): number {
  const bins = edges.length - 1;
  // Count the edges <= value (upper bound), in O(log edges).
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(Math.max(lo - 1, 0), bins - 1);
}

/**
 * "[a, b)" for each bin, "[a, b]" for the last one, with as few digits as keep distinct edges
 * and labels distinct (6 significant digits usually); bins that no precision separates (repeated
 * edges) get " #n".
 */
export function binLabels(edges: number[]): string[] {
  let labels: string[] = [];
  for (const digits of [6, 10, 17]) {
    const text = edges.map((e) => (digits === 17 ? String(e) : String(Number(e.toPrecision(digits)))));
    labels = text.slice(0, -1).map((a, i) => `[${a}, ${text[i + 1]}${i === edges.length - 2 ? ']' : ')'}`);
    const distinctEdgesShown = text.every((t, i) => i === 0 || edges[i] === edges[i - 1] || t !== text[i - 1]);
    if (distinctEdgesShown && new Set(labels).size === labels.length) return labels;
  }
  const used = new Set<string>();
  return labels.map((label, i) => {
    const unique = used.has(label) ? `${label} #${i + 1}` : label;
    used.add(unique);
    return unique;
  });
}
