/**
 * Model types shared by workloads and services — network addresses, namespaced hostnames, gateway
 * addresses, ports, extensions — and their conversion from and to the `istio.workload` messages
 * (istio/ztunnel@62d82653:src/state/workload.rs `GatewayAddress::try_from`, `byte_to_ip`).
 * @module
 */
import { create } from '@bufbuild/protobuf';
import {
  AppProtocol,
  type Extension as ExtensionProto,
  ExtensionSchema,
  type GatewayAddress as GatewayAddressProto,
  GatewayAddressSchema,
  NamespacedHostnameSchema,
  NetworkAddressSchema,
  type Port as PortProto,
  PortSchema,
} from '../gen/workload_pb.js';
import { ipFromBytes, ipToBytes } from './ip.js';
import type { IssueList } from './issues.js';
import type { ModelParts } from './model-parts.js';

/** An IP bound to a network, ztunnel's `NetworkAddress`; printed `network/ip` (default network: `/ip`). */
export interface NetworkAddress {
  /** The network name; empty for the default network. */
  readonly network: string;
  /** Canonical IP text. */
  readonly address: string;
}

/** A CIDR VIP bound to a network, ztunnel's `NetworkCidr`. */
export interface NetworkCidr {
  /** The network name; empty for the default network. */
  readonly network: string;
  /** Canonical IP text of the prefix as sent (host bits are kept, as `ipnet::IpNet` does). */
  readonly address: string;
  /** Prefix length, below 32 (IPv4) or 128 (IPv6); a full-length prefix is a plain VIP. */
  readonly length: number;
}

/** A service named by namespace and hostname; printed `namespace/hostname`. */
export interface NamespacedHostname {
  readonly namespace: string;
  readonly hostname: string;
}

/** Where a waypoint or a network gateway is: an IP on a network, or a service hostname. */
export type GatewayDestination =
  | { readonly kind: 'address'; readonly network: string; readonly address: string }
  | { readonly kind: 'hostname'; readonly namespace: string; readonly hostname: string };

/** A waypoint or east-west gateway (workload.proto `GatewayAddress`). */
export interface GatewayAddress {
  readonly destination: GatewayDestination;
  /** The port HBONE connections to the gateway go to (istiod sends 15008). */
  readonly hboneMtlsPort: number;
}

/** Application protocol of a port (workload.proto `AppProtocol`). */
export type AppProtocolName = 'UNKNOWN' | 'HTTP11' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';

/** One port mapping: the port clients dial and the port the workload listens on. */
export interface PortMapping {
  readonly servicePort: number;
  /** 0 means "not mapped here" (a workload's own mapping, or the app tunnel port, decides). */
  readonly targetPort: number;
  readonly appProtocol: AppProtocolName;
}

/** Opaque extension configuration (workload.proto `Extension`), kept so resources re-encode losslessly. */
export interface ExtensionConfig {
  readonly name: string;
  /** The packed `google.protobuf.Any`, if any. */
  readonly config?: { readonly typeUrl: string; readonly value: Uint8Array };
}

/** Options shared by every proto-to-model conversion. */
export interface ConvertOptions {
  /**
   * Deduplicates repeated strings (namespaces, networks, node names) across resources; see
   * {@link createInterner}. Default: no interning.
   */
  readonly intern?: (value: string) => string;
}

/**
 * The empty frozen list every model uses for absent repeated fields, so they cost no memory.
 *
 * @example
 * ```ts
 * const services: readonly WorkloadService[] = list.length === 0 ? EMPTY : list;
 * ```
 */
export const EMPTY: readonly never[] = Object.freeze([]);

/**
 * App protocol names by wire value.
 *
 * @example
 * ```ts
 * APP_PROTOCOL_NAMES[AppProtocol.HTTP2]; // 'HTTP2'
 * ```
 */
export const APP_PROTOCOL_NAMES: readonly AppProtocolName[] = [
  'UNKNOWN',
  'HTTP11',
  'HTTP2',
  'GRPC',
  'TCP',
  'TLS',
];

