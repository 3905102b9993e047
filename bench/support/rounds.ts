/**
 * The shape every benchmark prints (issue 15): each row measured in 5 rounds, min/median/max of ours and of a
 * baseline measured in the same run, the ratio ours ÷ baseline (always oriented so that higher is better), the
 * target and PASS/MISS.
 * @module
 */
import { Bench } from 'tinybench';

/** A figure's unit. Rates are better higher; durations and sizes better lower. */
export type Unit = 'ops/s' | 'MB/s' | 'req/s' | 'ms' | 'µs' | 'MB' | 'KiB';

const LOWER_IS_BETTER: ReadonlySet<Unit> = new Set(['ms', 'µs', 'MB', 'KiB']);

/** Min, median and max of one side's rounds. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** A row's target: a ratio ours ÷ baseline (higher is better), or an absolute bound on our median. */
export type Target =
  | { readonly ratio: number }
  | { readonly atLeast: number }
  | { readonly atMost: number }
  | undefined;

/** One printed row. */
export interface Row {
  readonly name: string;
  readonly unit: Unit;
  readonly ours: Spread;
  readonly baseline?: Spread;
  readonly baselineName?: string;
  readonly target?: Target;
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/**
 * Runs `round` `rounds` times and returns the spread of its figures.
 *
 * @example
 * ```ts
 * const ours = await rounds(5, async () => measureThroughput());
 * ```
 */
export async function rounds(count: number, round: () => number | Promise<number>): Promise<Spread> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(await round());
  return spread(values);
}

/**
 * Measures two synchronous (or async) functions in alternating tinybench rounds and returns ops/s spreads.
 *
 * @example
 * ```ts
 * const { ours, baseline } = await compareOps(() => parseIp(text), () => ipaddr.parse(text));
 * ```
 */
export async function compareOps(
  ours: () => unknown,
  baseline: () => unknown,
  options: { readonly rounds?: number; readonly timeMs?: number } = {},
): Promise<{ ours: Spread; baseline: Spread }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < (options.rounds ?? 5); i++) {
    const bench = new Bench({ time: options.timeMs ?? 200, warmupTime: 50 });
    bench.add('ours', ours).add('baseline', baseline);
    await bench.run();
    const [x, y] = bench.tasks.map((t) => {
      const mean = (t.result as { latency?: { mean?: number } } | undefined)?.latency?.mean ?? Number.NaN;
      return 1000 / mean;
    });
    a.push(x ?? Number.NaN);
    b.push(y ?? Number.NaN);
  }
  return { ours: spread(a), baseline: spread(b) };
}

/** Ours ÷ baseline of the medians, oriented so that higher is better. */
export function ratio(row: Row): number | undefined {
  if (row.baseline === undefined) return undefined;
  return LOWER_IS_BETTER.has(row.unit)
    ? row.baseline.median / row.ours.median
    : row.ours.median / row.baseline.median;
}

function verdict(row: Row): string {
  const t = row.target;
  if (t === undefined) return '';
  if ('ratio' in t) return (ratio(row) ?? 0) >= t.ratio ? 'PASS' : 'MISS';
  if ('atLeast' in t) return row.ours.median >= t.atLeast ? 'PASS' : 'MISS';
  return row.ours.median <= t.atMost ? 'PASS' : 'MISS';
}

function targetText(row: Row): string {
  const t = row.target;
  if (t === undefined) return '';
  if ('ratio' in t) return `≥ ${t.ratio}×`;
  if ('atLeast' in t) return `≥ ${fmt(t.atLeast)} ${row.unit}`;
  return `≤ ${fmt(t.atMost)} ${row.unit}`;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toPrecision(3);
}

/**
 * Prints rows as a table: figure (min / median / max), baseline, ratio, target, verdict.
 *
 * @example
 * ```ts
 * printRows('ip', rows);
 * ```
 */
export function printRows(title: string, rows: readonly Row[]): void {
  const lines = rows.map((row) => {
    const r = ratio(row);
    const s = (x: Spread): string => `${fmt(x.min)} / ${fmt(x.median)} / ${fmt(x.max)}`;
    return [
      row.name,
      `${s(row.ours)} ${row.unit}`,
      row.baseline === undefined ? '' : `${s(row.baseline)} (${row.baselineName ?? 'baseline'})`,
      r === undefined ? '' : `${r.toFixed(2)}×`,
      targetText(row),
      verdict(row),
    ];
  });
  const header = [
    'row',
    'ours min / median / max',
    'baseline min / median / max',
    'ours ÷ baseline',
    'target',
    '',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const print = (cells: readonly string[]): void =>
    console.log(
      cells
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  console.log(`\n${title} (5 rounds each; ratio of medians, higher is better)`);
  print(header);
  for (const l of lines) print(l);
}

/**
 * Which groups of a bench's rows run: those an environment variable names (comma-separated), all of them
 * when it is unset or empty. An unknown name prints one line and exits 2.
 *
 * @param variable - The environment variable, `BENCH_<PACKAGE>_ROWS`.
 * @param groups - Every group the bench has.
 * @returns Whether a group runs.
 * @example
 * ```ts
 * const runs = rowGroups('BENCH_HBONE_ROWS', ['bulk', 'latency']);
 * if (runs('latency')) measureLatency();
 * ```
 */
export function rowGroups<G extends string>(variable: string, groups: readonly G[]): (group: G) => boolean {
  const named = (process.env[variable] ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  for (const g of named) {
    if (!(groups as readonly string[]).includes(g)) {
      console.error(`${variable}: unknown group "${g}" (groups: ${groups.join(', ')})`);
      process.exit(2);
    }
  }
  const wanted = new Set<string>(named.length === 0 ? groups : named);
  return (group) => wanted.has(group);
}
