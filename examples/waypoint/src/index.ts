/**
 * `@ambient-kit/example-waypoint`: an example L7 waypoint assembled from the ambient-kit packages: HBONE in,
 * HTTP/1.1 AuthorizationPolicy (`kind: 'waypoint'`), endpoint choice, HBONE out.
 * @module
 */
export { formatWaypointAccessLog, type WaypointAccessLogEntry } from './access-log.js';
export { createDuplexPair, PairEnd } from './duplex-pair.js';
export { type MeshPolicyWatcher, policyEngineFromMeshFile, watchMeshPolicies } from './policy-file.js';
export { findDestination, pickUpstream, type WaypointDestination, type WaypointUpstream } from './route.js';
export {
  createWaypoint,
  rbacDetails,
  type Waypoint,
  type WaypointConfig,
  type WaypointRequestInput,
  waypointAuthzRequest,
  waypointPolicyWorkload,
} from './waypoint.js';
