/**
 * xDS type URLs and resource naming for the Workload API (istio/istio@86c9f01f:pilot/pkg/model/service.go
 * `ResourceName`, istio/istio@86c9f01f:pilot/pkg/model/xds.go type URLs, istio/ztunnel@62d82653:src/xds/types.rs).
 * @module
 */

import type { Authorization } from './authorization.js';
import { networkAddressKey } from './network.js';
import type { Service } from './service.js';
import type { Workload } from './workload.js';

/**
 * Type URL of `istio.workload.Address` resources (workloads and services).
 *
 * @example
 * ```ts
 * createXdsClient({ address, store, typeUrls: [ADDRESS_TYPE_URL] });
 * ```
 */
export const ADDRESS_TYPE_URL = 'type.googleapis.com/istio.workload.Address';
/**
 * Type URL of `istio.security.Authorization` resources.
 *
 * @example
 * ```ts
 * client.knownResources(AUTHORIZATION_TYPE_URL).size;
 * ```
 */
export const AUTHORIZATION_TYPE_URL = 'type.googleapis.com/istio.security.Authorization';
/**
 * Type URL of bare `istio.workload.Workload` resources, which istiod also serves (pkg/model/xds.go).
 *
 * @example
 * ```ts
 * if (response.typeUrl === WORKLOAD_TYPE_URL) console.log('bare Workload resources');
 * ```
 */
export const WORKLOAD_TYPE_URL = 'type.googleapis.com/istio.workload.Workload';

/** Anything the store holds: a workload, a service or a policy. */
export type MeshResource = Workload | Service | Authorization;
/** What an `istio.workload.Address` resource carries. */
export type AddressResource = Workload | Service;

/**
 * The xDS resource name of a model: workload uid, service `namespace/hostname`, policy `namespace/name`.
 *
 * @param resource - A workload, service or policy.
 * @returns Its name.
 * @example
 * ```ts
 * resourceName(createService({ namespace: 'ns', hostname: 'a.ns.svc.cluster.local' })); // 'ns/a.ns.svc.cluster.local'
 * ```
 */
export function resourceName(resource: MeshResource): string {
  return resource.kind === 'workload' ? resource.uid : resource.key;
}

/**
 * The aliases istiod gives an Address resource for on-demand lookup: `network/ip` for each workload
 * IP and service VIP, `network/ip/length` for a CIDR VIP (istio/istio@86c9f01f:pilot/pkg/model/service.go:1191-1214).
 *
 * @param resource - A workload or service.
 * @returns The aliases, in address order.
 * @example
 * ```ts
 * resourceAliases(createWorkload({ uid: 'u', workloadIps: ['10.0.0.1'] })); // ['/10.0.0.1']
 * ```
 */
export function resourceAliases(resource: AddressResource): string[] {
  if (resource.kind === 'workload')
    return resource.workloadIps.map((ip) => networkAddressKey(resource.network, ip));
  return [
    ...resource.vips.map((v) => networkAddressKey(v.network, v.address)),
    ...resource.cidrVips.map((c) => `${networkAddressKey(c.network, c.address)}/${c.length}`),
  ];
}
