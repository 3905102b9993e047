/**
 * The file source of the embedded control plane: a YAML (or JSON) file of workloads, services and
 * policies in ztunnel's `LOCAL_XDS_PATH` shape, plus Kubernetes AuthorizationPolicy documents translated
 * to what istiod would send ztunnel (via @ambient-kit/authz), applied to a store and watched for changes.
 * @module
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import {
  parsePolicyObjects,
  translateForZtunnel,
  type ZtunnelAddress,
  type ZtunnelAuthorization,
  type ZtunnelSkipReason,
} from '@ambient-kit/authz';
import { type Err, err, ok, type Result } from 'neverthrow';
import { parseAllDocuments } from 'yaml';
import { WorkloadApiError } from '../codec/errors.js';
import { ipFromBytes } from '../codec/ip.js';
import { createIssueList } from '../codec/issues.js';
import { createPolicy, type Policy, type PolicyIpPrefix, type PolicyMatch } from '../codec/policy.js';
import type { Service } from '../codec/service.js';
import type { Workload } from '../codec/workload.js';
import { localConfigFromJson } from '../codec/ztunnel-json.js';
import type { RemovedRef, WorkloadStore } from '../store/workload-store.js';
import { createListeners } from './listeners.js';

/** A Kubernetes policy istiod would not send to ztunnel, and why (authz `translateForZtunnel`). */
export interface SkippedPolicy {
  readonly name: string;
  readonly namespace: string;
  /** `targetRefs`, `unsupported-action` or `dry-run-disabled`. */
  readonly reason: ZtunnelSkipReason;
  readonly message: string;
}

/** What a mesh file holds. */
export interface MeshFileContents {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  /** ztunnel-shaped policies and translated Kubernetes AuthorizationPolicies. */
  readonly policies: readonly Policy[];
  /** Kubernetes AuthorizationPolicies that are not sent to ztunnel. */
  readonly skippedPolicies: readonly SkippedPolicy[];
  /** istiod's status warnings for translated policies (e.g. HTTP attributes dropped). */
  readonly warnings: readonly string[];
}

/** How a mesh file is read. */
export interface MeshFileOptions {
  /** MeshConfig `rootNamespace` for policy scope. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** istiod `AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY`: send dry-run policies. Default false. */
  readonly enableDryRun?: boolean;
  /** Largest file accepted; checked before reading it. Default 64 MiB. */
  readonly maxBytes?: number;
}

const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const LIST_KINDS = new Set(['List', 'AuthorizationPolicyList']);

const prefixes = (list: readonly ZtunnelAddress[]): PolicyIpPrefix[] =>
  list.map((a) => ({ address: ipFromBytes(a.address) ?? '', length: a.length }));

/** Converts authz's `translateForZtunnel` output (istio's names in lowerCamelCase) to the policy model. */
function policyFromTranslation(t: ZtunnelAuthorization): Policy {
  return createPolicy({
    name: t.name,
    namespace: t.namespace,
    scope: t.scope === 'GLOBAL' ? 'Global' : t.scope === 'NAMESPACE' ? 'Namespace' : 'WorkloadSelector',
    action: t.action === 'DENY' ? 'Deny' : 'Allow',
    dryRun: t.dryRun,
    groups: t.groups.map((g) => ({
      rules: g.rules.map((r) => ({
        matches: r.matches.map(
          (m): PolicyMatch => ({
            ...m,
            sourceIps: prefixes(m.sourceIps),
            notSourceIps: prefixes(m.notSourceIps),
            destinationIps: prefixes(m.destinationIps),
            notDestinationIps: prefixes(m.notDestinationIps),
          }),
        ),
      })),
    })),
  });
}

/**
 * Parses a mesh file. Each YAML document is either ztunnel's `LocalConfig` (`workloads`, `services`,
 * `policies`), a Kubernetes `AuthorizationPolicy`, or a `List` of them; empty documents are skipped.
 * Every problem is collected; any problem rejects the whole file.
 *
 * @param text - The file content.
 * @param options - Policy translation options and the size cap.
 * @returns The contents, or `WORKLOAD_API_ERR_BAD_FILE` / `..._BAD_POLICY` (with `issues`).
 * @example
 * ```ts
 * const res = parseMeshFile(readFileSync('mesh.yaml', 'utf8'));
 * if (res.isOk()) store.apply({ resources: [...res.value.workloads, ...res.value.services, ...res.value.policies] });
 * ```
 */
