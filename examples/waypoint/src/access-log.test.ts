import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatWaypointAccessLog, type WaypointAccessLogEntry } from './access-log.js';

// The format field by field, as istio/istio@86c9f01f:pilot/pkg/model/telemetry_logging.go
// `EnvoyTextLogFormat` lists them: the plain version the one-template formatter is pinned to.
function reference(e: WaypointAccessLogEntry): string {
  const dash = (v: string | number | undefined): string => (v === undefined || v === '' ? '-' : String(v));
  const quoted = (v: string | undefined): string => `"${dash(v)}"`;
  return [
    `[${e.startTime.toISOString()}]`,
    `"${e.method} ${e.path} ${e.protocol}"`,
    e.responseCode,
    e.responseFlags,
    e.responseCodeDetails,
    '-',
    quoted(e.upstreamTransportFailureReason),
    e.bytesReceived,
    e.bytesSent,
    Math.round(e.durationMs),
    dash(e.upstreamServiceTimeMs === undefined ? undefined : Math.round(e.upstreamServiceTimeMs)),
    quoted(e.forwardedFor),
    quoted(e.userAgent),
    quoted(e.requestId),
    quoted(e.authority),
    quoted(e.upstreamHost),
    dash(e.upstreamCluster),
    '-',
    e.downstreamLocalAddress,
    e.downstreamRemoteAddress,
    '-',
    dash(e.routeName),
  ].join(' ');
}

const text = fc.oneof(fc.constant(''), fc.string({ maxLength: 12 }));
const entry: fc.Arbitrary<WaypointAccessLogEntry> = fc.record(
  {
    startTime: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
    method: fc.constantFrom('GET', 'POST', '-'),
    path: text,
    protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2', '-'),
    responseCode: fc.nat({ max: 599 }),
    responseFlags: fc.constantFrom('-', 'UO', 'UF,URX'),
    responseCodeDetails: text,
    upstreamTransportFailureReason: text,
    bytesReceived: fc.nat(),
    bytesSent: fc.nat(),
    durationMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    upstreamServiceTimeMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    forwardedFor: text,
    userAgent: text,
    requestId: text,
    authority: text,
    upstreamHost: text,
    upstreamCluster: text,
    downstreamLocalAddress: text,
    downstreamRemoteAddress: text,
    routeName: text,
  },
  {
    requiredKeys: [
      'startTime',
      'method',
      'path',
      'protocol',
      'responseCode',
      'responseFlags',
      'responseCodeDetails',
      'bytesReceived',
      'bytesSent',
      'durationMs',
      'downstreamLocalAddress',
      'downstreamRemoteAddress',
    ],
  },
);

describe('formatWaypointAccessLog', () => {
  it('writes what the field-by-field format does, for any entry', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(formatWaypointAccessLog(e)).toBe(reference(e));
      }),
      { numRuns: 500 },
    );
  });
});
