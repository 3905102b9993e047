/**
 * The node's resolver configuration, as ztunnel reads it for the upstream of its DNS proxy
 * (istio/ztunnel@62d82653:src/dns/server.rs `SystemForwarder::new`: hickory `read_system_conf`, ztunnel's own
 * `/etc/resolv.conf`, i.e. the node's resolver settings in shared mode): the `nameserver` lines, in order.
 * The search list is not used for forwarding: the pod's resolver already applied its own (server.rs
 * `from_parts` removes it).
 *
 * Pure: parses text.
 * @module
 */
import { isIP } from 'node:net';

/** A resolver to forward to. */
export interface DnsUpstream {
  /** IP literal. */
  readonly host: string;
  readonly port: number;
}

/** The largest `resolv.conf` read (glibc reads the first few kilobytes that matter; a bigger file is wrong). */
export const MAX_RESOLV_CONF_BYTES: number = 64 * 1024;

/**
 * Reads the `nameserver` lines of a `resolv.conf` (resolv.conf(5)): IPv4 or IPv6 literals, an IPv6 zone
 * (`%eth0`) dropped, port 53. Comments (`#`, `;`) and other keywords are ignored; a nameserver that is not
 * an IP literal is skipped, as glibc skips it.
 *
 * @param text - The file's content.
 * @returns The upstreams, in file order, without duplicates.
 * @example
 * ```ts
 * parseResolvConf('nameserver 10.96.0.10\nsearch default.svc.cluster.local\n'); // [{ host: '10.96.0.10', port: 53 }]
 * ```
 */
export function parseResolvConf(text: string): DnsUpstream[] {
  const out: DnsUpstream[] = [];
  for (const raw of text.slice(0, MAX_RESOLV_CONF_BYTES).split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, value] = line.split(/\s+/);
    if (keyword !== 'nameserver' || value === undefined) continue;
    const host = value.replace(/%.*$/, '');
    if (isIP(host) === 0) continue;
    if (!out.some((u) => u.host === host)) out.push({ host, port: 53 });
  }
  return out;
}

/**
 * Parses an upstream given on the command line: `ip`, `ip:port` or `[ipv6]:port`.
 *
 * @param text - What the user typed.
 * @returns The upstream, or `undefined` when it is not one.
 * @example
 * ```ts
 * parseDnsUpstream('10.244.1.1'); // { host: '10.244.1.1', port: 53 }
 * parseDnsUpstream('[fd00::53]:5353'); // { host: 'fd00::53', port: 5353 }
 * ```
 */
export function parseDnsUpstream(text: string): DnsUpstream | undefined {
  if (isIP(text) !== 0) return { host: text, port: 53 };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (isIP(host) === 0 || port < 1 || port > 65535) return undefined;
  return { host, port };
}
