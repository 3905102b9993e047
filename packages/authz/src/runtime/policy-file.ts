/**
 * A policy file that reloads itself: read, parsed, validated and compiled into a new engine on every change,
 * then swapped in with one assignment. Requests always see a complete engine (the old one until the new one is
 * ready); an invalid edit is reported and the last good engine stays (istiod likewise rejects an invalid
 * resource and keeps serving the previous configuration).
 * @module
 */

import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { createPolicyEngine, type PolicyEngine } from '../engine/engine.js';
import { PolicyError } from '../engine/errors.js';
import type { MeshConfig } from '../engine/mesh.js';
import { DEFAULT_MAX_POLICY_BYTES, parsePolicies } from '../engine/parse.js';

/** Anything that hands out the engine to use now (an engine itself, or a reloading file). */
export interface PolicySource {
  /** The engine to evaluate this request with. */
  current(): PolicyEngine;
}

/** Options of {@link watchPolicyFile}. */
export interface WatchPolicyFileOptions {
  /** Mesh settings for every engine built from the file. */
  readonly mesh?: MeshConfig;
  /** Wait this long after a change event before reading, to let writers finish. Default 50 ms. */
  readonly debounceMs?: number;
  /** Also check the file this often, for file systems without change events. Default 2000 ms; 0 disables. */
  readonly pollIntervalMs?: number;
  /** Refuse files larger than this. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Told about every engine swapped in after a change. */
  readonly onReload?: (engine: PolicyEngine) => void;
  /** Told why a change was not applied (the previous engine stays). */
  readonly onError?: (errors: readonly PolicyError[]) => void;
  /** Aborting closes the watcher. */
  readonly signal?: AbortSignal;
}

/** A reloading policy file; see {@link watchPolicyFile}. */
export interface PolicyFileWatcher extends PolicySource {
  /** The absolute path watched. */
  readonly path: string;
  /** How many engines have been built from the file (1 after the initial load). */
  readonly generation: number;
  /**
   * Reads the file now and swaps the engine in if it is valid and changed.
   *
   * @returns The engine in use afterwards, or the errors that kept the previous one.
   */
  reload(): Promise<
    | { readonly ok: true; readonly engine: PolicyEngine }
    | { readonly ok: false; readonly errors: readonly PolicyError[] }
  >;
  /** Stops watching. The last engine stays usable. */
  close(): void;
}

