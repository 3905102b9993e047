/**
 * A virtual clock for `execute` in tests and demos: `sleep` resolves in deadline order and time jumps to
 * the next deadline as soon as nothing else is runnable, so a 30 s timeout takes no real time and results
 * are deterministic.
 * @module
 */

/** A clock whose time only moves when every pending promise is waiting for it. */
export interface VirtualClock {
  /** The virtual time in milliseconds. */
  now(): number;
  /** Resolves after `ms` virtual milliseconds (or at once when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Timers not yet fired. */
  readonly pending: number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/**
 * Creates a virtual clock.
 *
 * @param startMs - The initial time. Default 0.
 * @returns The clock.
 * @example
 * ```ts
 * const clock = createVirtualClock();
 * await router.execute(request, { send, now: clock.now, sleep: clock.sleep });
 * ```
 */
export function createVirtualClock(startMs = 0): VirtualClock {
  let time = startMs;
  let seq = 0;
  let timers: Timer[] = [];
  let scheduled = false;

  const advance = (): void => {
    scheduled = false;
    if (timers.length === 0) return;
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const first = timers[0] as Timer;
    time = Math.max(time, first.at);
    const due = timers.filter((t) => t.at <= time);
    timers = timers.filter((t) => t.at > time);
    for (const t of due) t.resolve();
    schedule();
  };
  // A macrotask runs only after every microtask: by then all promise chains are waiting on timers.
  const schedule = (): void => {
    if (scheduled || timers.length === 0) return;
    scheduled = true;
    setImmediate(advance);
  };

  return {
    now: () => time,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted === true) {
          resolve();
          return;
        }
        const timer: Timer = { at: time + Math.max(0, ms), seq: seq++, resolve };
        timers.push(timer);
        signal?.addEventListener(
          'abort',
          () => {
            timers = timers.filter((t) => t !== timer);
            resolve();
          },
          { once: true },
        );
        schedule();
      });
    },
    get pending() {
      return timers.length;
    },
  };
}
