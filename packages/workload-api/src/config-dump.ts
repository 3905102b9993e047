/**
 * `configDump(store)`: the mesh part of ztunnel's `/config_dump` (admin port 15000), in its JSON shape
 * (istio/ztunnel@62d82653:src/admin.rs `ConfigDump`, src/state.rs `ProxyState` serialization; docs/workload-api.md, "Config dump").
 * @module
 */

import { setOwnKey } from './codec/own-key.js';
import {
  authorizationToJson,
  endpointToJson,
  type JsonObject,
  type JsonValue,
  serviceToJson,
  workloadToJson,
} from './codec/ztunnel-json.js';
import type { WorkloadStore } from './store/workload-store.js';

/** Optional sections of the dump that come from outside the store. */
export interface ConfigDumpOptions {
  /**
   * What a `LOCAL_XDS_PATH` file held (`{ workloads, policies, services }`, ztunnel `LocalConfig`).
   * Default: all three empty, as ztunnel prints without a local file.
   */
  readonly staticConfig?: JsonObject;
  /** Build info (`{ version, gitRevision, rustVersion, buildProfile, buildStatus, istioVersion, ... }`). Omitted by default. */
  readonly version?: JsonObject;
  /** The runtime configuration in camelCase. Omitted by default. */
  readonly config?: JsonObject;
  /** `[{ identity, state, certChain, rootCerts }]`, sorted by identity. Default `[]`. */
  readonly certificates?: readonly JsonValue[];
  /** Extra handler sections (ztunnel adds e.g. `workloadState` in in-pod mode). */
  readonly extra?: JsonObject;
}

/** ztunnel's config dump: arrays of workloads, services and policies plus staged endpoints. */
export interface ConfigDump extends JsonObject {
  /** Sorted by uid. */
  workloads: JsonValue[];
  /** Sorted by hostname (then namespace). */
  services: JsonValue[];
  /** Sorted by `namespace/name`. */
  policies: JsonValue[];
  /** `namespace/hostname` -> workload uid -> endpoint. */
  stagedServices: JsonObject;
  staticConfig: JsonObject;
  certificates: JsonValue[];
}

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/**
 * Renders the store as ztunnel renders its state in `/config_dump`: `workloads` sorted by uid,
 * `services` sorted by hostname (each with its `endpoints`), `policies` sorted by key,
 * `stagedServices`, then `staticConfig`, `certificates` and whatever `options` adds.
 *
 * @param store - The store.
 * @param options - Sections from outside the store.
 * @returns A JSON-serializable object.
 * @example
 * ```ts
 * http.createServer((req, res) => res.end(JSON.stringify(configDump(store), null, 2))).listen(15000);
 * ```
 */
export function configDump(store: WorkloadStore, options: ConfigDumpOptions = {}): ConfigDump {
  const workloads = [...store.workloads()].sort(byKey((w) => w.uid)).map(workloadToJson);
  const services = [...store.services()]
    .sort(byKey((s) => `${s.hostname}\u0000${s.namespace}`))
    .map((s) => serviceToJson(s, store.endpoints(s.key).values()));
  const policies = [...store.policies()].sort(byKey((p) => p.key)).map(authorizationToJson);
  const stagedServices: JsonObject = {};
  for (const [key, eps] of store.stagedEndpoints()) {
    const o: JsonObject = {};
    for (const [uid, ep] of eps) setOwnKey(o, uid, endpointToJson(ep));
    setOwnKey(stagedServices, key, o);
  }
  return {
    workloads,
    services,
    policies,
    stagedServices,
    staticConfig: options.staticConfig ?? { workloads: [], policies: [], services: [] },
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.config === undefined ? {} : { config: options.config }),
    certificates: [...(options.certificates ?? [])],
    ...options.extra,
  };
}
