/**
 * ztunnel's DNS proxy for one pod (istio/ztunnel@62d82653:src/dns/server.rs, handler.rs): UDP and
 * TCP on `localhost:15053` inside the pod's network namespace, where istio-cni's rules send the pod's DNS
 * (`nat OUTPUT` UDP/TCP port 53 → 15053). Every question is answered from the mesh when the mesh knows the name
 * (dns-answer.ts: service VIPs, headless endpoints, workload hostnames; authoritative, TTL 30 s), and forwarded
 * otherwise (dns-forwarder.ts), with ztunnel's metrics (dns-metrics.ts) and its debug access log.
 *
 * Replies as hickory's server replies for ztunnel (handler.rs): the query's id, question and RD bit, RA set;
 * AA on answers from the mesh; the upstream's code and answers on forwarded ones (NXDOMAIN stays NXDOMAIN);
 * SERVFAIL when the pod is unknown or no upstream answered; FORMERR for a message that is not one query with
 * one question; NOTIMP for another opcode. EDNS is echoed with a payload size of at least 512; a UDP answer
 * that does not fit is sent truncated (TC, no records) so the client retries over TCP.
 * @module
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { bindUdpInNetns, listenInNetns, type NetnsRef } from '@ambient-kit/redirect';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';
import dnsPacket from 'dns-packet';
import { answerFromMesh, type DnsRecord } from './dns-answer.js';
import { DNS_RCODES, type DnsForwarder } from './dns-forwarder.js';
import type { DnsMetrics, DnsRequestLabels } from './dns-metrics.js';
import type { LogLevel, LogValue } from './logger.js';
import { closeServer } from './servers/listen.js';

/** ztunnel's DNS proxy port (`DEFAULT_DNS_PORT`). */
export const DNS_PROXY_PORT = 15053;

/** hickory's TCP request timeout (`DEFAULT_TCP_REQUEST_TIMEOUT`): an idle DNS-over-TCP connection is closed. */
const TCP_IDLE_TIMEOUT_MS = 5000;

const rcodeValue = (name: string): number => {
  const value = DNS_RCODES.indexOf(name);
  const numbered = /^RCODE_(\d+)$/.exec(name);
  return value >= 0 ? value : numbered !== null ? Number(numbered[1]) & 0xf : 2;
};

/** What one pod's DNS proxy works with. */
export interface DnsProxyContext {
  readonly store: WorkloadStore;
  /** The pod: its workload, read anew for each query (`undefined`: unknown source, SERVFAIL). */
  readonly client: () => Workload | undefined;
  readonly forwarder: DnsForwarder;
  readonly metrics: DnsMetrics;
  /** Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** Answer AAAA from the mesh. Default `true`. */
  readonly ipv6Enabled?: boolean;
  readonly log?: (level: LogLevel, message: string, fields: [string, LogValue | undefined][]) => void;
}

/** One pod's running DNS proxy. */
export interface DnsProxy {
  /** `ip:port` of each listener (UDP and TCP share them). */
  readonly addresses: readonly string[];
  /** Stops the listeners and ends open TCP connections. */
  close(): Promise<void>;
}

function header(query: Pick<dnsPacket.DecodedPacket, 'id' | 'flags'>, rcode: number, extra: number) {
  // QR by `type: 'response'`; RD copied; RA set (handler.rs); the opcode bits of the query kept.
  const opcodeBits = (query.flags ?? 0) & 0x7800;
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  return { id: query.id ?? 0, flags: opcodeBits | rd | dnsPacket.RECURSION_AVAILABLE | extra | rcode };
}

function toAnswer(record: DnsRecord): dnsPacket.Answer {
  return {
    type: record.type,
    name: record.name,
    ttl: record.ttl,
    class: 'IN',
    data: record.data,
  } as dnsPacket.Answer;
}

/** The EDNS OPT of the reply, and the UDP payload size the client accepts (512 without EDNS). */
function ednsOf(query: dnsPacket.DecodedPacket): { opt: dnsPacket.Answer[]; maxUdpBytes: number } {
  const opt = (query.additionals ?? []).find((a) => a.type === 'OPT') as
    | (dnsPacket.OptAnswer & { udpPayloadSize?: number })
    | undefined;
  if (opt === undefined) return { opt: [], maxUdpBytes: 512 };
  const size = Math.max(512, opt.udpPayloadSize ?? 512);
  return { opt: [{ type: 'OPT', name: '.', udpPayloadSize: size } as dnsPacket.Answer], maxUdpBytes: size };
}

