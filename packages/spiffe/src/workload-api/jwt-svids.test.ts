import { create } from '@bufbuild/protobuf';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../ca/certificate-authority.js';
import { requireSpiffeId } from '../codec/spiffe-id.js';
import { JWTSVIDResponseSchema } from '../gen/spiffe/workload/workload_pb.js';
import { decodeJwtSvidResponse, readIssuedJwtSvid } from './jwt-svids.js';

let ca: CertificateAuthority;
const WEB = 'spiffe://a.org/web';

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'a.org' });
});

describe('JWT-SVIDs from the Workload API', () => {
  it('reads the tokens, the default first, dropping later duplicates of a hint', () => {
    const t1 = ca.mintJwtSvid(WEB, { audience: 'api' });
    const t2 = ca.mintJwtSvid('spiffe://a.org/db', { audience: 'api' });
    const svids = decodeJwtSvidResponse(
      create(JWTSVIDResponseSchema, {
        svids: [
          { spiffeId: WEB, svid: t1, hint: 'x' },
          { spiffeId: 'spiffe://a.org/db', svid: t2, hint: 'x' },
          { spiffeId: 'spiffe://a.org/db', svid: t2 },
        ],
      }),
      { audience: ['api'] },
    )._unsafeUnwrap();
    expect(svids.map((s) => [s.id.toString(), s.hint])).toEqual([
      [WEB, 'x'],
      ['spiffe://a.org/db', ''],
    ]);
  });

  it('refuses what was not asked for: another audience, another subject, a sub that is not spiffe_id, an expired token', () => {
    const token = ca.mintJwtSvid(WEB, { audience: ['api', 'web'] });
    expect(readIssuedJwtSvid(token, WEB, { audience: ['web'] }).isOk()).toBe(true);
    const refused = (why: RegExp, ...args: Parameters<typeof readIssuedJwtSvid>) => {
      const e = readIssuedJwtSvid(...args)._unsafeUnwrapErr();
      expect(e.code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
      expect(e.message).toMatch(why);
    };
    refused(/audience/, token, WEB, { audience: ['db'] });
    refused(/requested/, token, WEB, {
      audience: ['api'],
      subject: requireSpiffeId('spiffe://a.org/db', 't'),
    });
    refused(/spiffe_id/, token, 'spiffe://a.org/db', { audience: ['api'] });
    refused(/expired/, token, WEB, { audience: ['api'], nowMs: Date.now() + 3_600_000 });
    refused(/JWT-SVID/, 'not-a-token', WEB, { audience: ['api'] });
    expect(
      decodeJwtSvidResponse(create(JWTSVIDResponseSchema, { svids: [] }), {
        audience: ['api'],
      })._unsafeUnwrapErr().message,
    ).toMatch(/no JWT-SVID/);
    expect(
      decodeJwtSvidResponse(create(JWTSVIDResponseSchema, { svids: [{ spiffeId: WEB }] }), {
        audience: ['api'],
      }).isErr(),
    ).toBe(true);
  });
});
