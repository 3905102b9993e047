/**
 * The CA address as ztunnel takes it (`CA_ADDRESS`, default `https://istiod.istio-system.svc:15012`,
 * istio/ztunnel@62d82653:src/config.rs): an `https://` URI, or a bare `host:port`. The CA channel is TLS only,
 * as ztunnel's connector is (`https_only`, istio/ztunnel@62d82653:src/tls/control.rs).
 * @module
 */

/** A parsed CA address. */
export interface CaAddress {
  /** The gRPC target, `host:port` (`[v6]:port` for IPv6). */
  readonly target: string;
  /** The host name or IP, without brackets: the name the server certificate is checked against. */
  readonly host: string;
  /** The port. */
  readonly port: number;
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/**
 * Parses `https://host[:port]` (port 443 when absent, as a URI has it) or `host:port`; IPv6 hosts in brackets.
 *
 * @param address - The address.
 * @returns The parts.
 * @throws {TypeError} For any other form, `http://` included: the CA is only reached over TLS.
 * @example
 * ```ts
 * parseCaAddress('https://istiod.istio-system.svc:15012'); // { target: 'istiod.istio-system.svc:15012', ... }
 * ```
 */
export function parseCaAddress(address: string): CaAddress {
  let rest = address;
  let defaultPort: number | undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(address);
  if (scheme !== null) {
    if (scheme[1]?.toLowerCase() !== 'https') {
      throw new TypeError(
        `createIstioCaClient: address ${JSON.stringify(address)}: only https:// (TLS) is supported`,
      );
    }
    rest = address.slice(scheme[0].length).replace(/\/$/, '');
    defaultPort = 443;
  }
  // A URI may leave the port out; a bare address may not.
  const m =
    HOST_PORT.exec(rest) ?? (defaultPort === undefined ? null : HOST_PORT.exec(`${rest}:${defaultPort}`));
  const port = Number(m?.[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new TypeError(
      `createIstioCaClient: address ${JSON.stringify(address)}: expected https://host[:port] or host:port`,
    );
  }
  const v6 = m[1];
  const host = v6 ?? (m[2] as string);
  return { target: v6 === undefined ? `${host}:${port}` : `[${v6}]:${port}`, host, port };
}
