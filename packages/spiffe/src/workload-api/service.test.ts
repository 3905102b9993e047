/**
 * The wire contract, checked against a table written from spiffe/go-spiffe@e9973f63:proto/spiffe/workload/
 * workload.proto rather than from our .proto: the service's path (no package), each method's streaming, and
 * every message's field numbers and types. A slip in our .proto would pass our own round-trip tests and the
 * Go peers (built from the same .proto), but not this.
 */
import { type DescField, ScalarType } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { file_spiffe_workload_workload, SpiffeWorkloadAPI } from '../gen/spiffe/workload/workload_pb.js';
import { SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE, WORKLOAD_API_METHODS } from './service.js';

// name → [number, kind] with kind: a scalar type, `repeated <type>`, `map<string, type>` or a message name.
const UPSTREAM: Record<string, Record<string, [number, string]>> = {
  X509SVIDRequest: {},
  X509SVIDResponse: {
    svids: [1, 'repeated X509SVID'],
    crl: [2, 'repeated bytes'],
    federated_bundles: [3, 'map<string, bytes>'],
  },
  X509SVID: {
    spiffe_id: [1, 'string'],
    x509_svid: [2, 'bytes'],
    x509_svid_key: [3, 'bytes'],
    bundle: [4, 'bytes'],
    hint: [5, 'string'],
  },
  X509BundlesRequest: {},
  X509BundlesResponse: { crl: [1, 'repeated bytes'], bundles: [2, 'map<string, bytes>'] },
  JWTSVIDRequest: { audience: [1, 'repeated string'], spiffe_id: [2, 'string'] },
  JWTSVIDResponse: { svids: [1, 'repeated JWTSVID'] },
  JWTSVID: { spiffe_id: [1, 'string'], svid: [2, 'string'], hint: [3, 'string'] },
  JWTBundlesRequest: {},
  JWTBundlesResponse: { bundles: [1, 'map<string, bytes>'] },
  ValidateJWTSVIDRequest: { audience: [1, 'string'], svid: [2, 'string'] },
  ValidateJWTSVIDResponse: { spiffe_id: [1, 'string'], claims: [2, 'google.protobuf.Struct'] },
  WITSVIDRequest: { spiffe_id: [1, 'string'] },
  WITSVIDResponse: { svids: [1, 'repeated WITSVID'] },
  WITSVID: {
    spiffe_id: [1, 'string'],
    wit_svid: [2, 'string'],
    wit_svid_key: [3, 'string'],
    hint: [4, 'string'],
  },
  WITBundlesRequest: {},
  WITBundlesResponse: { bundles: [1, 'map<string, string>'] },
};

function kind(field: DescField): string {
  const scalar = (t: ScalarType): string => ScalarType[t].toLowerCase();
  switch (field.fieldKind) {
    case 'scalar':
      return scalar(field.scalar);
    case 'message':
      return field.message.typeName;
    case 'list':
      return `repeated ${field.listKind === 'scalar' ? scalar(field.scalar) : field.message?.typeName}`;
    case 'map':
      return `map<${scalar(field.mapKey)}, ${field.mapKind === 'scalar' ? scalar(field.scalar) : field.message?.typeName}>`;
    default:
      return field.fieldKind;
  }
}

describe('SpiffeWorkloadAPI on the wire', () => {
  it('every message has upstream’s field numbers and types, and no other field', () => {
    const ours = Object.fromEntries(
      file_spiffe_workload_workload.messages.map((m) => [
        m.typeName,
        Object.fromEntries(m.fields.map((f) => [f.name, [f.number, kind(f)]])),
      ]),
    );
    expect(ours).toEqual(UPSTREAM);
    expect(file_spiffe_workload_workload.proto.package).toBe('');
  });

  it('the service is `SpiffeWorkloadAPI` with no package; streaming as upstream', () => {
    expect(SpiffeWorkloadAPI.typeName).toBe('SpiffeWorkloadAPI');
    const methods = Object.fromEntries(
      SpiffeWorkloadAPI.methods.map((m) => [m.name, [m.methodKind, m.input.typeName, m.output.typeName]]),
    );
    expect(methods).toEqual({
      FetchX509SVID: ['server_streaming', 'X509SVIDRequest', 'X509SVIDResponse'],
      FetchX509Bundles: ['server_streaming', 'X509BundlesRequest', 'X509BundlesResponse'],
      FetchJWTSVID: ['unary', 'JWTSVIDRequest', 'JWTSVIDResponse'],
      FetchJWTBundles: ['server_streaming', 'JWTBundlesRequest', 'JWTBundlesResponse'],
      ValidateJWTSVID: ['unary', 'ValidateJWTSVIDRequest', 'ValidateJWTSVIDResponse'],
      FetchWITSVID: ['server_streaming', 'WITSVIDRequest', 'WITSVIDResponse'],
      FetchWITBundles: ['server_streaming', 'WITBundlesRequest', 'WITBundlesResponse'],
    });
    for (const [name, method] of Object.entries(WORKLOAD_API_METHODS)) {
      expect(method.path).toBe(`/SpiffeWorkloadAPI/${name}`);
      expect(method.requestStream).toBe(false);
      expect(method.responseStream).toBe(methods[name]?.[0] === 'server_streaming');
    }
    expect([SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE]).toEqual(['workload.spiffe.io', 'true']);
  });
});