async function readCapped(path: string, maxBytes: number): Promise<string> {
  // One open, then the size of what was opened (not of whatever the path names by then).
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (info.size > maxBytes) {
      throw new PolicyError(
        'AUTHZ_ERR_INPUT_TOO_LARGE',
        `${path}: ${info.size} bytes is more than the ${maxBytes}-byte limit`,
      );
    }
    // Read at most maxBytes + 1 so a file that grows between stat and read is still caught.
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > maxBytes) {
      throw new PolicyError('AUTHZ_ERR_INPUT_TOO_LARGE', `${path}: larger than the ${maxBytes}-byte limit`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

function summarize(errors: readonly PolicyError[]): PolicyError {
  const first = errors[0] as PolicyError;
  const message = errors.map(String).join('\n');
  return new PolicyError(first.code, message, {
    ...(first.policy === undefined ? {} : { policy: first.policy }),
    ...(first.path === undefined ? {} : { path: first.path }),
    cause: errors,
  });
}

/**
 * Loads a policy file (YAML or JSON, any number of documents) into an engine and keeps it current: the file's
 * directory is watched (which also catches editors that replace the file and Kubernetes ConfigMap symlink
 * swaps), plus an optional poll; each change is debounced, read, validated and compiled, and only a valid
 * result replaces the engine. Reloads never overlap.
 *
 * @param path - The policy file.
 * @param options - Mesh settings, timings, callbacks, an abort signal.
 * @returns The watcher, once the first load succeeded.
 * @throws {PolicyError} (rejects) `AUTHZ_ERR_IO` when the file cannot be read, or the first parse/validation
 *   error (its message lists them all, its `cause` holds them) when the initial content is invalid.
 * @example
 * ```ts
 * const policies = await watchPolicyFile('/etc/authz/policies.yaml', {
 *   onError: (errors) => console.error(errors.map(String).join('\n')),
 * });
 * const middleware = createAuthzMiddleware({ engine: policies, workload });
 * ```
 */
export async function watchPolicyFile(
  path: string,
  options: WatchPolicyFileOptions = {},
): Promise<PolicyFileWatcher> {
  if (typeof path !== 'string' || path === '')
    throw new TypeError('watchPolicyFile: path must be a non-empty string');
  const absolute = resolve(path);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_POLICY_BYTES;
  const debounceMs = options.debounceMs ?? 50;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;

  // The file's text and digest, or why it cannot be read.
  const read = async (): Promise<{ text: string; digest: string } | { errors: PolicyError[] }> => {
    try {
      const text = await readCapped(absolute, maxBytes);
      return { text, digest: createHash('sha256').update(text).digest('hex') };
    } catch (cause) {
      if (cause instanceof PolicyError) return { errors: [cause] };
      return {
        errors: [new PolicyError('AUTHZ_ERR_IO', `cannot read ${absolute}: ${String(cause)}`, { cause })],
      };
    }
  };

  // Parses, validates and compiles the text into a new engine.
  const build = (text: string): { engine: PolicyEngine } | { errors: PolicyError[] } => {
    const parsed = parsePolicies(text, { maxBytes, source: absolute });
    if (parsed.isErr()) return { errors: parsed.error };
    const engine = createPolicyEngine(
      options.mesh === undefined
        ? { policies: parsed.value }
        : { policies: parsed.value, mesh: options.mesh },
    );
    return engine.isErr() ? { errors: engine.error } : { engine: engine.value };
  };

  const firstFile = await read();
  if ('errors' in firstFile) throw summarize(firstFile.errors);
  const first = build(firstFile.text);
  if ('errors' in first) throw summarize(first.errors);
  let engine = first.engine;
  let digest = firstFile.digest;
  let generation = 1;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  type Outcome = { ok: true; engine: PolicyEngine } | { ok: false; errors: readonly PolicyError[] };
  let lastOutcome: Outcome = { ok: true, engine };

  const fail = (errors: readonly PolicyError[]): void => {
    lastOutcome = { ok: false, errors };
    options.onError?.(errors);
  };

  const runOnce = async (): Promise<void> => {
    const file = await read();
    if (closed) return;
    if ('errors' in file) {
      fail(file.errors);
      return;
    }
    // The file still holds what the current engine was built from (every poll, and every unrelated change in
    // the directory): building it again would only make the same engine.
    if (file.digest === digest) {
      lastOutcome = { ok: true, engine };
      return;
    }
    const result = build(file.text);
    if ('errors' in result) {
      fail(result.errors);
      return;
    }
    lastOutcome = { ok: true, engine: result.engine };
    // The swap: one assignment; requests already holding the previous engine finish with it.
    engine = result.engine;
    digest = file.digest;
    generation += 1;
    options.onReload?.(engine);
  };

  // Serializes reloads; a change during a reload schedules exactly one more.
  const reload = (): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await runOnce();
        } while (again && !closed);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
    timer.unref();
  };

  let watcher: FSWatcher | undefined;
  try {
    const name = basename(absolute);
    watcher = watch(dirname(absolute), { persistent: false }, (_event, changed) => {
      // Any change in the directory may be ours (rename-replace, ConfigMap `..data` swaps).
      if (changed === null || changed === name || changed.startsWith('..')) schedule();
    });
    watcher.on('error', (cause) => {
      options.onError?.([
        new PolicyError('AUTHZ_ERR_IO', `watching ${absolute} failed: ${String(cause)}`, { cause }),
      ]);
    });
  } catch (cause) {
    // No change events here (some network file systems): the poll below still works.
    options.onError?.([
      new PolicyError('AUTHZ_ERR_IO', `cannot watch ${absolute}: ${String(cause)}`, { cause }),
    ]);
  }
  const poll = pollIntervalMs > 0 ? setInterval(() => void reload(), pollIntervalMs) : undefined;
  poll?.unref();

  const close = (): void => {
    if (closed) return;
    closed = true;
    watcher?.close();
    if (timer !== undefined) clearTimeout(timer);
    if (poll !== undefined) clearInterval(poll);
  };
  options.signal?.addEventListener('abort', close, { once: true });
  if (options.signal?.aborted === true) close();

  return {
    path: absolute,
    get generation(): number {
      return generation;
    },
    current: () => engine,
    reload: async () => {
      await reload();
      return lastOutcome;
    },
    close,
  };
}