/**
 * Formats a network address the way ztunnel does, which is also the xDS alias istiod gives resources.
 *
 * @param network - The network; empty for the default one.
 * @param address - Canonical IP text.
 * @returns `network/address`, e.g. `/10.0.0.1` on the default network.
 * @example
 * ```ts
 * networkAddressKey('', '10.0.0.1'); // '/10.0.0.1'
 * ```
 */
export function networkAddressKey(network: string, address: string): string {
  return `${network}/${address}`;
}

/**
 * Splits `namespace/hostname` at the first `/` (ztunnel `NamespacedHostname::from_str`).
 *
 * @param key - The key.
 * @returns The parts, or `undefined` when there is no `/`.
 * @example
 * ```ts
 * parseNamespacedHostname('default/echo.default.svc.cluster.local');
 * ```
 */
export function parseNamespacedHostname(key: string): NamespacedHostname | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) return undefined;
  return { namespace: key.slice(0, slash), hostname: key.slice(slash + 1) };
}

/**
 * Checks that a `uint32` port fits in 16 bits; ztunnel would silently truncate it (`as u16`).
 *
 * @example
 * ```ts
 * const port = checkPort(msg.hboneMtlsPort, issues, 'hboneMtlsPort'); // 0 and an issue when > 65535
 * ```
 */
export function checkPort(value: number, issues: IssueList, path: string): number {
  if (value > 65535) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_PORT', `port ${value} is larger than 65535`);
    return 0;
  }
  return value;
}

/**
 * Converts raw address bytes, recording a `WORKLOAD_API_ERR_BAD_ADDRESS` issue when they are not 4 or 16
 * bytes long (ztunnel `byte_to_ip`: "failed to parse address, had N bytes").
 *
 * @example
 * ```ts
 * const ip = checkIp(bytes, issues, 'addresses[0]'); // undefined and an issue unless 4 or 16 bytes
 * ```
 */
export function checkIp(bytes: Uint8Array, issues: IssueList, path: string): string | undefined {
  const ip = ipFromBytes(bytes);
  if (ip === undefined) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_ADDRESS', `failed to parse address, had ${bytes.length} bytes`);
  }
  return ip;
}

/**
 * Converts `GatewayAddress`; a message without a destination is rejected as ztunnel does.
 *
 * @example
 * ```ts
 * const waypoint = gatewayFromProto(msg.waypoint, issues.at('waypoint'), (s) => s);
 * ```
 */
export function gatewayFromProto(
  msg: GatewayAddressProto,
  issues: IssueList,
  intern: (value: string) => string,
): GatewayAddress | undefined {
  const hboneMtlsPort = checkPort(msg.hboneMtlsPort, issues, 'hboneMtlsPort');
  switch (msg.destination.case) {
    case 'address': {
      const address = checkIp(msg.destination.value.address, issues, 'address.address');
      if (address === undefined) return undefined;
      return {
        destination: { kind: 'address', network: intern(msg.destination.value.network), address },
        hboneMtlsPort,
      };
    }
    case 'hostname':
      return {
        destination: {
          kind: 'hostname',
          namespace: intern(msg.destination.value.namespace),
          hostname: intern(msg.destination.value.hostname),
        },
        hboneMtlsPort,
      };
    default:
      issues.add(
        '',
        'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
        'nonempty gateway address is missing address',
      );
      return undefined;
  }
}

/**
 * Converts a {@link GatewayAddress} back to its message.
 *
 * @example
 * ```ts
 * gatewayToProto({ destination: { kind: 'address', network: '', address: '10.0.0.9' }, hboneMtlsPort: 15008 });
 * ```
 */
