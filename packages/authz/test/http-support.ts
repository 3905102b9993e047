/**
 * Real-HTTP helpers for the middleware tests: raw HTTP/1.1 over a socket (for request targets that
 * `http.request` would not send as written), listening and closing servers.
 * @module
 */
import http, { type IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';

/** A response as the tests compare it. */
export interface RawReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Sends one request exactly as written (request line, headers) on a fresh connection and reads the reply
 * until the server closes it; a connection the server destroys without answering resolves with status 0.
 *
 * @param port - Server port on 127.0.0.1.
 * @param requestLine - e.g. `GET http://x/admin HTTP/1.1`.
 * @param headers - Header lines; `Connection: close` is added.
 * @returns Status, lower-cased headers and body.
 */
export function rawRequest(
  port: number,
  requestLine: string,
  headers: Record<string, string> = { host: 'x' },
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resolve({ status: 0, headers: {}, body: '' });
      else reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      if (text === '') {
        resolve({ status: 0, headers: {}, body: '' });
        return;
      }
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split).split('\r\n');
      const status = Number(head[0]?.split(' ')[1]);
      const out: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = text.slice(split + 4);
      if (out['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status, headers: out, body });
    });
    const lines = [
      requestLine,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      'connection: close',
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

function dechunk(body: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', i);
    if (eol === -1) return out;
    const size = Number.parseInt(body.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}

/**
 * A GET (or other method) with `http.request`, headers as given.
 *
 * @param port - Server port on 127.0.0.1.
 * @param path - Request path with query.
 * @param headers - Request headers.
 * @param method - HTTP method.
 * @returns Status, headers and body.
 */
export function httpRequest(
  port: number,
  path: string,
  headers: Record<string, string | string[]> = {},
  method = 'GET',
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) =>
      collect(res).then(resolve, reject),
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resolve({ status: 0, headers: {}, body: '' });
      else reject(error);
    });
    req.end();
  });
}

/**
 * Reads a whole response.
 *
 * @param res - The response.
 * @returns Status, lower-cased single-valued headers and body.
 */
export function collect(res: IncomingMessage): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString() });
    });
    res.on('error', reject);
  });
}

/**
 * Listens on an ephemeral loopback port.
 *
 * @param server - A node:http or node:https server.
 * @returns The port.
 */
export function listen(server: http.Server | HttpsServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/**
 * Closes a server and its open connections.
 *
 * @param server - The server.
 */
export function close(server: http.Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
