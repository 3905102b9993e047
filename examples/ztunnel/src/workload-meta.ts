/**
 * Workload metadata on the wire and in telemetry: the `baggage` ztunnel sends for a workload
 * (`istio/ztunnel@62d82653:src/baggage.rs`) and the `DerivedWorkload` it reads back from a peer's baggage.
 * @module
 */
import type { Baggage } from '@ambient-kit/hbone';
import type { Workload } from '@ambient-kit/workload-api';
import type { DerivedWorkload } from './metrics.js';

function nonEmpty<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

/**
 * The `baggage` describing a workload, as ztunnel builds it for CONNECT requests and 200 answers.
 *
 * @param workload - The workload.
 * @returns Its baggage; empty fields are left out.
 * @example
 * ```ts
 * client.connect({ via, authority, expectedIdentities, baggage: baggageOf(sleep) });
 * ```
 */
export function baggageOf(workload: Workload): Baggage {
  return {
    ...nonEmpty('clusterName', workload.clusterId),
    ...nonEmpty('namespace', workload.namespace),
    ...(workload.workloadName === ''
      ? {}
      : { workloadType: workload.workloadType, workloadName: workload.workloadName }),
    ...nonEmpty('serviceName', workload.canonicalName),
    ...nonEmpty('serviceVersion', workload.canonicalRevision),
    ...nonEmpty('region', workload.locality.region),
    ...nonEmpty('zone', workload.locality.zone),
  };
}

/**
 * What an inbound connection learns about its source from the peer: the verified identity and the request's
 * `baggage` (ztunnel's `DerivedWorkload`, with `ENABLE_RESPONSE_BAGGAGE`).
 *
 * @param identity - The peer's SPIFFE ID from its certificate, if any.
 * @param baggage - The parsed request baggage, if any.
 * @returns The derived source.
 * @example
 * ```ts
 * derivedSource(ctx.peerIdentity, ctx.request.baggage);
 * ```
 */
export function derivedSource(identity: string | undefined, baggage: Baggage | undefined): DerivedWorkload {
  return {
    ...nonEmpty('identity', identity),
    ...nonEmpty('workloadName', baggage?.workloadName),
    ...nonEmpty('app', baggage?.serviceName),
    ...nonEmpty('revision', baggage?.serviceVersion),
    ...nonEmpty('namespace', baggage?.namespace),
    ...nonEmpty('clusterId', baggage?.clusterName),
    ...nonEmpty('region', baggage?.region),
    ...nonEmpty('zone', baggage?.zone),
  };
}
