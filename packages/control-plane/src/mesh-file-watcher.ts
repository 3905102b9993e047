/**
 * The file source of the embedded control plane: a mesh file (./codec/mesh-file.ts) read with a size cap,
 * applied to a workload store, and watched, so a delta xDS server following that store
 * (`@ambient-kit/workload-api/xds` `createXdsServer`) pushes every edit to its clients.
 * @module
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import type { Authorization, RemovedRef, Service, Workload, WorkloadStore } from '@ambient-kit/workload-api';
import { type Err, err, ok, type Result } from 'neverthrow';
import { ControlPlaneError } from './codec/errors.js';
import {
  DEFAULT_MAX_MESH_FILE_BYTES,
  type MeshFileContents,
  type MeshFileOptions,
  parseMeshFile,
} from './codec/mesh-file.js';
import { debug, publish } from './diagnostics.js';

const cannotRead = (path: string, cause: unknown): Err<never, ControlPlaneError> =>
  err(new ControlPlaneError('CONTROL_PLANE_ERR_READ', `cannot read ${path}: ${String(cause)}`, { cause }));

/** Reads a whole file, its size checked against `max` first. */
async function readCapped(path: string, max: number): Promise<Result<Buffer, ControlPlaneError>> {
  try {
    const info = await stat(path);
    if (info.size > max)
      return err(
        new ControlPlaneError('CONTROL_PLANE_ERR_TOO_LARGE', `${path} is ${info.size} bytes, above ${max}`),
      );
    return ok(await readFile(path));
  } catch (cause) {
    return cannotRead(path, cause);
  }
}

/** {@link parseMeshFile} of what was read from `path`, naming the file in the error; never throws. */
function parseRead(
  path: string,
  bytes: Buffer,
  options: MeshFileOptions,
): Result<MeshFileContents, ControlPlaneError> {
  try {
    return parseMeshFile(bytes.toString('utf8'), options).mapErr(
      (e) => new ControlPlaneError(e.code, `${path}: ${e.message}`, { issues: e.issues }),
    );
  } catch (cause) {
    return cannotRead(path, cause);
  }
}

/**
 * Reads and parses a mesh file; the size is checked before reading.
 *
 * @param path - The file.
 * @param options - Parse options.
 * @returns The contents or a {@link ControlPlaneError}.
 * @example
 * ```ts
 * const res = await loadMeshFile('/etc/mesh/mesh.yaml');
 * ```
 */
export async function loadMeshFile(
  path: string,
  options: MeshFileOptions = {},
): Promise<Result<MeshFileContents, ControlPlaneError>> {
  const read = await readCapped(path, options.maxBytes ?? DEFAULT_MAX_MESH_FILE_BYTES);
  return read.andThen((bytes) => parseRead(path, bytes, options));
}

/** Events of a {@link MeshFileWatcher}. */
export interface MeshFileEvents {
  /** The file was (re)loaded and applied. */
  readonly loaded: MeshFileContents;
  /** A reload (or watching) failed; the previous contents stay applied. */
  readonly error: ControlPlaneError;
}

/** A mesh file applied to a store and kept in sync with it. */
export interface MeshFileWatcher {
  /** The absolute path. */
  readonly path: string;
  /** What is currently applied. */
  current(): MeshFileContents;
  /** Re-reads the file now and applies the difference. */
  reload(): Promise<Result<MeshFileContents, ControlPlaneError>>;
  /**
   * Subscribes to this watcher's events; returns the unsubscribe function. The same events, for every
   * watcher in the process, are on the `mesh-file:*` diagnostics channels. A listener that throws is
   * reported on the `callback-error` channel and changes nothing. Without an `error` listener nothing is
   * printed: subscribe, or set `NODE_DEBUG=ambient-kit:control-plane`.
   */
  on<E extends keyof MeshFileEvents>(event: E, listener: (payload: MeshFileEvents[E]) => void): () => void;
  /** Stops watching (what was applied stays in the store). */
  close(): Promise<void>;
}

/** Options for {@link watchMeshFile}. */
export interface WatchMeshFileOptions extends MeshFileOptions {
  /** The file (ztunnel `LOCAL_XDS_PATH`, or a mesh file with Kubernetes policies). */
  readonly path: string;
  /** Where the file's resources go. */
  readonly store: WorkloadStore;
  /** Watch for changes. Default true. */
  readonly watch?: boolean;
  /** Quiet time after a change before reloading, so a write in several steps reloads once. Default 50 ms. */
  readonly debounceMs?: number;
}

function keyOf(r: Workload | Service | Authorization): RemovedRef {
  return { kind: r.kind, name: r.kind === 'workload' ? r.uid : r.key };
}

const refKey = (k: RemovedRef): string => `${k.kind}\u0000${k.name}`;

