/**
 * Benchmarks for @ambient-kit/ip against ipaddr.js (the kept IP library for Node: Express's proxy-addr uses
 * it) on the work the other packages do on their hot paths: parse an address, print it canonically, check a
 * prefix. These rows are why the kit hand-writes its IP module rather than depending on ipaddr.js.
 *
 * Run: `npm run bench:ip -w @ambient-kit/bench` (after `npm run build`).
 */
import {
  canonicalIp,
  compilePrefix,
  formatIp,
  type IpAddress,
  parseIp,
  parsePrefix,
  prefixContains,
} from '@ambient-kit/ip';
import ipaddr from 'ipaddr.js';
import { compareOps, printRows, type Row } from '../support/rounds.js';

const v4 = Array.from({ length: 1024 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
const v6 = Array.from({ length: 1024 }, (_, i) => `fd00:${i.toString(16)}::${(i * 13).toString(16)}:1`);
let i = 0;
const next = (list: readonly string[]): string => list[i++ & 1023] as string;

const rows: Row[] = [];
const row = async (name: string, ours: () => unknown, baseline: () => unknown, target = 1): Promise<void> => {
  const r = await compareOps(ours, baseline);
  rows.push({ name, unit: 'ops/s', ...r, baselineName: 'ipaddr.js', target: { ratio: target } });
};

await row(
  'parse IPv4',
  () => parseIp(next(v4)),
  () => ipaddr.IPv4.parse(next(v4)),
);
await row(
  'parse IPv6',
  () => parseIp(next(v6)),
  () => ipaddr.IPv6.parse(next(v6)),
);
await row(
  'canonical text of IPv6 (RFC 5952)',
  () => canonicalIp(next(v6)),
  () => ipaddr.IPv6.parse(next(v6)).toRFC5952String(),
);
const parsedV6 = v6.map((t) => parseIp(t) as IpAddress);
const theirsV6 = v6.map((t) => ipaddr.IPv6.parse(t));
await row(
  'print IPv6',
  () => formatIp(parsedV6[i++ & 1023] as IpAddress),
  () => theirsV6[i++ & 1023]?.toRFC5952String(),
);
const ours = compilePrefix(parsePrefix('10.128.0.0/9') as NonNullable<ReturnType<typeof parsePrefix>>);
const theirs = ipaddr.IPv4.parseCIDR('10.128.0.0/9');
await row(
  'parse + prefix check (IPv4)',
  () => prefixContains(ours, parseIp(next(v4)) as IpAddress),
  () => ipaddr.IPv4.parse(next(v4)).match(theirs),
);
printRows('@ambient-kit/ip vs ipaddr.js', rows);
