/** Running tools: stdin, exit status, timeouts, aborts, output caps, missing binaries (no root needed). */
import { describe, expect, it } from 'vitest';
import { resolveTool, runTool } from './run-tool.js';

describe('runTool', () => {
  it('feeds stdin and returns stdout and stderr', async () => {
    await expect(runTool('cat', [], { stdin: 'restore me\n' })).resolves.toEqual({
      stdout: 'restore me\n',
      stderr: '',
    });
    const { stderr } = await runTool('sh', ['-c', 'echo warn >&2']);
    expect(stderr).toBe('warn\n');
  });

  it('turns a non-zero exit into REDIRECT_ERR_TOOL_FAILED carrying stderr', async () => {
    await expect(runTool('sh', ['-c', 'echo "line 2 failed" >&2; exit 4'])).rejects.toMatchObject({
      code: 'REDIRECT_ERR_TOOL_FAILED',
      message: expect.stringMatching(/exit 4: line 2 failed/),
    });
  });

  it('kills a tool that runs past its timeout, or when aborted', async () => {
    await expect(runTool('sleep', ['5'], { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_TOOL_TIMEOUT',
    });
    const controller = new AbortController();
    const running = runTool('sleep', ['5'], { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(running).rejects.toMatchObject({ code: 'REDIRECT_ERR_ABORTED' });
    await expect(runTool('true', [], { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_ABORTED',
    });
  });

  it('caps the output it buffers', async () => {
    await expect(
      runTool('sh', ['-c', 'head -c 100000 /dev/zero'], { maxOutputBytes: 1000 }),
    ).rejects.toMatchObject({
      code: 'REDIRECT_ERR_UNEXPECTED_OUTPUT',
    });
  });

  it('names a missing tool and its Debian package', () => {
    expect(() => resolveTool('nft-does-not-exist')).toThrow(/not found in PATH/);
    expect(() => resolveTool('ip6tables-nowhere-restore')).toThrow(/Debian package iptables/);
    expect(() => resolveTool('nft', { nft: '/nonexistent/nft' })).toThrow(/not an executable/);
    expect(resolveTool('sh')).toMatch(/\/sh$/);
  });
});
