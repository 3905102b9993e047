/** The restore-text model (istio/istio@86c9f01f:tools/istio-iptables/pkg/builder/iptables_builder_impl.go buildRestore). */
import { describe, expect, it } from 'vitest';
import { isBuiltInChain, mergeIptablesRestore, renderIptablesRestore } from './iptables-restore.js';
import { renderNftDeleteTables, renderNftTable } from './nft-transaction.js';

describe('renderIptablesRestore', () => {
  it('declares chains with rules first, then jump-only targets, and sorts tables', () => {
    const text = renderIptablesRestore([
      { table: 'raw', chain: 'OUTPUT', params: ['-A', 'OUTPUT', '-j', 'X_ONLY_JUMPED'] },
      { table: 'nat', chain: 'MINE', params: ['-A', 'MINE', '-j', 'RETURN'] },
      { table: 'nat', chain: 'OUTPUT', params: ['-A', 'OUTPUT', '-j', 'MINE'] },
    ]);
    expect(text).toBe(
      '* nat\n-N MINE\n-A MINE -j RETURN\n-A OUTPUT -j MINE\nCOMMIT\n* raw\n-N X_ONLY_JUMPED\n-A OUTPUT -j X_ONLY_JUMPED\nCOMMIT\n',
    );
    expect(renderIptablesRestore([])).toBe('');
    expect(isBuiltInChain('POSTROUTING')).toBe(true);
    expect(isBuiltInChain('ISTIO_OUTPUT')).toBe(false);
  });

  it('merges texts table by table', () => {
    expect(
      mergeIptablesRestore('* raw\n-F A\nCOMMIT\n* nat\n-F B\nCOMMIT\n', '* nat\n-N B\nCOMMIT\n', ''),
    ).toBe('* nat\n-F B\n-N B\nCOMMIT\n* raw\n-F A\nCOMMIT\n');
  });
});

describe('nft transactions', () => {
  it('skips a table whose chains are all unused, keeps jump targets', () => {
    expect(renderNftTable({ name: 't', chains: [{ name: 'a' }], rules: [] })).toBe('');
    expect(
      renderNftTable({
        name: 't',
        chains: [
          { name: 'base', type: 'filter', hook: 'input', priority: 0 },
          { name: 'target' },
          { name: 'unused' },
        ],
        rules: [{ chain: 'base', rule: 'jump target' }],
      }),
    ).toBe(
      'add table inet t\nflush table inet t\nadd chain inet t base { type filter hook input priority 0 ; }\nadd chain inet t target\nadd rule inet t base jump target\n',
    );
  });

  it('deletes tables whether or not they exist (add, then delete)', () => {
    expect(renderNftDeleteTables(['a', 'b'])).toBe(
      'add table inet a\ndelete table inet a\nadd table inet b\ndelete table inet b\n',
    );
  });
});
