/**
 * The waypoint's L7 configuration, following its file: the directory is watched (so editors that replace
 * the file and Kubernetes ConfigMap symlink swaps are seen) and polled; a change is debounced, read with a
 * size cap, and compiled (`parseL7Config`) only when its bytes differ from what is running. A valid edit is
 * swapped in with one assignment, so each request is decided with one configuration; an invalid one keeps
 * the last good configuration and is reported, with every problem, to `onError`.
 * @module
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { WaypointError } from './errors.js';
import { DEFAULT_MAX_CONFIG_BYTES, type L7Config, type L7ConfigOptions, parseL7Config } from './l7-config.js';

/** Where the waypoint's current L7 configuration comes from. */
export interface L7ConfigSource {
  /** The configuration to decide the next request with. */
  current(): L7Config;
  /** 1 for the first configuration, +1 per configuration swapped in. */
  readonly generation: number;
}

/** A configuration source that follows a file. */
export interface L7ConfigWatcher extends L7ConfigSource {
  /** The absolute path. */
  readonly path: string;
  /** The last rejected edit, until a good one replaces it. */
  readonly lastError: WaypointError | undefined;
  /** Milliseconds since the epoch when the current configuration was loaded. */
  readonly loadedAtMs: number;
  /**
   * Reads the file now.
   *
   * @returns `undefined` when the file is unchanged or was swapped in, else why it was rejected.
   */
  reload(): Promise<WaypointError | undefined>;
  /** Calls `listener` after each swap; returns the unsubscribe function. */
  onReload(listener: (config: L7Config, generation: number) => void): () => void;
  close(): void;
}

/** Options of {@link watchL7Config}. */
export interface WatchL7ConfigOptions extends L7ConfigOptions {
  /** Quiet time after a change before reading. Default 50 ms. */
  readonly debounceMs?: number;
  /** Also re-read on this interval (file systems that miss events). Default 2000 ms; 0 turns it off. */
  readonly pollIntervalMs?: number;
  /** A rejected edit (the last good configuration stays). */
  readonly onError?: (error: WaypointError) => void;
}

/**
 * A fixed configuration, e.g. for a program that builds it itself.
 *
 * @param config - The configuration.
 * @returns A source that always answers it.
 * @example
 * ```ts
 * const waypoint = createWaypoint({ ..., config: staticL7Config(parseL7Config(text)._unsafeUnwrap()) });
 * ```
 */
export function staticL7Config(config: L7Config): L7ConfigSource {
  return { current: () => config, generation: 1 };
}

/**
 * Loads the file and follows it.
 *
 * @param path - The mesh file.
 * @param options - Compile options, debounce, poll interval, error callback.
 * @returns The watcher; `current()` is always a compiled configuration.
 * @throws {WaypointError} `WAYPOINT_ERR_CONFIG_READ`, `WAYPOINT_ERR_CONFIG_TOO_LARGE` or `WAYPOINT_ERR_CONFIG`
 *   when the first load fails.
 * @example
 * ```ts
 * const config = await watchL7Config('mesh.yaml', { onError: (e) => console.error(e.message) });
 * ```
 */
export async function watchL7Config(
  path: string,
  options: WatchL7ConfigOptions = {},
): Promise<L7ConfigWatcher> {
  const file = resolve(path);
  const max = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  const listeners = new Set<(config: L7Config, generation: number) => void>();
  let config: L7Config | undefined;
  let generation = 0;
  let loadedAtMs = 0;
  let lastError: WaypointError | undefined;
  let failedSha: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<WaypointError | undefined> | undefined;
  let again = false;
  let closed = false;

  async function readOnce(): Promise<WaypointError | undefined> {
    let source: string;
    try {
      const info = await stat(file);
      if (info.size > max)
        return new WaypointError(
          'WAYPOINT_ERR_CONFIG_TOO_LARGE',
          `${file} is ${info.size} bytes, above ${max}`,
        );
      source = await readFile(file, 'utf8');
    } catch (cause) {
      return new WaypointError(
        'WAYPOINT_ERR_CONFIG_READ',
        `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
        { cause },
      );
    }
    const sha = createHash('sha256').update(source).digest('hex');
    if (config !== undefined && sha === config.sha256) return undefined;
    // The same bytes that failed before fail the same way: not compiled (or reported) again.
    if (sha === failedSha && lastError !== undefined) return lastError;
    const parsed = parseL7Config(source, options);
    if (parsed.isErr()) {
      failedSha = sha;
      return new WaypointError(parsed.error.code, `${file}: ${parsed.error.message}`, {
        issues: parsed.error.issues,
      });
    }
    failedSha = undefined;
    config = parsed.value;
    generation++;
    loadedAtMs = Date.now();
    lastError = undefined;
    for (const listener of listeners) {
      try {
        listener(parsed.value, generation);
      } catch {
        // A listener's failure is its own.
      }
    }
    return undefined;
  }

  // One read at a time; a change during a read triggers one more.
  function reload(): Promise<WaypointError | undefined> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      let result: WaypointError | undefined;
      do {
        again = false;
        result = await readOnce();
      } while (again && !closed);
      running = undefined;
      if (result !== undefined && config !== undefined) {
        if (result !== lastError && result.message !== lastError?.message) options.onError?.(result);
        lastError = result;
      }
      return result;
    })();
    return running;
  }

  const first = await reload();
  if (first !== undefined || config === undefined)
    throw first ?? new WaypointError('WAYPOINT_ERR_CONFIG_READ', `cannot read ${file}`);

  const name = basename(file);
  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), options.debounceMs ?? 50);
    timer.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      // `..data` swaps of a ConfigMap volume, and the file itself.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      schedule();
    });
    watcher.on('error', () => {});
  } catch {
    // The poll below still follows the file.
  }
  const poll =
    (options.pollIntervalMs ?? 2000) > 0 ? setInterval(schedule, options.pollIntervalMs ?? 2000) : undefined;
  poll?.unref();

  return {
    path: file,
    current: () => config as L7Config,
    get generation() {
      return generation;
    },
    get lastError() {
      return lastError;
    },
    get loadedAtMs() {
      return loadedAtMs;
    },
    reload,
    onReload(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
