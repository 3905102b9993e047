// Hot reload of a policy file under load: every request in flight during reloads gets an answer, the engine
// switches when a valid file lands, and an invalid edit keeps the last good engine.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createAuthzMiddleware,
  type PolicyError,
  type PolicyFileWatcher,
  watchPolicyFile,
} from '../src/index.js';
import { policy } from './support.js';

const ALLOW_ALL = policy('foo/p', 'rules: [{}]');
const DENY_ALL = policy('foo/p', 'action: DENY\nrules: [{}]');
const ALLOW_GET = policy('foo/p', 'rules: [{to: [{operation: {methods: ["GET"]}}]}]');
const INVALID = policy('foo/p', 'action: DENY');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(initial: string, onError?: (e: readonly PolicyError[]) => void) {
  const dir = await mkdtemp(join(tmpdir(), 'authz-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'policies.yaml');
  await writeFile(file, initial);
  const reloads: number[] = [];
  const watcher: PolicyFileWatcher = await watchPolicyFile(file, {
    debounceMs: 10,
    pollIntervalMs: 100,
    onReload: () => reloads.push(Date.now()),
    ...(onError === undefined ? {} : { onError }),
  });
  cleanups.push(() => watcher.close());
  const authz = createAuthzMiddleware({ engine: watcher, workload: { kind: 'sidecar', namespace: 'foo' } });
  const server = http.createServer(
    { keepAlive: true },
    authz.wrap((_req, res) => res.end('ok')),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  cleanups.push(() => agent.destroy());
  const get = (method = 'GET'): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/x', method, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  return { dir, file, watcher, reloads, get };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('watchPolicyFile + middleware', () => {
  it('answers every request in flight while the file is rewritten, renamed over and broken', async () => {
    const errors: (readonly PolicyError[])[] = [];
    const { dir, file, watcher, get } = await setup(ALLOW_ALL, (e) => errors.push(e));
    const statuses: number[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 12 }, async () => {
        while (!stop) statuses.push(await get(statuses.length % 3 === 0 ? 'POST' : 'GET'));
      }),
    );
    const versions = [DENY_ALL, ALLOW_GET, INVALID, ALLOW_ALL, DENY_ALL, ALLOW_GET];
    for (const [i, text] of versions.entries()) {
      if (i % 2 === 0) {
        await writeFile(file, text);
      } else {
        // Editors and ConfigMap updates replace the file atomically.
        const tmp = join(dir, `.tmp-${i}`);
        await writeFile(tmp, text);
        await rename(tmp, file);
      }
      await new Promise((r) => setTimeout(r, 60));
    }
    await until(() => watcher.generation >= 5);
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(100);
    // Every request got a real answer; none failed.
    expect(statuses.every((s) => s === 200 || s === 403)).toBe(true);
    expect(statuses).toContain(200);
    expect(statuses).toContain(403);
    // The invalid edit was reported and skipped.
    expect(errors.flat().some((e) => e.code === 'AUTHZ_ERR_INVALID_POLICY')).toBe(true);
    // The final file (ALLOW GET only) is in force.
    await until(async () => (await get('GET')) === 200 && (await get('POST')) === 403);
  });

  it('keeps the last good engine after an invalid edit, and reload() reports why', async () => {
    const { file, watcher, get } = await setup(DENY_ALL);
    expect(await get()).toBe(403);
    await writeFile(file, INVALID);
    const result = await watcher.reload();
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.errors.map((e) => e.code)).toEqual(['AUTHZ_ERR_INVALID_POLICY']);
    expect(await get()).toBe(403);
    expect(watcher.generation).toBe(1);
    await writeFile(file, ALLOW_ALL);
    await until(async () => (await get()) === 200);
    expect(watcher.generation).toBe(2);
  });

  it('a missing or invalid file at start rejects with PolicyError', async () => {
    await expect(watchPolicyFile('/nonexistent/policies.yaml')).rejects.toMatchObject({
      code: 'AUTHZ_ERR_IO',
    });
    const dir = await mkdtemp(join(tmpdir(), 'authz-reload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'p.yaml'), INVALID);
    await expect(watchPolicyFile(join(dir, 'p.yaml'))).rejects.toMatchObject({
      code: 'AUTHZ_ERR_INVALID_POLICY',
    });
    await writeFile(join(dir, 'big.yaml'), 'x'.repeat(200));
    await expect(watchPolicyFile(join(dir, 'big.yaml'), { maxBytes: 100 })).rejects.toMatchObject({
      code: 'AUTHZ_ERR_INPUT_TOO_LARGE',
    });
  });

  it('close() stops reloading; the last engine stays usable', async () => {
    const { file, watcher, get } = await setup(ALLOW_ALL);
    watcher.close();
    await writeFile(file, DENY_ALL);
    await new Promise((r) => setTimeout(r, 250));
    expect(await get()).toBe(200);
    expect(watcher.generation).toBe(1);
  });
});