/** The per-watcher listeners; a throwing listener is reported, never propagated. */
function createListeners(): {
  on: MeshFileWatcher['on'];
  emit<E extends keyof MeshFileEvents>(event: E, payload: MeshFileEvents[E]): void;
} {
  const sets: { [E in keyof MeshFileEvents]: Set<(payload: MeshFileEvents[E]) => void> } = {
    loaded: new Set(),
    error: new Set(),
  };
  return {
    on(event, listener) {
      const set = sets[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    emit(event, payload) {
      for (const fn of sets[event] as Set<(p: typeof payload) => void>) {
        try {
          fn(payload);
        } catch (error) {
          debug('%s listener threw: %s', event, error instanceof Error ? error.message : String(error));
          publish('callbackError', () => ({ callback: event, error }));
        }
      }
    },
  };
}

/**
 * Loads a mesh file into a store and, by default, keeps watching it: each change is parsed, and only if
 * the whole file is valid is the difference applied (resources no longer in the file are removed); an
 * invalid edit is reported (the `error` event, the `mesh-file:error` channel) and the last good contents
 * stay in place. The directory is watched, so editors that save by rename and Kubernetes ConfigMap symlink swaps
 * are seen; content that did not change applies nothing.
 *
 * @param options - Path, store and parse options.
 * @returns The watcher, after the first load was applied.
 * @throws {ControlPlaneError} When the first load fails.
 * @example
 * ```ts
 * const store = createWorkloadStore();
 * const file = await watchMeshFile({ path: 'mesh.yaml', store });
 * file.on('error', (e) => console.warn(`${e.message} (the last good contents stay)`));
 * const server = createXdsServer({ store });
 * await server.listen('127.0.0.1:15010');
 * ```
 */
export async function watchMeshFile(options: WatchMeshFileOptions): Promise<MeshFileWatcher> {
  const path = resolvePath(options.path);
  const listeners = createListeners();
  let applied: MeshFileContents = {
    workloads: [],
    services: [],
    policies: [],
    skippedPolicies: [],
    warnings: [],
    skippedDocuments: [],
    notForZtunnel: [],
  };
  // The hash of the content last read ('' when unreadable): a change event with the same content is
  // not re-applied.
  let lastHash = '';
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let loading: Promise<Result<MeshFileContents, ControlPlaneError> | undefined> | undefined;

  const failed = (error: ControlPlaneError): void => {
    debug('mesh file %s: %s', path, error.message);
    publish('meshFileError', () => ({ path, error }));
    listeners.emit('error', error);
  };

  /** Reads the file once and applies it; `undefined` when `ifChanged` and the content is unchanged. */
  async function load(ifChanged: boolean): Promise<Result<MeshFileContents, ControlPlaneError> | undefined> {
    const read = await readCapped(path, options.maxBytes ?? DEFAULT_MAX_MESH_FILE_BYTES);
    const hash = read.isOk() ? createHash('sha256').update(read.value).digest('hex') : '';
    if (ifChanged && (closed || hash === lastHash)) return undefined; // nothing to push
    lastHash = hash;
    const res = read.andThen((bytes) => parseRead(path, bytes, options));
    if (res.isErr()) return res;
    const next = res.value;
    const nextKeys = new Set(
      [...next.workloads, ...next.services, ...next.policies].map((r) => refKey(keyOf(r))),
    );
    const removed = [...applied.workloads, ...applied.services, ...applied.policies]
      .map(keyOf)
      .filter((k) => !nextKeys.has(refKey(k)));
    options.store.apply({ resources: [...next.workloads, ...next.services, ...next.policies], removed });
    applied = next;
    debug(
      'mesh file %s: %d workloads, %d services, %d policies',
      path,
      next.workloads.length,
      next.services.length,
      next.policies.length,
    );
    publish('meshFileLoaded', () => ({ path, contents: next }));
    listeners.emit('loaded', next);
    return res;
  }

  async function reload(
    ifChanged: boolean,
  ): Promise<Result<MeshFileContents, ControlPlaneError> | undefined> {
    // Serialize reloads; a change during a reload schedules another one.
    while (loading !== undefined) await loading;
    loading = load(ifChanged);
    try {
      const res = await loading;
      if (res?.isErr() === true) failed(res.error);
      return res;
    } finally {
      loading = undefined;
    }
  }

  const first = await load(false);
  if (first?.isErr() === true) throw first.error;

  if (options.watch ?? true) {
    const name = basename(path);
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (closed || (file !== null && file !== name && !file.startsWith('..'))) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => void reload(true), options.debounceMs ?? 50);
    });
    watcher.on('error', (e) =>
      failed(
        new ControlPlaneError('CONTROL_PLANE_ERR_READ', `watching ${path} failed: ${e.message}`, {
          cause: e,
        }),
      ),
    );
  }

  return {
    path,
    current: () => applied,
    // Never unchanged when not asked to skip: `applied` is only the type's fallback.
    reload: async () => (await reload(false)) ?? ok(applied),
    on: listeners.on,
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      watcher?.close();
    },
  };
}
