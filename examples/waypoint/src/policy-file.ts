/**
 * The waypoint's AuthorizationPolicies from a mesh file (the same YAML the control plane serves over
 * xDS, docs/control-plane.md "Mesh file format"). The workload API carries no `targetRefs` policies: istiod
 * hands those to the waypoint's Envoy as RBAC filters instead. Here the waypoint reads the
 * `kind: AuthorizationPolicy` documents (and `List`s of them) itself, compiles them with
 * `@ambient-kit/authz`, and swaps the engine atomically when the file changes; an invalid edit keeps the
 * previous engine.
 * @module
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  createPolicyEngine,
  type MeshConfig,
  type PolicyEngine,
  type PolicySource,
  parsePolicyObjects,
} from '@ambient-kit/authz';
import { parseAllDocuments } from 'yaml';

/** Largest file read (the control plane's own cap). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** A policy source that follows a file. */
export interface MeshPolicyWatcher extends PolicySource {
  /** How many engines were built (1 after the first load). */
  readonly generation: number;
  /** Re-reads the file now; resolves with the error text when the file is invalid (the old engine stays). */
  reload(): Promise<string | undefined>;
  /** Subscribes to reloads; returns the unsubscribe function. */
  onReload(listener: (engine: PolicyEngine) => void): () => void;
  close(): void;
}

/**
 * Builds an engine from the AuthorizationPolicy documents of a mesh file's text.
 *
 * @param text - YAML or JSON, several documents.
 * @param mesh - Mesh settings for the engine (root namespace, trust domain).
 * @returns The engine, or every problem as text.
 * @example
 * ```ts
 * const engine = policyEngineFromMeshFile(readFileSync('mesh.yaml', 'utf8'));
 * ```
 */
export function policyEngineFromMeshFile(
  text: string,
  mesh?: MeshConfig,
): { engine: PolicyEngine } | { error: string } {
  if (text.length > MAX_FILE_BYTES) return { error: `mesh file is larger than ${MAX_FILE_BYTES} bytes` };
  const objects: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) return { error: doc.errors.map((e) => e.message).join('; ') };
    const collect = (value: unknown): void => {
      if (typeof value !== 'object' || value === null) return;
      const kind = (value as { kind?: unknown }).kind;
      if (kind === 'AuthorizationPolicy') objects.push(value);
      else if (
        (kind === 'List' || kind === 'AuthorizationPolicyList') &&
        Array.isArray((value as { items?: unknown }).items)
      ) {
        for (const item of (value as { items: unknown[] }).items) collect(item);
      }
    };
    collect(doc.toJS({ maxAliasCount: 100 }));
  }
  const policies = parsePolicyObjects(objects);
  if (policies.isErr()) return { error: policies.error.map(String).join('; ') };
  const engine = createPolicyEngine({ policies: policies.value, ...(mesh === undefined ? {} : { mesh }) });
  if (engine.isErr()) return { error: engine.error.map(String).join('; ') };
  return { engine: engine.value };
}

/**
 * Loads a mesh file's policies and follows its changes (the directory is watched, so saves by rename and
 * ConfigMap symlink swaps are seen).
 *
 * @param path - The mesh file.
 * @param options - Mesh settings, debounce, and an error callback for invalid edits.
 * @returns The watcher; `current()` is always a valid engine.
 * @throws {Error} When the first load fails.
 * @example
 * ```ts
 * const policies = await watchMeshPolicies('mesh.yaml');
 * const waypoint = createWaypoint({ ..., policies });
 * ```
 */
export async function watchMeshPolicies(
  path: string,
  options: {
    readonly mesh?: MeshConfig;
    readonly debounceMs?: number;
    readonly onError?: (error: string) => void;
  } = {},
): Promise<MeshPolicyWatcher> {
  const file = resolve(path);
  const listeners = new Set<(engine: PolicyEngine) => void>();
  let engine: PolicyEngine | undefined;
  let generation = 0;
  let lastText: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function reload(): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      return `cannot read ${file}: ${(error as Error).message}`;
    }
    if (text === lastText && engine !== undefined) return undefined;
    const built = policyEngineFromMeshFile(text, options.mesh);
    if ('error' in built) return built.error;
    lastText = text;
    engine = built.engine;
    generation++;
    for (const listener of listeners) listener(built.engine);
    return undefined;
  }

  const first = await reload();
  if (first !== undefined) throw new Error(`${file}: ${first}`);
  const name = basename(file);
  const watcher: FSWatcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      void reload().then((error) => {
        if (error !== undefined) options.onError?.(error);
      });
    }, options.debounceMs ?? 50);
  });
  watcher.on('error', (error) => options.onError?.(error.message));

  return {
    current: () => engine as PolicyEngine,
    get generation() {
      return generation;
    },
    reload,
    onReload(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
