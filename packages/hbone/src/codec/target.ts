/**
 * The inbound checks ztunnel runs on a CONNECT target before it authorizes and dials
 * (`istio/ztunnel@62d82653:src/proxy/inbound.rs` `validate_destination` and `find_inbound_upstream`), as a pure function.
 * @module
 */
import { ipEquals, parseIp, unmapIpv4 } from '@ambient-kit/ip';
import { err, ok, type Result } from 'neverthrow';
import { formatAuthority, type HboneAddress } from './authority.js';
import { HboneError } from './errors.js';

/**

 * ztunnel's own listener ports; a CONNECT to one is a self-call answered 503 (`istio/ztunnel@62d82653:src/config.rs` L692-702).

 *
 * @example
 * ```ts
 * createHboneServer({ svid, bundles, illegalPorts: [...ILLEGAL_TARGET_PORTS, 15090] });
 * ```
 */
export const ILLEGAL_TARGET_PORTS: readonly number[] = [15001, 15006, 15008, 15080];

/**

 * The HBONE port (istio/ztunnel@62d82653:ARCHITECTURE.md "Ports").

 *
 * @example
 * ```ts
 * await server.listen({ port: HBONE_PORT });
 * ```
 */
export const HBONE_PORT = 15008;

/** How {@link checkTarget} judges a target. */
export interface TargetPolicy {
  /**
   * The local (destination) IP of the HBONE connection. With `checkDestinationIp`, a socket-address
   * `:authority` must name this IP (IPv4-mapped IPv6 compares equal to its IPv4 form).
   */
  readonly localIp?: string;
  /**
   * Answer 400 `HBONE_ERR_IP_MISMATCH` when the `:authority` IP differs from `localIp`, as ztunnel does for
   * a workload without an application tunnel. Hostname authorities are never checked (double HBONE). Default
   * `true`; turn it off in a waypoint or gateway that forwards to other addresses.
   */
  readonly checkDestinationIp?: boolean;
  /** Target ports answered 503 `HBONE_ERR_ILLEGAL_PORT`. Default {@link ILLEGAL_TARGET_PORTS}. */
  readonly illegalPorts?: readonly number[];
}

// A dual-stack socket reports an IPv4 local address as `::ffff:a.b.c.d`: compare the unmapped forms.
function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return x !== undefined && y !== undefined && ipEquals(unmapIpv4(x), unmapIpv4(y));
}

/**
 * Checks a CONNECT target in ztunnel's order: the IP match (400) first, then the illegal ports (503).
 *
 * @param target - The parsed `:authority`.
 * @param policy - The local IP and which checks apply.
 * @returns The target; or `HBONE_ERR_IP_MISMATCH` (400) or `HBONE_ERR_ILLEGAL_PORT` (503).
 * @example
 * ```ts
 * checkTarget({ kind: 'socket', ip: '10.0.0.9', port: 80 }, { localIp: '10.0.0.2' })._unsafeUnwrapErr().status; // 400
 * checkTarget({ kind: 'socket', ip: '10.0.0.2', port: 15008 }, { localIp: '10.0.0.2' })._unsafeUnwrapErr().status; // 503
 * ```
 */
export function checkTarget(
  target: HboneAddress,
  policy: TargetPolicy = {},
): Result<HboneAddress, HboneError> {
  if (
    target.kind === 'socket' &&
    (policy.checkDestinationIp ?? true) &&
    policy.localIp !== undefined &&
    !sameIp(target.ip, policy.localIp)
  ) {
    return err(
      new HboneError(
        'HBONE_ERR_IP_MISMATCH',
        `ip mismatch: the connection's destination ${policy.localIp} != the :authority IP ${target.ip}`,
      ),
    );
  }
  if ((policy.illegalPorts ?? ILLEGAL_TARGET_PORTS).includes(target.port)) {
    return err(
      new HboneError(
        'HBONE_ERR_ILLEGAL_PORT',
        `refusing a call to ${formatAuthority(target)}: port ${target.port} is reserved`,
      ),
    );
  }
  return ok(target);
}
