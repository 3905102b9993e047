import { describe, expect, it } from 'vitest';
import { createDuplexPair } from './duplex-pair.js';

const readAll = async (stream: AsyncIterable<Buffer>): Promise<string> => {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
};

describe('createDuplexPair', () => {
  it('carries bytes both ways with independent half-closes', async () => {
    const [a, b] = createDuplexPair();
    a.end('ping');
    expect(await readAll(b.iterator({ destroyOnReturn: false }))).toBe('ping');
    // b can still answer after a's EOF.
    b.end('pong');
    expect(await readAll(a)).toBe('pong');
  });

  it('holds a writer back until the reader takes the bytes (backpressure)', async () => {
    const [a, b] = createDuplexPair();
    const big = Buffer.alloc(64 * 1024, 1);
    let writes = 0;
    while (a.write(big)) writes++;
    // Both high-water marks (16 KiB) are full: the writer is told to wait.
    expect(writes).toBeLessThan(4);
    const drained = new Promise((resolve) => a.once('drain', resolve));
    b.resume();
    await drained;
    a.destroy();
  });

  it('resets the peer when one end is destroyed with data pending', async () => {
    const [a, b] = createDuplexPair();
    const closed = new Promise((resolve) => b.once('close', resolve));
    const failed = new Promise<Error>((resolve) => a.once('error', resolve));
    a.destroy(new Error('boom'));
    expect((await failed).message).toBe('boom');
    await closed;
    expect(b.destroyed).toBe(true);
  });

  it('has the socket surface node:http uses', () => {
    const [a] = createDuplexPair();
    let fired = false;
    a.setTimeout(5, () => {
      fired = true;
    });
    expect(a.setNoDelay()).toBe(a);
    expect(a.setKeepAlive()).toBe(a);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(fired).toBe(true);
        a.destroy();
        resolve();
      }, 30),
    );
  });
});
