import { describe, expect, it } from 'vitest';
import { formatAccessLog } from './access-log.js';
import { formatLogRecord } from './logger.js';

describe('ztunnel log lines', () => {
  it('formats like tracing: µs timestamp, padded level, target, quoted strings, bare numbers and Display values', () => {
    const timeMs = Date.parse('2024-04-11T15:38:42.182Z') + 0.974;
    expect(
      formatLogRecord({
        timeMs,
        level: 'info',
        target: 'xds',
        message: 'synced',
        fields: [
          ['workloads', 3],
          ['name', 'a "b"'],
          ['addr', { display: '10.0.0.1:1' }],
          ['none', undefined],
        ],
      }),
    ).toBe('2024-04-11T15:38:42.182974Z  INFO xds: synced workloads=3 name="a \\"b\\"" addr=10.0.0.1:1');
    expect(formatLogRecord({ timeMs, level: 'error', target: 'access', message: 'x', fields: [] })).toMatch(
      /Z ERROR access: x$/,
    );
  });

  it('prints the README example access log line', () => {
    // istio/ztunnel@62d82653:README.md "Logging" (one line; with dst.workload etc. left out since unknown there).
    const line = formatAccessLog({
      timeMs: Date.parse('2024-04-11T15:38:42.182Z') + 0.974,
      message: 'connection complete',
      level: 'info',
      direction: 'outbound',
      src: {
        addr: '10.244.0.24:46238',
        workload: 'shell-6d8bcd654d-t88gp',
        namespace: 'default',
        identity: 'spiffe://cluster.local/ns/default/sa/default',
      },
      dst: {
        addr: '10.244.0.42:15008',
        hboneAddr: '10.96.108.116:80',
        service: 'echo.default.svc.cluster.local',
      },
      bytesSent: 67,
      bytesRecv: 490,
      durationMs: 13.7,
    });
    expect(line).toBe(
      '2024-04-11T15:38:42.182974Z  INFO access: connection complete src.addr=10.244.0.24:46238 ' +
        'src.workload="shell-6d8bcd654d-t88gp" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/default" ' +
        'dst.addr=10.244.0.42:15008 dst.hbone_addr=10.96.108.116:80 dst.service="echo.default.svc.cluster.local" ' +
        'direction="outbound" bytes_sent=67 bytes_recv=490 duration="13ms"',
    );
  });
});
