/**
 * The `baggage` a workload sends on every CONNECT, as ztunnel builds it
 * (istio/ztunnel@62d82653:src/baggage.rs; `docs/hbone.md` "What goes on the wire").
 * @module
 */
import type { Baggage } from '@ambient-kit/hbone';
import type { Workload } from '@ambient-kit/workload-api';

function nonEmpty<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

/**
 * The baggage describing a workload; empty fields are left out.
 *
 * @param workload - The workload.
 * @returns Its baggage.
 * @example
 * ```ts
 * baggageOf(source); // { namespace: 'default', workloadType: 'deployment', workloadName: 'web', ... }
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
