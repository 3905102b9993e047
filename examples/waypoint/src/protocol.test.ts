import { describe, expect, it } from 'vitest';
import {
  convertProtocol,
  fromWdsAppProtocol,
  listenerMode,
  parseProtocol,
  upstreamHttpVersion,
} from './protocol.js';

describe('istiod protocol selection', () => {
  it('reads a port name up to the first dash, case-insensitively; appProtocol wins', () => {
    expect(convertProtocol(80, 'http', 'TCP', undefined)).toBe('HTTP');
    expect(convertProtocol(80, 'HTTP-web', 'TCP', undefined)).toBe('HTTP');
    expect(convertProtocol(80, 'http2-api', undefined, undefined)).toBe('HTTP2');
    expect(convertProtocol(80, 'grpc', undefined, undefined)).toBe('GRPC');
    expect(convertProtocol(80, 'grpc-web', undefined, undefined)).toBe('GRPC-Web');
    expect(convertProtocol(80, 'grpc-webx', undefined, undefined)).toBe('GRPC-Web');
    expect(convertProtocol(80, 'tcp-db', undefined, undefined)).toBe('TCP');
    expect(convertProtocol(80, 'web', undefined, undefined)).toBe('UnsupportedProtocol');
    expect(convertProtocol(80, 'http', undefined, 'grpc')).toBe('GRPC');
    expect(convertProtocol(80, 'grpc', undefined, 'http')).toBe('HTTP');
    expect(convertProtocol(80, 'http', 'UDP', undefined)).toBe('UDP');
    // Server-first well-known ports are TCP when nothing names them.
    expect(convertProtocol(3306, undefined, undefined, undefined)).toBe('TCP');
    expect(convertProtocol(3306, 'http', undefined, undefined)).toBe('HTTP');
    expect(parseProtocol('Mongo')).toBe('Mongo');
  });

  it('maps WDS app protocols, the listener mode and the upstream HTTP version', () => {
    expect(fromWdsAppProtocol('HTTP11')).toBe('HTTP');
    expect(fromWdsAppProtocol('GRPC')).toBe('GRPC');
    expect(fromWdsAppProtocol('UNKNOWN')).toBe('UnsupportedProtocol');
    expect(listenerMode('HTTP')).toBe('http');
    expect(listenerMode('GRPC')).toBe('http');
    expect(listenerMode('TCP')).toBe('tcp');
    expect(listenerMode('TLS')).toBe('tcp');
    expect(listenerMode('UnsupportedProtocol')).toBe('sniff');
    expect(upstreamHttpVersion('HTTP')).toBe('1.1');
    expect(upstreamHttpVersion('UnsupportedProtocol')).toBe('1.1');
    expect(upstreamHttpVersion('HTTP2')).toBe('2');
    expect(upstreamHttpVersion('GRPC')).toBe('2');
  });
});
