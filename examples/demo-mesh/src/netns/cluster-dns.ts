/**
 * The cluster's own DNS for the netns demo: one server per node, on the node's bridge address (UDP and TCP port
 * 53, inside the node namespace), playing the resolver ztunnel forwards to for names outside the mesh (ztunnel
 * reads it from its own `/etc/resolv.conf`; here `dnsUpstreams`). It knows a few names outside the mesh and
 * nothing about mesh services (those are ztunnel's to answer), and remembers every question and who asked.
 * @module
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { bindUdpInNetns, listenInNetns } from '@ambient-kit/redirect';
import dnsPacket from 'dns-packet';

/** One question the server got. */
export interface ClusterDnsQuery {
  readonly name: string;
  readonly type: string;
  readonly from: string;
}

/** A node's DNS server. */
export interface ClusterDns {
  readonly address: string;
  readonly queries: ClusterDnsQuery[];
  close(): Promise<void>;
}

function reply(records: ReadonlyMap<string, string>, message: Buffer): Buffer | undefined {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return undefined;
  }
  const q = query.questions?.[0];
  const ip = q === undefined ? undefined : records.get(q.name.toLowerCase());
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    // NXDOMAIN (3) for what it does not know.
    flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (ip === undefined ? 3 : 0),
    questions: query.questions ?? [],
    answers:
      ip !== undefined && q?.type === 'A'
        ? [{ type: 'A', name: q.name, ttl: 300, class: 'IN', data: ip }]
        : [],
  });
}

/**
 * Starts a node's DNS server.
 *
 * @param netns - The node's namespace.
 * @param address - Its bridge address.
 * @param records - Name → IPv4.
 * @returns The server.
 * @example
 * ```ts
 * const dns = await startClusterDns(node.path, node.gateway, new Map([['db.example.internal', '192.0.2.7']]));
 * ```
 */
export async function startClusterDns(
  netns: string,
  address: string,
  records: ReadonlyMap<string, string>,
): Promise<ClusterDns> {
  const queries: ClusterDnsQuery[] = [];
  const note = (message: Buffer, from: string): void => {
    try {
      const q = dnsPacket.decode(message).questions?.[0];
      if (q !== undefined) queries.push({ name: q.name, type: q.type, from });
    } catch {
      // Not DNS.
    }
  };
  const udp: dgram.Socket = await bindUdpInNetns(netns, { host: address, port: 53 });
  udp.on('message', (message, peer) => {
    note(message, peer.address);
    const answer = reply(records, message);
    if (answer !== undefined) udp.send(answer, peer.port, peer.address);
  });
  const tcp: net.Server = await listenInNetns(netns, { host: address, port: 53 });
  const sockets = new Set<net.Socket>();
  tcp.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + message.length);
        note(message, socket.remoteAddress ?? '');
        const answer = reply(records, message);
        if (answer === undefined) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(answer.length, 0);
        socket.write(Buffer.concat([prefix, answer]));
      }
    });
  });
  return {
    address,
    queries,
    async close() {
      udp.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => tcp.close(resolve));
    },
  };
}
