/**
 * One call of the scenario, made from a pod through its ztunnel, and checked against what the mesh file says
 * should happen ({@link expectedOutcome}): the answer the app got, and the access log lines of every proxy
 * on the way (the caller's ztunnel, the waypoint, the destination's ztunnel).
 * @module
 */

import { rbacDetails } from '@ambient-kit/example-waypoint';
import type { AccessLogEntry } from '@ambient-kit/example-ztunnel';
import type { Workload } from '@ambient-kit/workload-api';
import type { EchoReply } from './apps.js';
import { type Call, describeOutcome, type ExpectedOutcome } from './expected-outcome.js';
import type { LogView } from './log-view.js';
import type { CapturedLog, DemoMesh } from './mesh-runtime.js';
import { type PodResponse, podRequest } from './pod-client.js';
import type { Report } from './report.js';

/** A call that was made, what was expected and what came back. */
export interface ProbeResult {
  readonly call: Call;
  readonly expected: ExpectedOutcome;
  readonly response: PodResponse;
  /** The echo app's reply on a 200. */
  readonly echo: EchoReply | undefined;
  /** The workload whose app answered. */
  readonly answered: Workload | undefined;
  /** The caller's ztunnel's outbound line, the destination ztunnel's inbound line, the waypoint's line. */
  readonly logs: {
    readonly outbound: CapturedLog | undefined;
    readonly inbound: CapturedLog | undefined;
    readonly waypoint: CapturedLog | undefined;
  };
}

/** What probes share. */
export interface ProbeContext {
  readonly mesh: DemoMesh;
  readonly report: Report;
  readonly logs: LogView;
}

/** Options of {@link probe}. */
export interface ProbeOptions {
  /** Print the access log lines of the call. Default true. */
  readonly showLogs?: boolean;
  /** Record checks. Default true. */
  readonly check?: boolean;
}

/**
 * A short name for a workload in printed text: its workload name (`sleep`), else its pod name.
 *
 * @param w - A workload.
 * @returns The name.
 * @example
 * ```ts
 * label(sleep); // 'sleep'
 * ```
 */
export const label = (w: Workload): string => w.workloadName || w.name;

/**
 * The host and port a call names: the service hostname, or the pod IP.
 *
 * @param call - The call.
 * @returns `host` and `port`.
 * @example
 * ```ts
 * callHost(call); // { host: 'echo.default.svc.cluster.local', port: 80 }
 * ```
 */
export function callHost(call: Call): { readonly host: string; readonly port: number } {
  const t = call.target;
  return t.kind === 'service'
    ? { host: t.service.hostname, port: t.port }
    : { host: t.workload.workloadIps[0] ?? '', port: t.port };
}

/**
 * The URL a call requests.
 *
 * @param call - The call.
 * @returns E.g. `http://reviews.default.svc.cluster.local:9080/reviews/1`.
 * @example
 * ```ts
 * callUrl(call); // 'http://echo.default.svc.cluster.local/hello'
 * ```
 */
export function callUrl(call: Call): string {
  const { host, port } = callHost(call);
  return `http://${host}${port === 80 ? '' : `:${port}`}${call.path}`;
}

/**
 * The answer in a few words.
 *
 * @param r - A response.
 * @returns E.g. `HTTP 200`, `refused by the ztunnel: connection not allowed by ruleset (2)`.
 * @example
 * ```ts
 * describeResponse({ kind: 'http', status: 403, body: 'RBAC: access denied', headers: {} }); // 'HTTP 403'
 * ```
 */
export function describeResponse(r: PodResponse): string {
  if (r.kind === 'http') return `HTTP ${r.status}`;
  if (r.kind === 'refused')
    return `refused by the ztunnel: ${r.message.replace('SOCKS5 server refused: ', '')}`;
  return `error: ${r.message}`;
}

function echoOf(r: PodResponse): EchoReply | undefined {
  if (r.kind !== 'http' || r.status !== 200) return undefined;
  try {
    return JSON.parse(r.body) as EchoReply;
  } catch {
    return undefined;
  }
}

const ztunnelLog =
  (node: string | undefined, direction: AccessLogEntry['direction'], test: (e: AccessLogEntry) => boolean) =>
  (log: CapturedLog): boolean =>
    log.kind === 'ztunnel' && log.from === node && log.entry.direction === direction && test(log.entry);

/** The destination workload whose ztunnel logs the inbound side, when it can be known. */
function inboundWorkload(expected: ExpectedOutcome, answered: Workload | undefined): Workload | undefined {
  return expected.kind === 'denied-l4' ? expected.at : answered;
}

/**
 * Makes a call from a pod and checks it against the expected outcome.
 *
 * @param ctx - The mesh, the report and the log view.
 * @param call - Who calls what.
 * @param expected - What the mesh file says should happen.
 * @param options - Whether to print the access log lines and to record checks.
 * @returns What happened.
 * @example
 * ```ts
 * const r = await probe(ctx, call, expectedOutcome(model, call));
 * ```
 */
