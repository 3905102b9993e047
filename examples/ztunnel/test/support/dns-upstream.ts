/**
 * A small authoritative DNS server for the tests (dns-packet on real UDP and TCP sockets): the "node's
 * resolver" the ztunnel forwards to. It answers `A` records from a map, NXDOMAIN otherwise, and remembers every
 * question with the address it came from. Runs on loopback, or inside a network namespace.
 */
import type dgram from 'node:dgram';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { bindUdpInNetns, listenInNetns, type NetnsRef } from '@ambient-kit/redirect';
import dnsPacket from 'dns-packet';

/** One question the upstream received. */
export interface UpstreamQuery {
  readonly name: string;
  readonly type: string;
  readonly protocol: 'udp' | 'tcp';
  readonly from: string;
}

/** A running upstream. */
export interface DnsUpstreamServer {
  readonly host: string;
  readonly port: number;
  readonly queries: UpstreamQuery[];
  close(): Promise<void>;
}

function answer(records: ReadonlyMap<string, readonly string[]>, message: Buffer): Buffer {
  const query = dnsPacket.decode(message);
  const q = query.questions?.[0];
  const ips = q === undefined ? undefined : records.get(q.name.toLowerCase());
  const answers =
    q !== undefined && ips !== undefined && q.type === 'A'
      ? ips.map((ip) => ({ type: 'A' as const, name: q.name, ttl: 300, class: 'IN' as const, data: ip }))
      : [];
  // NXDOMAIN (3) for unknown names; NOERROR for known ones.
  const rcode = ips === undefined ? 3 : 0;
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | rcode,
    questions: query.questions ?? [],
    answers,
  });
}

/**
 * Starts the upstream.
 *
 * @param records - Name (lower case, no trailing dot) → IPv4 addresses.
 * @param where - `{ host }` on this process's namespace, or `{ netns, host }` inside one.
 */
export async function startDnsUpstream(
  records: ReadonlyMap<string, readonly string[]>,
  where: { readonly host: string; readonly port?: number; readonly netns?: NetnsRef },
): Promise<DnsUpstreamServer> {
  const queries: UpstreamQuery[] = [];
  const note = (message: Buffer, protocol: 'udp' | 'tcp', from: string): void => {
    try {
      const q = dnsPacket.decode(message).questions?.[0];
      if (q !== undefined) queries.push({ name: q.name, type: q.type, protocol, from });
    } catch {
      // Not a DNS message: nothing to note.
    }
  };
  let udp: dgram.Socket;
  let tcp: net.Server;
  if (where.netns !== undefined) {
    udp = await bindUdpInNetns(where.netns, { host: where.host, port: where.port ?? 53 });
    tcp = await listenInNetns(where.netns, { host: where.host, port: udp.address().port });
  } else {
    // UDP takes a free port, TCP the same number, which another program may hold already: then both are
    // given up and tried again (an unanswered 'error' here used to hang the file's beforeAll).
    for (let attempt = 1; ; attempt++) {
      udp = createSocket('udp4');
      const bound = udp;
      await new Promise<void>((resolve, reject) => {
        bound.once('error', reject);
        bound.bind(where.port ?? 0, where.host, () => {
          bound.off('error', reject);
          resolve();
        });
      });
      tcp = net.createServer();
      const server = tcp;
      const listened = await new Promise<boolean>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException): void => {
          if (error.code === 'EADDRINUSE' && where.port === undefined && attempt < 20) resolve(false);
          else reject(error);
        };
        server.once('error', onError);
        server.listen(bound.address().port, where.host, () => {
          server.off('error', onError);
          resolve(true);
        });
      }).catch((error: unknown) => {
        bound.close();
        throw error;
      });
      if (listened) break;
      bound.close();
    }
  }
  udp.on('message', (message, peer) => {
    note(message, 'udp', peer.address);
    let reply = answer(records, message);
    // Over UDP without EDNS an answer is at most 512 bytes: truncate, as a real server does.
    if (reply.length > 512) {
      const query = dnsPacket.decode(message);
      reply = dnsPacket.encode({
        type: 'response',
        id: query.id ?? 0,
        flags: dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_AVAILABLE,
        questions: query.questions ?? [],
      });
    }
    udp.send(reply, peer.port, peer.address);
  });
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
        note(message, 'tcp', socket.remoteAddress ?? '');
        const reply = answer(records, message);
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length, 0);
        socket.write(Buffer.concat([prefix, reply]));
      }
    });
  });
  return {
    host: where.host,
    port: udp.address().port,
    queries,
    async close() {
      udp.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => tcp.close(resolve));
    },
  };
}
