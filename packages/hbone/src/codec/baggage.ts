/**
 * The `baggage` header ztunnel puts on CONNECT requests and 200 answers: workload metadata for telemetry
 * (istio/ztunnel@62d82653:src/baggage.rs).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { HboneError } from './errors.js';
import type { HeaderValue } from './headers.js';

/**
 * The workload kinds ztunnel names in `k8s.<type>.name` (istio `workload.proto` `WorkloadType`, lower-cased)
 * and accepts back (`istio/ztunnel@62d82653:src/baggage.rs` L80-84).
 *
 * @example
 * ```ts
 * WORKLOAD_TYPES.includes('cronjob'); // true
 * ```
 */
export const WORKLOAD_TYPES = ['deployment', 'cronjob', 'pod', 'job'] as const;

/** One of {@link WORKLOAD_TYPES}. */
export type WorkloadType = (typeof WORKLOAD_TYPES)[number];

/** Workload metadata carried in `baggage`. Every field is optional; absent fields are not sent. */
export interface Baggage {
  /** `k8s.cluster.name`: the cluster ID (istio `CLUSTER_ID`). */
  readonly clusterName?: string;
  /** `k8s.namespace.name`. */
  readonly namespace?: string;
  /** The `<type>` of `k8s.<type>.name`. Default when `workloadName` is set: `deployment` (the proto default). */
  readonly workloadType?: WorkloadType;
  /** `k8s.<workloadType>.name`: the workload (e.g. Deployment) name. */
  readonly workloadName?: string;
  /** `service.name`: the canonical service name. */
  readonly serviceName?: string;
  /** `service.version`: the canonical revision. */
  readonly serviceVersion?: string;
  /** `cloud.region`. */
  readonly region?: string;
  /** `cloud.availability_zone`. */
  readonly zone?: string;
}

/**

 * W3C Baggage §3.3.1: a `baggage` header is at most 8192 bytes; longer input is refused before parsing.

 *
 * @example
 * ```ts
 * parseBaggage('a'.repeat(MAX_BAGGAGE_BYTES + 1)).isErr(); // true
 * ```
 */
export const MAX_BAGGAGE_BYTES = 8192;

// W3C baggage-octet minus '=' (ztunnel splits members on every '=' and keeps only the second part).
function isBaggageValue(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x2c || c === 0x3b || c === 0x3d || c === 0x5c)
      return false;
  }
  return true;
}

/**
 * Formats `baggage` exactly as ztunnel's `baggage_header_val` does (`istio/ztunnel@62d82653:src/baggage.rs` L32-67): the keys
 * `k8s.cluster.name`, `k8s.namespace.name`, `k8s.<type>.name`, `service.name`, `service.version`,
 * `cloud.region`, `cloud.availability_zone`, in that order, comma-joined, absent ones left out.
 *
 * @param baggage - The metadata.
 * @returns The header value; the empty string when no field is set (ztunnel still sends the header).
 * @throws {RangeError} When a value is empty or holds characters a baggage value cannot (space, `,`, `;`,
 *   `=`, `"`, `\`, non-ASCII), or `workloadType` is unknown.
 * @example
 * ```ts
 * formatBaggage({ clusterName: 'Kubernetes', namespace: 'default', workloadName: 'sleep', serviceName: 'sleep' });
 * // 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep'
 * ```
 */
export function formatBaggage(baggage: Baggage): string {
  const type = baggage.workloadType ?? 'deployment';
  if (!WORKLOAD_TYPES.includes(type)) {
    throw new RangeError(`formatBaggage: "workloadType" must be one of ${WORKLOAD_TYPES.join(', ')}`);
  }
  const members: [string, string | undefined][] = [
    ['k8s.cluster.name', baggage.clusterName],
    ['k8s.namespace.name', baggage.namespace],
    [`k8s.${type}.name`, baggage.workloadName],
    ['service.name', baggage.serviceName],
    ['service.version', baggage.serviceVersion],
    ['cloud.region', baggage.region],
    ['cloud.availability_zone', baggage.zone],
  ];
  const parts: string[] = [];
  for (const [key, value] of members) {
    if (value === undefined) continue;
    if (!isBaggageValue(value)) {
      throw new RangeError(`formatBaggage: invalid value for ${key}: ${JSON.stringify(value)}`);
    }
    parts.push(`${key}=${value}`);
  }
  return parts.join(',');
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const FIELD_BY_KEY: Readonly<Record<string, keyof Baggage>> = {
  'k8s.cluster.name': 'clusterName',
  'k8s.namespace.name': 'namespace',
  'service.name': 'serviceName',
  'service.version': 'serviceVersion',
  'cloud.region': 'region',
  'cloud.availability_zone': 'zone',
};

function isPrintableAscii(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return false;
  }
  return true;
}

/**
 * Parses one or several `baggage` header lines as ztunnel does (`istio/ztunnel@62d82653:src/baggage.rs` L69-100): members in
 * any order, later members override earlier ones, an empty value unsets the field, unknown keys are
 * ignored, and `k8s.{deployment,cronjob,pod,job}.name` all fill the workload name. Beyond ztunnel, optional
 * whitespace around members and W3C properties after `;` are tolerated, so lines joined with `, ` (as
 * `node:http2` joins repeated headers) parse the same as separate lines.
 *
 * @param value - The header value, or every line of it.
 * @returns The metadata; an `HBONE_ERR_BAD_BAGGAGE` error when the value is longer than
 *   {@link MAX_BAGGAGE_BYTES} or is not printable ASCII (ztunnel's `to_str` fails then, and the baggage is
 *   ignored).
 * @example
 * ```ts
 * parseBaggage(['k8s.cluster.name=K1', 'k8s.job.name=N1'])._unsafeUnwrap();
 * // { clusterName: 'K1', workloadType: 'job', workloadName: 'N1' }
 * ```
 */
export function parseBaggage(value: HeaderValue): Result<Baggage, HboneError> {
  const lines = typeof value === 'string' ? [value] : value;
  let total = 0;
  for (const line of lines) {
    total += line.length + 1;
    if (total > MAX_BAGGAGE_BYTES + 1) {
      return err(
        new HboneError('HBONE_ERR_BAD_BAGGAGE', `baggage is longer than ${MAX_BAGGAGE_BYTES} bytes`),
      );
    }
    if (!isPrintableAscii(line)) {
      return err(new HboneError('HBONE_ERR_BAD_BAGGAGE', 'baggage holds characters outside printable ASCII'));
    }
  }
  const out: Mutable<Baggage> = {};
  for (const line of lines) {
    for (const rawMember of line.split(',')) {
      const semi = rawMember.indexOf(';');
      const member = semi < 0 ? rawMember : rawMember.slice(0, semi);
      const eq = member.indexOf('=');
      if (eq < 0) continue;
      const key = member.slice(0, eq).trim();
      const v = member.slice(eq + 1).trim();
      const workload = /^k8s\.(deployment|cronjob|pod|job)\.name$/.exec(key);
      if (workload !== null) {
        if (v === '') {
          delete out.workloadName;
          delete out.workloadType;
        } else {
          out.workloadName = v;
          out.workloadType = workload[1] as WorkloadType;
        }
        continue;
      }
      const field = FIELD_BY_KEY[key];
      if (field === undefined || field === 'workloadType') continue;
      if (v === '') delete out[field];
      else out[field] = v;
    }
  }
  return ok(out);
}