export async function probe(
  ctx: ProbeContext,
  call: Call,
  expected: ExpectedOutcome,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const { mesh, report } = ctx;
  const client = call.client;
  const node = mesh.nodes.get(client.node);
  const socks5 = node?.addresses.socks5;
  const { host, port } = callHost(call);
  const mark = mesh.logs.length;
  const response: PodResponse =
    socks5 === undefined
      ? { kind: 'error', message: `${client.node} has no SOCKS5 listener` }
      : await podRequest({
          podIp: client.workloadIps[0] ?? '',
          socks5,
          host,
          port,
          method: call.method,
          path: call.path,
        });
  const echo = echoOf(response);
  const answered = [...mesh.meshStore.workloads()].find((w) => w.name === echo?.pod);
  const destination = inboundWorkload(expected, answered);
  const via = expected.kind !== 'denied-l4' && 'waypoint' in expected ? expected.waypoint : undefined;
  const failed = (e: AccessLogEntry): boolean => (e.error !== undefined) === (expected.kind === 'denied-l4');
  const [outbound, inbound, waypoint] = await mesh.waitForLogs(mark, [
    ztunnelLog(client.node, 'outbound', failed),
    // A waypoint's 403 or 503 never reaches a destination ztunnel; and the waypoint's own connections to the
    // pods are pooled (keep-alive), logged by the destination ztunnel when they close, not per request.
    (expected.kind === 'allowed' && via === undefined) || expected.kind === 'denied-l4'
      ? ztunnelLog(destination?.node, 'inbound', failed)
      : undefined,
    via === undefined ? undefined : (l) => l.kind === 'waypoint' && l.from === label(via),
  ]);
  const result: ProbeResult = {
    call,
    expected,
    response,
    echo,
    answered,
    logs: { outbound, inbound, waypoint },
  };
  const body = response.kind === 'http' && response.status !== 200 ? `: "${response.body}"` : '';
  report.line(
    `${label(client)} ${call.method} ${callUrl(call)} <- ${describeResponse(response)}${body}${echo ? ` from ${echo.pod}` : ''}`,
  );
  report.line(`   expected: ${describeOutcome(expected)}`);
  if (options.showLogs ?? true) {
    ctx.logs.show(outbound);
    if (via !== undefined) ctx.logs.show(waypoint);
    if ((expected.kind === 'allowed' && via === undefined) || expected.kind === 'denied-l4')
      ctx.logs.show(inbound);
  }
  if (options.check ?? true) checkProbe(ctx, result);
  return result;
}

/** The checks every probe gets, by its expected outcome. */
function checkProbe(ctx: ProbeContext, r: ProbeResult): void {
  const { report, mesh } = ctx;
  const { call, expected, response, logs } = r;
  const who = `${label(call.client)} ${call.method} ${callUrl(call)}`;
  const entry = (log: CapturedLog | undefined): AccessLogEntry | undefined =>
    log?.kind === 'ztunnel' ? log.entry : undefined;
  switch (expected.kind) {
    case 'allowed': {
      const backends =
        call.target.kind === 'pod'
          ? [call.target.workload]
          : [...mesh.meshStore.workloads()].filter((w) =>
              w.services.some((s) => call.target.kind === 'service' && s.key === call.target.service.key),
            );
      report.check(
        `${who}: HTTP 200 from ${backends.length === 1 ? (backends[0] as Workload).name : `a ${call.target.kind === 'service' ? call.target.service.name : ''} pod`}`,
        response.kind === 'http' && response.status === 200 && backends.some((b) => b.name === r.echo?.pod),
        describeResponse(response),
      );
      const via = expected.waypoint;
      if (via !== undefined && call.target.kind === 'service') {
        const out = entry(logs.outbound);
        const wp = mesh.waypoints.find((w) => w.workload.uid === via.uid);
        const vip = call.target.service.vips[0]?.address;
        report.check(
          `${call.client.node} sent it to the waypoint (dst.addr ${wp?.address}, :authority ${vip}:${call.target.port})`,
          out?.dst.addr === wp?.address &&
            out?.dst.hboneAddr === `${vip}:${call.target.port}` &&
            out?.dst.identity === via.identity,
          logs.outbound?.line,
        );
        const hop = logs.waypoint?.kind === 'waypoint' ? logs.waypoint.entry : undefined;
        report.check(
          `the waypoint forwarded it over HBONE to ${r.answered?.name ?? 'the pod'} (${hop?.upstreamHost ?? '-'})`,
          hop !== undefined &&
            r.answered !== undefined &&
            hop.upstreamHost?.startsWith(`${r.answered.workloadIps[0]}:`) === true,
          logs.waypoint?.line,
        );
      }
      return;
    }
    case 'denied-l4': {
      report.check(
        `${who}: the SOCKS5 CONNECT was refused: not allowed (2)`,
        response.kind === 'refused' && response.reply === 2,
        describeResponse(response),
      );
      const inbound = entry(logs.inbound);
      report.check(
        `${expected.at.node} rejected it by policy: "${expected.reason}"`,
        inbound?.error === `connection closed due to policy rejection: ${expected.reason}` &&
          inbound.src.identity === call.client.identity,
        logs.inbound?.line,
      );
      report.check(
        `${call.client.node} got 401 on the HBONE CONNECT`,
        entry(logs.outbound)?.error === 'http status: 401 Unauthorized',
        logs.outbound?.line,
      );
      return;
    }
    case 'denied-l7': {
      const details = rbacDetails(expected.decision);
      report.check(
        `${who}: denied at L7, 403 "RBAC: access denied"`,
        response.kind === 'http' && response.status === 403 && response.body === 'RBAC: access denied',
        describeResponse(response),
      );
      report.check(
        `the waypoint logged ${details}`,
        logs.waypoint?.kind === 'waypoint' && logs.waypoint.entry.responseCodeDetails === details,
        logs.waypoint?.line,
      );
      return;
    }
    case 'no-upstream':
      report.check(
        `${who}: 503 from the waypoint`,
        response.kind === 'http' && response.status === 503,
        describeResponse(response),
      );
      return;
    case 'unsure':
      // Nothing to hold the mesh to: the file leaves the outcome open (said on the "expected:" line).
      return;
  }
}