export function gatewayToProto(gateway: GatewayAddress): GatewayAddressProto {
  const d = gateway.destination;
  return create(GatewayAddressSchema, {
    hboneMtlsPort: gateway.hboneMtlsPort,
    destination:
      d.kind === 'address'
        ? {
            case: 'address',
            value: create(NetworkAddressSchema, {
              network: d.network,
              address: ipToBytes(d.address) ?? new Uint8Array(),
            }),
          }
        : {
            case: 'hostname',
            value: create(NamespacedHostnameSchema, { namespace: d.namespace, hostname: d.hostname }),
          },
  });
}

/**
 * Converts a list of `Port`s; the later of two entries for one service port wins, as in ztunnel's
 * `HashMap`. A port above 65535 is recorded under `<prefix>.ports[i]`.
 *
 * @example
 * ```ts
 * portsFromProto(service.ports, issues); // [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }]
 * ```
 */
export function portsFromProto(
  ports: readonly PortProto[],
  issues: IssueList,
  prefix = '',
  parts?: ModelParts,
): readonly PortMapping[] {
  if (ports.length === 0) return EMPTY;
  const out: PortMapping[] = [];
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i] as PortProto;
    let { servicePort, targetPort } = p;
    if (servicePort > 65535 || targetPort > 65535) {
      const at = prefix === '' ? issues : issues.at(prefix);
      servicePort = checkPort(servicePort, at, `ports[${i}].servicePort`);
      targetPort = checkPort(targetPort, at, `ports[${i}].targetPort`);
    }
    addPort(out, servicePort, targetPort, p.appProtocol, parts);
  }
  // Exact length: a list grown by push keeps spare capacity, and a model lives as long as the mesh.
  return out.slice();
}

/**
 * Adds one port mapping to a list being built, replacing an earlier one for the same service port (the
 * later wins, as in ztunnel's `HashMap`). Unknown app protocols are only telemetry hints that ztunnel
 * ignores, so they read as `UNKNOWN`.
 *
 * @example
 * ```ts
 * addPort(list, 80, 8080, AppProtocol.HTTP11, undefined);
 * ```
 */
export function addPort(
  out: PortMapping[],
  servicePort: number,
  targetPort: number,
  appProtocol: number,
  parts: ModelParts | undefined,
): void {
  const name = APP_PROTOCOL_NAMES[appProtocol] ?? 'UNKNOWN';
  const mapping: PortMapping =
    parts === undefined
      ? { servicePort, targetPort, appProtocol: name }
      : parts.port(servicePort, targetPort, name);
  for (let i = 0; i < out.length; i++) {
    if ((out[i] as PortMapping).servicePort === servicePort) {
      out[i] = mapping;
      return;
    }
  }
  out.push(mapping);
}

/**
 * Converts {@link PortMapping}s back to `Port` messages.
 *
 * @example
 * ```ts
 * portsToProto([{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }]);
 * ```
 */
export function portsToProto(ports: readonly PortMapping[]): PortProto[] {
  return ports.map((p) =>
    create(PortSchema, {
      servicePort: p.servicePort,
      targetPort: p.targetPort,
      appProtocol: AppProtocol[p.appProtocol],
    }),
  );
}

/**
 * Converts `Extension` messages (kept opaque).
 *
 * @example
 * ```ts
 * extensionsFromProto(msg.extensions); // [{ name, config: { typeUrl, value } }]
 * ```
 */
export function extensionsFromProto(exts: readonly ExtensionProto[]): readonly ExtensionConfig[] {
  if (exts.length === 0) return EMPTY;
  return exts.map((e) =>
    e.config === undefined
      ? { name: e.name }
      : { name: e.name, config: { typeUrl: e.config.typeUrl, value: e.config.value } },
  );
}

/**
 * Converts {@link ExtensionConfig}s back to `Extension` messages.
 *
 * @example
 * ```ts
 * extensionsToProto([{ name: 'x' }]);
 * ```
 */
export function extensionsToProto(exts: readonly ExtensionConfig[]): ExtensionProto[] {
  return exts.map((e) =>
    create(ExtensionSchema, {
      name: e.name,
      ...(e.config === undefined ? {} : { config: { typeUrl: e.config.typeUrl, value: e.config.value } }),
    }),
  );
}