/**
 * Answers one DNS message from a pod: the core of the proxy, the same for UDP and TCP.
 *
 * @param ctx - The pod's context.
 * @param message - The query as received (without the TCP length prefix).
 * @param protocol - How it came.
 * @returns The reply to send, or `undefined` when there is nothing to answer (not even a header to reply to).
 * @example
 * ```ts
 * const reply = await handleDnsMessage(ctx, queryBytes, 'udp');
 * if (reply !== undefined) socket.send(reply, peer.port, peer.address);
 * ```
 */
export async function handleDnsMessage(
  ctx: DnsProxyContext,
  message: Uint8Array,
  protocol: 'udp' | 'tcp',
): Promise<Buffer | undefined> {
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (bytes.length < 12) return undefined;
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(bytes);
  } catch {
    // The header is readable (12 bytes): say the rest was not.
    const id = bytes.readUInt16BE(0);
    const flags = bytes.readUInt16BE(2);
    if ((flags & 0x8000) !== 0) return undefined; // never answer a response
    return dnsPacket.encode({
      type: 'response',
      ...header({ id, flags }, rcodeValue('FORMERR'), 0),
      questions: [],
    });
  }
  const questions = query.questions ?? [];
  const reply = (rcode: string, extra = 0, answers: dnsPacket.Answer[] = []): Buffer => {
    const { opt, maxUdpBytes } = ednsOf(query);
    const packet = (records: dnsPacket.Answer[], tc: number): Buffer =>
      dnsPacket.encode({
        type: 'response',
        ...header(query, rcodeValue(rcode), extra | tc),
        questions,
        answers: records,
        additionals: opt,
      });
    const full = packet(answers, 0);
    if (protocol === 'tcp' || full.length <= maxUdpBytes) return full;
    return packet([], 1 << 9);
  };
  if (query.type === 'response') {
    ctx.log?.('warn', 'got a response as a request', [['id', query.id ?? 0]]);
    return reply('FORMERR');
  }
  // OPCODE 0 is QUERY (RFC 1035 §4.1.1).
  if ((((query.flags ?? 0) >> 11) & 0xf) !== 0) return reply('NOTIMP');
  const question = questions[0];
  if (question === undefined || questions.length !== 1) return reply('FORMERR');

  const client = ctx.client();
  const labels: DnsRequestLabels = { queryType: question.type, protocol, source: client };
  const access = (result: string, endpoints: number): void =>
    ctx.log?.('debug', '', [
      ['src.workload', client?.name ?? 'unknown'],
      ['src.namespace', client?.namespace ?? 'unknown'],
      ['query', question.type],
      ['domain', question.name],
      ['result', result],
      ['endpoints', endpoints],
    ]);
  if (client === undefined) {
    ctx.metrics.request(labels);
    access('unknown source', 0);
    return reply('SERVFAIL');
  }
  const decision = answerFromMesh(
    ctx.store,
    client,
    { name: question.name, type: question.type },
    {
      ...(ctx.clusterDomain === undefined ? {} : { clusterDomain: ctx.clusterDomain }),
      ...(ctx.ipv6Enabled === undefined ? {} : { ipv6Enabled: ctx.ipv6Enabled }),
    },
  );
  if (decision.kind === 'answer') {
    ctx.metrics.request(labels);
    access(decision.records.length === 0 ? 'no records' : 'success', decision.records.length);
    return reply('NOERROR', dnsPacket.AUTHORITATIVE_ANSWER, decision.records.map(toAnswer));
  }
  // Not ours: forward (server.rs `Store::forward`).
  ctx.metrics.request(labels);
  ctx.metrics.upstreamRequest(labels);
  const started = performance.now();
  try {
    const upstream = await ctx.forwarder.forward(question, protocol);
    ctx.metrics.upstreamDuration(labels, (performance.now() - started) / 1000);
    access('forwarded', upstream.answers.length);
    return reply(upstream.rcode, 0, [...upstream.answers]);
  } catch (error) {
    ctx.metrics.upstreamDuration(labels, (performance.now() - started) / 1000);
    ctx.metrics.upstreamFailure(labels);
    access(`forwarding failed (${(error as Error).message})`, 0);
    return reply('SERVFAIL');
  }
}

