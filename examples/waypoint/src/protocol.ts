/**
 * Which protocol a Service port carries, as istiod decides it, and what the waypoint does with it:
 *
 * - the Kubernetes Service port's `appProtocol`, else its name, up to the first `-`, read case-insensitively
 *   (`http`, `http-web`, `http2`, `grpc`, `grpc-web`, `tcp`, `tls`, `https`, `mongo`, `redis`, `mysql`);
 *   anything else is "unsupported", i.e. detected at run time; well-known server-first ports (25, 53, 3306,
 *   27017) without a protocol are TCP (istio/istio@b00f7c9e:pkg/config/kube/conversion.go `ConvertProtocol`,
 *   istio/istio@0fb12bfc:pkg/config/protocol/instance.go `Parse`);
 * - without a Kubernetes Service, the WDS port's `appProtocol` (workload.proto `AppProtocol`);
 * - at the waypoint, an HTTP port gets the HTTP filter chain, a TCP one the TCP proxy, and an unsupported one
 *   both behind the HTTP inspector (istio/istio@00274234:pilot/pkg/networking/core/listener_waypoint.go
 *   `buildWaypointInternal`);
 * - upstream, `http2` and `grpc` ports are spoken HTTP/2, everything else HTTP/1.1: only sidecars get
 *   `use_downstream_protocol` for unsupported ports (istio/istio@a7afda5e:pilot/pkg/networking/core/
 *   cluster_builder.go `setUpstreamProtocol`).
 * @module
 */
import type { AppProtocolName } from '@ambient-kit/workload-api';

/** istiod's protocol names (`protocol.Instance`). */
export type ServiceProtocol =
  | 'GRPC'
  | 'GRPC-Web'
  | 'HTTP'
  | 'HTTP_PROXY'
  | 'HTTP2'
  | 'HTTPS'
  | 'TCP'
  | 'TLS'
  | 'UDP'
  | 'Mongo'
  | 'Redis'
  | 'MySQL'
  | 'UnsupportedProtocol';

/** What the waypoint's listener does with a port's traffic. */
export type ListenerMode = 'http' | 'tcp' | 'sniff';

const PARSE: Readonly<Record<string, ServiceProtocol>> = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
};

// Server-first protocols: sniffing would wait forever for the client's first byte.
const WELL_KNOWN_PORTS = new Set([25, 53, 3306, 27017]);

/**
 * istiod's `protocol.Parse`: a protocol name, case-insensitive.
 *
 * @param name - E.g. `http2`, `GRPC`.
 * @returns The protocol, or `UnsupportedProtocol`.
 * @example
 * ```ts
 * parseProtocol('Http2'); // 'HTTP2'
 * ```
 */
export function parseProtocol(name: string): ServiceProtocol {
  return PARSE[name.toLowerCase()] ?? 'UnsupportedProtocol';
}

/**
 * istiod's `ConvertProtocol` for a Kubernetes Service port.
 *
 * @param port - The service port number.
 * @param name - The port's `name`.
 * @param transport - The port's `protocol` (`TCP` by default).
 * @param appProtocol - The port's `appProtocol`, which wins over the name.
 * @returns The protocol.
 * @example
 * ```ts
 * convertProtocol(9080, 'http-api', 'TCP', undefined); // 'HTTP'
 * convertProtocol(50051, 'rpc', 'TCP', 'grpc'); // 'GRPC'
 * convertProtocol(3306, undefined, 'TCP', undefined); // 'TCP'
 * ```
 */
export function convertProtocol(
  port: number,
  name: string | undefined,
  transport: string | undefined,
  appProtocol: string | undefined,
): ServiceProtocol {
  if (transport === 'UDP') return 'UDP';
  let text = appProtocol ?? name ?? '';
  if (text.length >= 8 && text.slice(0, 8).toLowerCase() === 'grpc-web') return 'GRPC-Web';
  const dash = text.indexOf('-');
  if (dash >= 0) text = text.slice(0, dash);
  const parsed = parseProtocol(text);
  if (parsed === 'UnsupportedProtocol' && WELL_KNOWN_PORTS.has(port)) return 'TCP';
  return parsed;
}

/**
 * The protocol of a WDS port (`workload.proto` `AppProtocol`), for ports no Kubernetes Service describes.
 *
 * @param appProtocol - The WDS value.
 * @returns The protocol; `UNKNOWN` is unsupported (detected at run time).
 * @example
 * ```ts
 * fromWdsAppProtocol('HTTP2'); // 'HTTP2'
 * ```
 */
export function fromWdsAppProtocol(appProtocol: AppProtocolName): ServiceProtocol {
  switch (appProtocol) {
    case 'HTTP11':
      return 'HTTP';
    case 'HTTP2':
      return 'HTTP2';
    case 'GRPC':
      return 'GRPC';
    case 'TCP':
      return 'TCP';
    case 'TLS':
      return 'TLS';
    default:
      return 'UnsupportedProtocol';
  }
}

/**
 * Whether a protocol is carried over HTTP (`protocol.Instance.IsHTTP`).
 *
 * @param p - The protocol.
 * @returns True for HTTP, HTTP2, HTTP_PROXY, GRPC and GRPC-Web.
 * @example
 * ```ts
 * isHttpProtocol('GRPC'); // true
 * ```
 */
export function isHttpProtocol(p: ServiceProtocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
}

/**
 * The waypoint listener's handling of a port (`buildWaypointInternal`).
 *
 * @param p - The port's protocol.
 * @returns `http`, `tcp`, or `sniff` (the HTTP inspector decides per connection).
 * @example
 * ```ts
 * listenerMode('UnsupportedProtocol'); // 'sniff'
 * ```
 */
export function listenerMode(p: ServiceProtocol): ListenerMode {
  if (p === 'UnsupportedProtocol') return 'sniff';
  return isHttpProtocol(p) ? 'http' : 'tcp';
}

/**
 * The HTTP version the waypoint speaks to the endpoints of a port (`setUpstreamProtocol`).
 *
 * @param p - The port's protocol.
 * @returns `2` for HTTP2, GRPC and GRPC-Web, else `1.1`.
 * @example
 * ```ts
 * upstreamHttpVersion('GRPC'); // '2'
 * ```
 */
export function upstreamHttpVersion(p: ServiceProtocol): '1.1' | '2' {
  return p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web' ? '2' : '1.1';
}
