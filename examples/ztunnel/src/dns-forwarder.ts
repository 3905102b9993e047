/**
 * The DNS proxy's upstream: names the mesh does not know go to the node's resolver (ztunnel's own
 * `/etc/resolv.conf`, or the configured upstreams), asked from inside the pod with ztunnel's mark, as ztunnel's
 * forwarder makes its sockets with the pod's socket factory (istio/ztunnel@62d82653:src/dns/forwarder.rs
 * `RuntimeProviderAdaptor`): the pod's rules let marked traffic out (istio-cni's DNS rules skip mark 0x539) and
 * put it in conntrack zone 1, so it cannot collide with the app's redirected flows.
 *
 * As hickory's resolver does, each question is asked afresh (a new random id, recursion desired, the search
 * list not applied again), over UDP with a retry over TCP when the answer is truncated, or over TCP when the
 * client asked over TCP; each upstream is tried in order until one answers; every answer is checked against
 * the question before it is used. Messages are bounded (64 KiB, the DNS maximum); every wait has a deadline.
 * @module
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { bindUdpInNetns, connectMarked, type NetnsRef } from '@ambient-kit/redirect';
import dnsPacket from 'dns-packet';
import type { DnsUpstream } from './resolv-conf.js';

/** The largest DNS message (a TCP message's length is 16 bits). */
export const MAX_DNS_MESSAGE_BYTES = 65_535;

/**
 * RFC 1035 §4.1.1 (and RFC 2136 §2.2) response codes by value, the low four bits of a header's flags.
 *
 * @example
 * ```ts
 * DNS_RCODES[3]; // 'NXDOMAIN'
 * ```
 */
export const DNS_RCODES: readonly string[] = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];

/**
 * The response code of a decoded message.
 *
 * @param packet - A decoded message.
 * @returns Its name (`RCODE_<n>` for one without a name).
 * @example
 * ```ts
 * rcodeOf(dnsPacket.decode(bytes)); // 'NOERROR'
 * ```
 */
export function rcodeOf(packet: Pick<dnsPacket.Packet, 'flags'>): string {
  const value = (packet.flags ?? 0) & 0xf;
  return DNS_RCODES[value] ?? `RCODE_${value}`;
}

/** A question to forward. */
export interface DnsQuestion {
  readonly name: string;
  readonly type: string;
  readonly class?: string | undefined;
}

/** What the upstream said. */
export interface UpstreamAnswer {
  /** `NOERROR`, `NXDOMAIN`, ... */
  readonly rcode: string;
  readonly answers: readonly dnsPacket.Answer[];
  /** Which upstream answered, `ip:port`. */
  readonly upstream: string;
}

/** Options of {@link createDnsForwarder}. */
export interface DnsForwarderOptions {
  /** Resolvers, tried in order. */
  readonly upstreams: readonly DnsUpstream[];
  /** The pod's namespace to ask from (in-pod mode); default the process's own. */
  readonly netns?: NetnsRef;
  /** `SO_MARK` on upstream sockets (ztunnel's 0x539 in a pod). */
  readonly mark?: number;
  /** Per upstream and attempt. Default 5000 ms (hickory's default timeout). */
  readonly timeoutMs?: number;
}

/** Forwards questions upstream. */
export interface DnsForwarder {
  /**
   * Asks the upstreams.
   *
   * @param question - One question.
   * @param protocol - How the client asked: `tcp` goes upstream over TCP too.
   * @returns The upstream's code and answers.
   * @throws {Error} When no upstream answered (each failure named), or there is none.
   */
  forward(question: DnsQuestion, protocol: 'udp' | 'tcp'): Promise<UpstreamAnswer>;
}