export function parseMeshFile(
  text: string,
  options: MeshFileOptions = {},
): Result<MeshFileContents, WorkloadApiError> {
  const max = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (text.length > max) {
    return err(new WorkloadApiError('WORKLOAD_API_ERR_TOO_LARGE', `mesh file is larger than ${max} bytes`));
  }
  const issues = createIssueList();
  const workloads: Workload[] = [];
  const services: Service[] = [];
  const policies: Policy[] = [];
  const k8sPolicies: unknown[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const at = issues.at(`document[${i}]`);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        at.add(
          '',
          'WORKLOAD_API_ERR_BAD_FILE',
          `${pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `}${e.message.split('\n')[0]}`,
        );
      }
      return;
    }
    let value: unknown;
    try {
      // Alias expansion is bounded ("billion laughs").
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      at.add('', 'WORKLOAD_API_ERR_BAD_FILE', String(e));
      return;
    }
    const visit = (v: unknown): void => {
      if (v === null || v === undefined) return;
      if (typeof v !== 'object' || Array.isArray(v)) {
        at.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'expected a map');
        return;
      }
      const kind = (v as { kind?: unknown }).kind;
      if (kind === undefined) {
        const models = localConfigFromJson(v, at);
        workloads.push(...models.workloads);
        services.push(...models.services);
        policies.push(...models.policies);
      } else if (kind === 'AuthorizationPolicy') {
        k8sPolicies.push(v);
      } else if (
        typeof kind === 'string' &&
        LIST_KINDS.has(kind) &&
        Array.isArray((v as { items?: unknown }).items)
      ) {
        for (const item of (v as { items: unknown[] }).items) visit(item);
      } else {
        at.add('kind', 'WORKLOAD_API_ERR_BAD_FILE', `unsupported kind ${JSON.stringify(kind)}`);
      }
    };
    visit(value);
  });

  const skippedPolicies: SkippedPolicy[] = [];
  const warnings: string[] = [];
  if (k8sPolicies.length > 0) {
    const parsed = parsePolicyObjects(k8sPolicies);
    if (parsed.isErr()) {
      for (const e of parsed.error)
        issues.add('AuthorizationPolicy', 'WORKLOAD_API_ERR_BAD_POLICY', `${e.code}: ${e.message}`);
    } else {
      for (const p of parsed.value) {
        const t = translateForZtunnel(p, {
          ...(options.rootNamespace === undefined ? {} : { rootNamespace: options.rootNamespace }),
          ...(options.enableDryRun === undefined ? {} : { enableDryRun: options.enableDryRun }),
        });
        if (t.sent) {
          policies.push(policyFromTranslation(t.authorization));
          if (t.warning !== undefined)
            warnings.push(`${p.metadata.namespace}/${p.metadata.name}: ${t.warning}`);
        } else {
          skippedPolicies.push({
            name: p.metadata.name,
            namespace: p.metadata.namespace ?? '',
            reason: t.reason,
            message: t.message,
          });
        }
      }
    }
  }
  if (issues.issues.length > 0) return err(WorkloadApiError.fromIssues(issues.issues));
  return ok({ workloads, services, policies, skippedPolicies, warnings });
}

const cannotRead = (path: string, cause: unknown): Err<never, WorkloadApiError> =>
  err(new WorkloadApiError('WORKLOAD_API_ERR_BAD_FILE', `cannot read ${path}: ${String(cause)}`, { cause }));

/** Reads a whole file, its size checked against `max` first. */
async function readCapped(path: string, max: number): Promise<Result<Buffer, WorkloadApiError>> {
  try {
    const info = await stat(path);
    if (info.size > max)
      return err(
        new WorkloadApiError('WORKLOAD_API_ERR_TOO_LARGE', `${path} is ${info.size} bytes, above ${max}`),
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
): Result<MeshFileContents, WorkloadApiError> {
  try {
    return parseMeshFile(bytes.toString('utf8'), options).mapErr(
      (e) => new WorkloadApiError(e.code, `${path}: ${e.message}`, { issues: e.issues }),
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
 * @returns The contents or a {@link WorkloadApiError}.
 * @example
 * ```ts
 * const res = await loadMeshFile('/etc/mesh/mesh.yaml');
 * ```
 */
export async function loadMeshFile(
  path: string,
  options: MeshFileOptions = {},
): Promise<Result<MeshFileContents, WorkloadApiError>> {
  const read = await readCapped(path, options.maxBytes ?? DEFAULT_MAX_FILE_BYTES);
  return read.andThen((bytes) => parseRead(path, bytes, options));
}

/** Events of a {@link MeshFileWatcher}. */
export interface MeshFileEvents {
  /** The file was (re)loaded and applied. */
  readonly loaded: MeshFileContents;
  /** A reload failed; the previous contents stay applied. */
  readonly error: WorkloadApiError;
}

/** A mesh file applied to a store and kept in sync with it. */
export interface MeshFileWatcher {
  /** The absolute path. */
  readonly path: string;
  /** What is currently applied. */
  current(): MeshFileContents;
  /** Re-reads the file now and applies the difference. */
  reload(): Promise<Result<MeshFileContents, WorkloadApiError>>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof MeshFileEvents>(event: E, listener: (payload: MeshFileEvents[E]) => void): () => void;
  /** Stops watching (what was applied stays in the store). */
  close(): Promise<void>;
}

/** Options for {@link watchMeshFile}. */
export interface WatchMeshFileOptions extends MeshFileOptions {
  /** The file (ztunnel `LOCAL_XDS_PATH`). */
  readonly path: string;
  /** Where the file's resources go. */
  readonly store: WorkloadStore;
  /** Watch for changes. Default true. */
  readonly watch?: boolean;
  /** Quiet time after a change before reloading, so a write in several steps reloads once. Default 50 ms. */
  readonly debounceMs?: number;
}

function keyOf(r: Workload | Service | Policy): RemovedRef {
  return { kind: r.kind, name: r.kind === 'workload' ? r.uid : r.key };
}

const refKey = (k: RemovedRef): string => `${k.kind}\u0000${k.name}`;

/**
 * Loads a mesh file into a store and, by default, keeps watching it: each change is parsed, and only if
 * the whole file is valid is the difference applied (resources no longer in the file are removed); an
 * invalid edit emits `error` and leaves the last good contents in place. The directory is watched, so
 * editors that save by rename and Kubernetes ConfigMap symlink swaps are seen.
 *
 * @param options - Path, store and parse options.
 * @returns The watcher, after the first load was applied.
 * @throws {WorkloadApiError} When the first load fails.
 * @example
 * ```ts
 * const store = createWorkloadStore();
 * const file = await watchMeshFile({ path: 'mesh.yaml', store });
 * const server = createXdsServer({ store });
 * await server.listen('127.0.0.1:15010');
 * ```
 */
export async function watchMeshFile(options: WatchMeshFileOptions): Promise<MeshFileWatcher> {
  const path = resolvePath(options.path);
  const events = createListeners<MeshFileEvents>();
  let applied: MeshFileContents = {
    workloads: [],
    services: [],
    policies: [],
    skippedPolicies: [],
    warnings: [],
  };
  // The hash of the content last read ('' when unreadable): a change event with the same content is
  // not re-applied.
  let lastHash = '';
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let loading: Promise<Result<MeshFileContents, WorkloadApiError> | undefined> | undefined;

  /** Reads the file once and applies it; `undefined` when `ifChanged` and the content is unchanged. */
  async function load(ifChanged: boolean): Promise<Result<MeshFileContents, WorkloadApiError> | undefined> {
    const read = await readCapped(path, options.maxBytes ?? DEFAULT_MAX_FILE_BYTES);
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
    events.emit('loaded', next);
    return res;
  }

  async function reload(ifChanged: boolean): Promise<Result<MeshFileContents, WorkloadApiError> | undefined> {
    // Serialize reloads; a change during a reload schedules another one.
    while (loading !== undefined) await loading;
    loading = load(ifChanged);
    try {
      const res = await loading;
      if (res?.isErr() === true) events.emit('error', res.error);
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
      events.emit(
        'error',
        new WorkloadApiError('WORKLOAD_API_ERR_BAD_FILE', `watching ${path} failed: ${e.message}`, {
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
    on: (event, listener) => events.on(event, listener),
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      watcher?.close();
    },
  };
}
