import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRequestBody } from './request-body.js';

async function text(r: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('createRequestBody', () => {
  it('replays the whole body to every reader, also one opened after it ended', async () => {
    const source = new PassThrough();
    const body = createRequestBody(source);
    const first = body.open();
    const mirror = body.open('mirror');
    source.write('hello ');
    source.end('world');
    expect(await text(first)).toBe('hello world');
    expect(await text(mirror)).toBe('hello world');
    expect(body.complete).toBe(true);
    expect(await text(body.open())).toBe('hello world');
    expect(body.bytesReceived).toBe(11);
  });

  it('beyond the buffer limit, lets the latest attempt go on and refuses replays', async () => {
    const source = new PassThrough();
    const body = createRequestBody(source, { maxBufferBytes: 8 });
    const early = body.open();
    const latest = body.open();
    const mirror = body.open('mirror');
    const mirrorDone = text(mirror).then(
      () => 'ended',
      (e: Error) => e.message,
    );
    const earlyDone = text(early).then(
      () => 'ended',
      (e: Error) => e.message,
    );
    const got = text(latest);
    for (let i = 0; i < 10; i++) source.write('0123456789');
    source.end();
    expect((await got).length).toBe(100);
    expect(await mirrorDone).toMatch(/cannot be replayed/);
    expect(await earlyDone).toMatch(/cannot be replayed/);
    expect(body.replayable).toBe(false);
    await expect(text(body.open())).rejects.toThrow(/cannot be replayed/);
  });

  it('holds the client back beyond the limit while the reader is slow (backpressure)', async () => {
    const source = new PassThrough({ highWaterMark: 1024 });
    const body = createRequestBody(source, { maxBufferBytes: 1024 });
    const reader = body.open();
    let accepted = 0;
    const chunk = Buffer.alloc(16 * 1024);
    while (source.write(chunk) && accepted < 10_000) accepted++;
    // The source filled up: nobody reads the reader, so the body stopped draining it.
    expect(accepted).toBeLessThan(50);
    source.end();
    let total = 0;
    for await (const c of reader) total += (c as Buffer).length;
    expect(total).toBe(body.bytesReceived);
  });

  it('ends every reader when the client goes away, and discards without cutting the source', async () => {
    const source = new PassThrough();
    const body = createRequestBody(source);
    const reader = body.open();
    source.write('partial');
    source.destroy();
    await expect(text(reader)).rejects.toThrow(/closed the request/);
    const other = new PassThrough();
    const discarded = createRequestBody(other);
    discarded.destroy();
    other.write('x');
    expect(other.destroyed).toBe(false);
  });
});
