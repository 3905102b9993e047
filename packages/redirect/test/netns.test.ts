/**
 * Entering namespaces from Node's main thread (istio/ztunnel@62d82653:src/inpod/netns.rs): the thread comes
 * back home whatever the callback does. Privileged (setns, unshare).
 */
import { openSync, readlinkSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adoptNetnsFd,
  createScratchNetns,
  isSameNetns,
  openNetns,
  resolveNetnsPath,
  runInNetns,
} from '../src/index.js';
import { requirePrivileges } from './support/topology.js';

beforeAll(() => requirePrivileges());

const here = (): string => readlinkSync('/proc/thread-self/ns/net');

describe('network namespace handles', () => {
  it('resolves names under /var/run/netns and keeps absolute paths', () => {
    expect(resolveNetnsPath('pod-a')).toBe('/var/run/netns/pod-a');
    expect(resolveNetnsPath('/proc/42/ns/net')).toBe('/proc/42/ns/net');
    expect(() => resolveNetnsPath('a/b')).toThrow(TypeError);
    expect(() => resolveNetnsPath('..')).toThrow(TypeError);
  });

  it('opens a namespace and identifies it by (dev, inode)', () => {
    using a = openNetns('/proc/self/ns/net');
    using b = openNetns('/proc/thread-self/ns/net');
    expect(isSameNetns(a, b)).toBe(true);
    expect(here()).toBe(`net:[${a.inode}]`);
  });

  it('refuses what is not a network namespace, and what does not exist', () => {
    expect(() => openNetns('/proc/self/ns/mnt')).toThrow(/not a network namespace/);
    expect(() => openNetns('/etc/hostname')).toThrow(
      expect.objectContaining({ code: 'REDIRECT_ERR_NETNS_NOT_FOUND' }),
    );
    expect(() => openNetns('/nonexistent/ns')).toThrow(
      expect.objectContaining({ code: 'REDIRECT_ERR_NETNS_NOT_FOUND' }),
    );
    expect(() => openNetns('no-such-netns-name')).toThrow(
      /\/var\/run\/netns\/no-such-netns-name does not exist/,
    );
    const fd = openSync('/etc/hostname', 'r');
    expect(() => adoptNetnsFd(fd)).toThrow(/not a network namespace/);
  });

  it('runs a function inside a namespace and always comes back', () => {
    const home = here();
    using scratch = createScratchNetns();
    expect(here()).toBe(home);
    expect(runInNetns(scratch, here)).toBe(`net:[${scratch.inode}]`);
    expect(here()).toBe(home);
    expect(() =>
      runInNetns(scratch, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(here()).toBe(home);
    // A promise-returning callback is a misuse: reported, and the thread is still restored.
    expect(() => runInNetns(scratch, async () => 1)).toThrow(TypeError);
    expect(here()).toBe(home);
  });

  it('nests, returning to the outer namespace first', () => {
    using outer = createScratchNetns();
    using inner = createScratchNetns();
    const trail = runInNetns(outer, () => [here(), runInNetns(inner, here), here()]);
    expect(trail).toEqual([`net:[${outer.inode}]`, `net:[${inner.inode}]`, `net:[${outer.inode}]`]);
  });

  it('refuses a closed handle', () => {
    const scratch = createScratchNetns();
    scratch.close();
    scratch.close();
    expect(scratch.closed).toBe(true);
    expect(() => runInNetns(scratch, here)).toThrow(/closed/);
  });
});
