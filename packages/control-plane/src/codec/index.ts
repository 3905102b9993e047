/**
 * `@ambient-kit/control-plane/codec`: the pure layer. A mesh file's text → the workload model istiod
 * would send ztunnel: ztunnel's local config (`LOCAL_XDS_PATH` shape, strict at every depth), Kubernetes
 * Namespaces, Pods, Services, WorkloadEntries and waypoint Gateways translated as istiod's ambient index
 * translates them, and Kubernetes AuthorizationPolicies translated as istiod translates them; a token file's text → the accepted
 * bearer tokens and their service accounts; `CA_TRUSTED_NODE_ACCOUNTS`. No `node:` imports, no timers, no
 * files.
 *
 * @example
 * ```ts
 * import { parseMeshFile } from '@ambient-kit/control-plane/codec';
 *
 * const res = parseMeshFile('workloads: [{uid: a, namespace: default, serviceaccount: sleep}]');
 * if (res.isErr()) console.log(res.error.message);
 * // document[0].workloads[0].serviceaccount: unknown field (did you mean serviceAccount?)
 * ```
 * @module
 */
export type { AmbientIndexOptions } from './ambient-index.js';
export {
  CONTROL_PLANE_ERROR_CODES,
  ControlPlaneError,
  type ControlPlaneErrorCode,
  type ControlPlaneIssue,
} from './errors.js';
export {
  DEFAULT_MAX_MESH_FILE_BYTES,
  type MeshFileContents,
  type MeshFileOptions,
  parseMeshFile,
  type SkippedDocument,
  type SkippedPolicy,
} from './mesh-file.js';
export {
  MAX_TOKEN_CHARS,
  MAX_TOKEN_FILE_BYTES,
  parseServiceAccount,
  parseTokenFile,
  parseTrustedNodeAccounts,
  type TokenEntry,
} from './token-file.js';
