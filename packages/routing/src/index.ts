/**
 * `@ambient-kit/routing`: L7 traffic management as an Istio waypoint applies it. `createRouter` compiles
 * HTTPRoute, GRPCRoute, VirtualService, DestinationRule and Service resources; `router.route` decides a
 * request; `router.execute` carries the decision out (fault delay, timeouts, retries, mirrors) around a
 * caller-supplied `send`; `router.pickEndpoint` chooses endpoints with load balancing, outlier detection
 * and circuit breakers. Everything of `./codec` is re-exported.
 * @module
 */

export * from './codec/index.js';
export {
  type ClusterStatus,
  type Endpoint,
  type EndpointInput,
  type EndpointLease,
  type EndpointOutcome,
  type EndpointPick,
  type EndpointStatus,
  endpointsFromWorkloads,
  type PickEndpointOptions,
  type WorkloadInput,
} from './endpoint-pool.js';
export {
  createRouter,
  type ExecuteOptions,
  type ExecuteResult,
  pickEndpoint,
  type RouteOptions,
  type Router,
  type RouterOptions,
  type SendFunction,
  type SendTarget,
  type UpstreamRequest,
  type UpstreamResponse,
  upstreamFailure,
} from './router.js';
export { createVirtualClock, type VirtualClock } from './virtual-clock.js';
