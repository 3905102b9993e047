import { describe, expect, it } from 'vitest';
import { parseSamples, sumBy } from './metrics-text.js';

describe('metrics text', () => {
  it('reads samples with escaped label values and sums them by labels', () => {
    const text = [
      '# TYPE istio_tcp_connections_opened counter',
      'istio_tcp_connections_opened_total{reporter="source",response_flags="-",x="a\\"b"} 2',
      'istio_tcp_connections_opened_total{reporter="source",response_flags="DENY"} 1',
      'istio_tcp_connections_opened_total{reporter="destination",response_flags="-"} 4',
      'istio_build{component="ztunnel",tag="0.1.0"} 1',
      '# EOF',
    ].join('\n');
    const samples = parseSamples(text);
    expect(samples).toHaveLength(4);
    expect(samples[0]?.labels).toEqual({ reporter: 'source', response_flags: '-', x: 'a"b' });
    expect([...sumBy(samples, 'istio_tcp_connections_opened_total', ['reporter'])]).toEqual([
      ['source', 3],
      ['destination', 4],
    ]);
  });
});
