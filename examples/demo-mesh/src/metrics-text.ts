/**
 * Reading back a scraped metrics page (OpenMetrics or Prometheus text) for the demo's summary.
 * @module
 */

/** One sample. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the samples of a metrics page (comments skipped).
 *
 * @param text - The page.
 * @returns Every sample.
 * @example
 * ```ts
 * parseSamples('istio_build{component="ztunnel",tag="0.1.0"} 1'); // [{ name: 'istio_build', labels: {...}, value: 1 }]
 * ```
 */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * Sums samples of one metric, grouped by some labels.
 *
 * @param samples - From {@link parseSamples}.
 * @param name - The metric (sample) name.
 * @param by - Label names to group by.
 * @returns `"v1,v2" -> sum`, in first-seen order.
 * @example
 * ```ts
 * sumBy(samples, 'istio_tcp_connections_opened_total', ['reporter', 'response_flags']);
 * ```
 */
export function sumBy(samples: readonly Sample[], name: string, by: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = by.map((l) => s.labels[l] ?? '').join(',');
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}