const hostPort = (u: DnsUpstream): string =>
  net.isIPv6(u.host) ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`;

function query(question: DnsQuestion, id: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [
      {
        name: question.name,
        type: question.type as dnsPacket.RecordType,
        class: (question.class ?? 'IN') as 'IN',
      },
    ],
  });
}

/** The answer, if it is one to our query: a response, our id, our question. */
function check(bytes: Buffer, id: number, question: DnsQuestion): dnsPacket.DecodedPacket | string {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(bytes);
  } catch (error) {
    return `undecodable answer (${(error as Error).message})`;
  }
  if (packet.type !== 'response' || packet.id !== id) return 'answer to another query';
  const q = packet.questions?.[0];
  if (
    q === undefined ||
    q.name.toLowerCase() !== question.name.toLowerCase().replace(/\.$/, '') ||
    q.type !== question.type
  )
    return 'answer to another question';
  return packet;
}

function deadline<T>(ms: number, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    run(controller.signal).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        controller.abort();
        reject(error);
      },
    );
  });
}

/**
 * Creates the forwarder of one pod's DNS proxy (or of a process, without `netns`).
 *
 * @param options - Upstreams, namespace, mark, timeout.
 * @returns The forwarder.
 * @example
 * ```ts
 * const forwarder = createDnsForwarder({ upstreams: parseResolvConf(text), netns, mark: 0x539 });
 * const { rcode, answers } = await forwarder.forward({ name: 'example.org', type: 'A' }, 'udp');
 * ```
 */
export function createDnsForwarder(options: DnsForwarderOptions): DnsForwarder {
  const timeoutMs = options.timeoutMs ?? 5000;

  async function udpSocket(upstream: DnsUpstream): Promise<dgram.Socket> {
    const family = net.isIPv6(upstream.host) ? 6 : 4;
    if (options.netns !== undefined) {
      return bindUdpInNetns(options.netns, {
        host: family === 6 ? '::' : '0.0.0.0',
        port: 0,
        ...(options.mark === undefined ? {} : { mark: options.mark }),
      });
    }
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket;
  }

  async function overUdp(upstream: DnsUpstream, question: DnsQuestion, signal: AbortSignal): Promise<Buffer> {
    const socket = await udpSocket(upstream);
    try {
      const id = randomInt(0, 65_536);
      const answer = new Promise<Buffer>((resolve, reject) => {
        const onAbort = (): void => reject(new Error('aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        socket.on('error', reject);
        socket.on('message', (message, from) => {
          // Only the upstream's own address may answer; a stray or spoofed datagram is ignored.
          if (from.address !== upstream.host || from.port !== upstream.port) return;
          const checked = check(message, id, question);
          if (typeof checked === 'string') return;
          signal.removeEventListener('abort', onAbort);
          resolve(message);
        });
      });
      socket.send(query(question, id), upstream.port, upstream.host);
      return await answer;
    } finally {
      socket.close();
    }
  }

  async function overTcp(upstream: DnsUpstream, question: DnsQuestion, signal: AbortSignal): Promise<Buffer> {
    const socket =
      options.netns !== undefined
        ? await connectMarked({
            netns: options.netns,
            host: upstream.host,
            port: upstream.port,
            ...(options.mark === undefined ? {} : { mark: options.mark }),
            timeoutMs,
            signal,
          })
        : await new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: upstream.host, port: upstream.port });
            s.once('connect', () => {
              s.off('error', reject);
              resolve(s);
            });
            s.once('error', reject);
          });
    try {
      const id = randomInt(0, 65_536);
      const q = query(question, id);
      const framed = Buffer.alloc(q.length + 2);
      framed.writeUInt16BE(q.length, 0);
      q.copy(framed, 2);
      socket.write(framed);
      const message = await readTcpMessage(socket, signal);
      const checked = check(message, id, question);
      if (typeof checked === 'string') throw new Error(checked);
      return message;
    } finally {
      socket.destroy();
    }
  }

  async function ask(
    upstream: DnsUpstream,
    question: DnsQuestion,
    protocol: 'udp' | 'tcp',
  ): Promise<UpstreamAnswer> {
    const where = `${hostPort(upstream)} (${protocol})`;
    let bytes = await deadline(timeoutMs, where, (signal) =>
      protocol === 'udp' ? overUdp(upstream, question, signal) : overTcp(upstream, question, signal),
    );
    let packet = dnsPacket.decode(bytes);
    // Truncated over UDP: ask again over TCP, as a resolver does (RFC 7766 §5).
    if (protocol === 'udp' && packet.flag_tc === true) {
      bytes = await deadline(timeoutMs, `${hostPort(upstream)} (tcp)`, (signal) =>
        overTcp(upstream, question, signal),
      );
      packet = dnsPacket.decode(bytes);
    }
    return { rcode: rcodeOf(packet), answers: packet.answers ?? [], upstream: hostPort(upstream) };
  }

  return {
    async forward(question, protocol) {
      if (options.upstreams.length === 0) throw new Error('no upstream resolver configured');
      const failures: string[] = [];
      for (const upstream of options.upstreams) {
        try {
          return await ask(upstream, question, protocol);
        } catch (error) {
          failures.push(`${hostPort(upstream)}: ${(error as Error).message}`);
        }
      }
      throw new Error(`every upstream failed: ${failures.join('; ')}`);
    },
  };
}

/**
 * Reads one length-prefixed DNS message from a TCP stream (RFC 1035 §4.2.2), at most 64 KiB.
 *
 * @param socket - The stream.
 * @param signal - Gives up when aborted.
 * @returns The message, without its length prefix.
 * @throws {Error} When the stream ends first or the signal fires.
 * @example
 * ```ts
 * const message = await readTcpMessage(socket, AbortSignal.timeout(5000));
 * ```
 */
export function readTcpMessage(socket: net.Socket, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      cleanup();
      resolve(buffered.subarray(2, 2 + length));
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('connection closed before a whole message'));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new Error('aborted'));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