/**
 * Serves DNS over TCP on an accepted connection: length-prefixed messages (RFC 1035 §4.2.2, RFC 7766), answered
 * in order, the connection closed after 5 s without a request.
 *
 * @param ctx - The pod's context.
 * @param socket - The client's connection.
 * @example
 * ```ts
 * server.on('connection', (socket) => serveDnsTcp(ctx, socket));
 * ```
 */
export function serveDnsTcp(ctx: DnsProxyContext, socket: net.Socket): void {
  socket.on('error', () => {});
  socket.setTimeout(TCP_IDLE_TIMEOUT_MS, () => socket.destroy());
  let buffered = Buffer.alloc(0);
  let chain: Promise<void> = Promise.resolve();
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      const message = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);
      chain = chain
        .then(async () => {
          const answer = await handleDnsMessage(ctx, message, 'tcp');
          if (answer === undefined || socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(answer.length, 0);
          socket.write(Buffer.concat([prefix, answer]));
        })
        .catch((error: unknown) => {
          ctx.log?.('warn', 'DNS request failed', [['error', (error as Error).message]]);
          socket.destroy();
        });
    }
  });
}

function serveUdp(ctx: DnsProxyContext, socket: dgram.Socket): void {
  socket.on('error', () => {});
  socket.on('message', (message, peer) => {
    handleDnsMessage(ctx, message, 'udp').then(
      (answer) => {
        if (answer === undefined) return;
        try {
          socket.send(answer, peer.port, peer.address, () => {});
        } catch {
          // The proxy closed (the pod left) while the answer was being worked out.
        }
      },
      (error: unknown) => ctx.log?.('warn', 'DNS request failed', [['error', (error as Error).message]]),
    );
  });
}

/**
 * Starts a pod's DNS proxy: UDP and TCP on `127.0.0.1:15053` and, when the pod has IPv6, `[::1]:15053`, inside
 * the pod, marked (ztunnel binds its DNS listeners on localhost with the in-pod socket factory).
 *
 * @param netns - The pod's network namespace.
 * @param ctx - Store, client, forwarder, metrics.
 * @param options - `port` (default 15053), `mark` (ztunnel's 0x539).
 * @returns The running proxy.
 * @throws {RedirectError} When the IPv4 listeners cannot be opened (e.g. the pod's loopback is down, or the port
 *   is taken).
 * @example
 * ```ts
 * const dns = await startDnsProxy(netns, { store, client: () => store.workload(uid), forwarder, metrics: metrics.dns });
 * ```
 */
export async function startDnsProxy(
  netns: NetnsRef,
  ctx: DnsProxyContext,
  options: { readonly port?: number; readonly mark?: number } = {},
): Promise<DnsProxy> {
  const port = options.port ?? DNS_PROXY_PORT;
  const common = { port, reusePort: true, ...(options.mark === undefined ? {} : { mark: options.mark }) };
  const udp: dgram.Socket[] = [];
  const tcp: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const addresses: string[] = [];
  const closeAll = async (): Promise<void> => {
    for (const s of udp.splice(0)) s.close();
    const closing = tcp.splice(0).map(closeServer);
    // A DNS client idling on TCP must not hold the pod's removal up.
    for (const socket of sockets) socket.destroy();
    await Promise.all(closing);
  };
  try {
    for (const host of ['127.0.0.1', '::1']) {
      let u: dgram.Socket;
      try {
        u = await bindUdpInNetns(netns, { host, ...common });
      } catch (error) {
        // ztunnel downgrades to IPv4 when the pod has no IPv6 loopback (`maybe_downgrade_ipv6`).
        if (host === '::1') break;
        throw error;
      }
      udp.push(u);
      serveUdp(ctx, u);
      const t = await listenInNetns(netns, { host, ...common, serverOptions: { noDelay: true } });
      tcp.push(t);
      t.on('connection', (socket: net.Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        serveDnsTcp(ctx, socket);
      });
      addresses.push(host === '::1' ? `[::1]:${port}` : `${host}:${port}`);
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { addresses, close: closeAll };
}
