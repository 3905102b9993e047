/**
 * Name constraints on a certification path (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c), §6.1.4 (g)), evaluated the way
 * OpenSSL's `check_name_constraints` and `NAME_CONSTRAINTS_check` do (openssl/openssl@openssl-3.0.22:
 * `crypto/x509/x509_vfy.c`, `crypto/x509/v3_ncons.c`), so a path this package accepts is one `openssl verify`
 * accepts and the other way round (`test/openssl-differential.test.ts` compares the two on generated chains):
 *
 * - every certificate of the path except a self-issued intermediate is checked against the constraints of
 *   every certificate above it, the trust anchor included; the extension is enforced whether or not it is
 * marked
 *   critical;
 * - a constraint applies only to names of its own form: permitted subtrees of a form, when there are any, must
 *   hold at least one match for every name of that form; no name may fall in an excluded subtree;
 * - the names checked are the subject alternative names, the subject DN (as a directoryName, when it is not
 *   empty) and its emailAddress attributes, and, for the leaf without a DNS SAN, each common name that looks
 *   like a host name (checked as a DNS name);
 * - `dNSName`: the empty base matches every name; otherwise the name equals the base or ends with it at a label
 *   boundary (a base starting with `.` needs at least one more label), ASCII case-insensitively;
 * - `uniformResourceIdentifier`: the host of `scheme://host[:port][/…]` equals the base, or ends with it when
 *   the base starts with `.` (for a SPIFFE ID the host is the trust domain); a URI without `//` cannot be
 * checked,
 *   which fails the path; the empty base matches nothing;
 * - `iPAddress`: address and mask of the same family; the name matches when it equals the base under the
 *   mask;
 * - `rfc822Name`: a base with `@` names one mailbox (local part case-sensitive), a base `.example.org` any
 *   address at a host below it, any other base the addresses at that host;
 * - `directoryName`: the base's RDNs equal the name's first RDNs once both are canonicalised as OpenSSL does
 *   (strings to UTF-8, outer whitespace trimmed, inner runs collapsed, ASCII folded to lowercase).
 *
 * Fail closed: where a name has to be checked against a subtree this module cannot evaluate (otherName,
 * including an SmtpUTF8Mailbox, which needs IDNA; x400Address, ediPartyName, registeredID; a subtree with a
 * `minimum` or `maximum`; a string OpenSSL cannot convert), the path is refused. OpenSSL refuses these too,
 * except that it evaluates SmtpUTF8Mailbox addresses and skips an otherName subtree of another type-id. A
 * constraint of a form the certificate has no name of never applies, as in OpenSSL. One more deliberate
 * difference: a self-issued intermediate is recognised by byte-equal subject and issuer (OpenSSL compares them
 * canonically), so an intermediate OpenSSL would exempt is at worst checked here.
 * @module
 */
import { equalBytes } from '../bytes.js';
import { derFail, readChildren, readOid, readTlv, TAG, type Tlv } from '../der/reader.js';
import { SpiffeError } from '../errors.js';
import type { GeneralNameKind, GeneralSubtree, NameConstraints, ParsedCertificate } from './certificate.js';
import { OID } from './oids.js';

/** OpenSSL's `NAME_CHECK_MAX`: more names × constraints than this is refused rather than evaluated. */
export const MAX_NAME_CONSTRAINT_CHECKS: number = 1 << 20;

/** A name to check: its form and value (text for IA5 forms, raw contents otherwise). */
interface CheckedName {
  readonly kind: GeneralNameKind;
  readonly value: string | Uint8Array;
  /**
   * For otherName: whether it is an SmtpUTF8Mailbox, which OpenSSL checks as an email address (RFC 8398 §6).
   */
  readonly mailbox?: boolean;
}

/** One attribute of a DN: its type, string tag and contents. */
interface Attribute {
  readonly oid: string;
  readonly tag: number;
  readonly value: Uint8Array;
}

type Verdict = 'match' | 'no-match' | 'unknown';

// id-on-SmtpUTF8Mailbox (RFC 8398 §3).
const SMTP_UTF8_MAILBOX = '1.3.6.1.5.5.7.8.9';

/** Reads a DER Name into its RDNs (each a list of attributes). */
function readName(der: Uint8Array): Attribute[][] {
  const name = readTlv(der, 0, der.length);
  if (name.tag !== TAG.sequence || name.end !== der.length) derFail('Name must be one SEQUENCE');
  return readChildren(der, name, 1024).map((rdn) => {
    if (rdn.tag !== TAG.set) derFail('RelativeDistinguishedName must be a SET');
    return readChildren(der, rdn, 64).map((atv) => {
      if (atv.tag !== TAG.sequence) derFail('AttributeTypeAndValue must be a SEQUENCE');
      const [type, value, extra] = readChildren(der, atv, 3);
      if (type === undefined || value === undefined || extra !== undefined || type.tag !== TAG.oid)
        derFail('malformed AttributeTypeAndValue');
      return { oid: readOid(der, type), tag: value.tag, value: der.subarray(value.valueStart, value.end) };
    });
  });
}

function ascii(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A directory string as text, as OpenSSL's `ASN1_STRING_to_UTF8` reads it: UTF8String as UTF-8, BMPString and
 * UniversalString as UCS-2/UCS-4 big-endian, the 8-bit string types as Latin-1. `undefined` when it cannot be
 * converted (OpenSSL then fails the check).
 */
function directoryText(attribute: Attribute): string | undefined {
  const { tag, value } = attribute;
  try {
    switch (tag) {
      case 0x0c:
        return UTF8.decode(value);
      case 0x1e: {
        if (value.length % 2 !== 0) return undefined;
        let text = '';
        for (let i = 0; i < value.length; i += 2)
          text += String.fromCharCode(((value[i] as number) << 8) | (value[i + 1] as number));
        return text;
      }
      case 0x1c: {
        if (value.length % 4 !== 0) return undefined;
        let text = '';
        for (let i = 0; i < value.length; i += 4) {
          const code =
            (value[i] as number) * 0x1000000 +
            (((value[i + 1] as number) << 16) | ((value[i + 2] as number) << 8) | (value[i + 3] as number));
          if (code > 0x10ffff) return undefined;
          text += String.fromCodePoint(code);
        }
        return text;
      }
      case TAG.printableString:
      case TAG.teletexString:
      case TAG.ia5String:
      case 0x1a:
        return ascii(value);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * OpenSSL's `cn2dnsid`: a common name is checked as a DNS name only when it has the syntax of one with at least
 * two labels (letters, digits, `_`; `-` and `.` inside; no empty label, no `-` next to a `.`).
 * @returns The DNS name, `undefined` for a CN that is not host-like, or `'error'` when OpenSSL fails the path
 * (an unconvertible string or an embedded NUL).
 */
function commonNameAsDns(attribute: Attribute): string | undefined | 'error' {
  const text = directoryText(attribute);
  if (text === undefined || text.includes('\u0000')) return 'error';
  let isDns = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)
      continue;
    if (i > 0 && i < text.length - 1) {
      if (c === 0x2d) continue;
      if (c === 0x2e && text[i + 1] !== '.' && text[i - 1] !== '-' && text[i + 1] !== '-') {
        isDns = true;
        continue;
      }
    }
    isDns = false;
    break;
  }
  return isDns ? text : undefined;
}

function lower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

// OpenSSL `nc_dns`.
function matchDns(name: string, base: string): Verdict {
  if (base.length === 0) return 'match';
  if (name.length < base.length) return 'no-match';
  const tail = name.slice(name.length - base.length);
  if (name.length > base.length && !base.startsWith('.') && name[name.length - base.length - 1] !== '.')
    return 'no-match';
  return lower(tail) === lower(base) ? 'match' : 'no-match';
}

// OpenSSL `nc_uri`: the host is what follows `scheme://`, up to the first `:` after it or else the first `/`.
function matchUri(uri: string, base: string): Verdict {
  const colon = uri.indexOf(':');
  if (colon < 0 || uri[colon + 1] !== '/' || uri[colon + 2] !== '/') return 'unknown';
  const hostStart = colon + 3;
  let hostEnd = uri.indexOf(':', hostStart);
  if (hostEnd < 0) hostEnd = uri.indexOf('/', hostStart);
  if (hostEnd < 0) hostEnd = uri.length;
  const host = uri.slice(hostStart, hostEnd);
  if (host.length === 0) return 'unknown';
  if (base.startsWith('.')) {
    return host.length > base.length && lower(host.slice(host.length - base.length)) === lower(base)
      ? 'match'
      : 'no-match';
  }
  return lower(host) === lower(base) ? 'match' : 'no-match';
}

// OpenSSL `nc_ip`: address || mask, the same family, compared under the mask.
function matchIp(address: Uint8Array, base: Uint8Array): Verdict {
  if ((address.length !== 4 && address.length !== 16) || (base.length !== 8 && base.length !== 32))
    return 'unknown';
  if (address.length * 2 !== base.length) return 'no-match';
  for (let i = 0; i < address.length; i++) {
    const mask = base[address.length + i] as number;
    if (((address[i] as number) & mask) !== ((base[i] as number) & mask)) return 'no-match';
  }
  return 'match';
}

// The string types OpenSSL canonicalises (`ASN1_MASK_CANON`); other values are compared as they are.
const CANONICAL_TAGS: ReadonlySet<number> = new Set([
  0x0c, // UTF8String
  0x1e, // BMPString
  0x1c, // UniversalString
  TAG.printableString,
  TAG.teletexString,
  TAG.ia5String,
  0x1a, // VisibleString
]);

const ASCII_SPACE = /[ \t\n\v\f\r]+/g;

/**
 * An attribute as OpenSSL's `x509_name_canon` encodes it for comparison (`asn1_string_canon`): string values as
 * UTF-8 with leading and trailing ASCII whitespace removed, inner runs collapsed to one space and ASCII folded
 * to lowercase; other values as tag and bytes. `undefined` when the string cannot be converted (OpenSSL fails).
 */
function canonicalAttribute(attribute: Attribute): string | undefined {
  if (!CANONICAL_TAGS.has(attribute.tag)) {
    let hex = '';
    for (const b of attribute.value) hex += b.toString(16).padStart(2, '0');
    return `${attribute.oid} raw ${attribute.tag} ${hex}`;
  }
  const text = directoryText(attribute);
  if (text === undefined) return undefined;
  const canonical = lower(text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '').replace(ASCII_SPACE, ' '));
  return `${attribute.oid} utf8 ${canonical}`;
}

/**
 * OpenSSL `nc_dn`: the constraint's canonical encoding must be a prefix of the name's, that is, its RDNs equal
 * the name's first RDNs once each is canonicalised (a multi-valued RDN compared as a set).
 */
function matchDirectoryName(name: Uint8Array, base: Uint8Array): Verdict {
  let nameRdns: Attribute[][];
  let baseRdns: Attribute[][];
  try {
    nameRdns = readName(name);
    baseRdns = readName(base);
  } catch {
    return 'unknown';
  }
  const canonicalRdn = (rdn: Attribute[]): string | undefined => {
    const entries: string[] = [];
    for (const attribute of rdn) {
      const entry = canonicalAttribute(attribute);
      if (entry === undefined) return undefined;
      entries.push(entry);
    }
    return entries.sort().join('\u0000');
  };
  const canonicalName = (rdns: Attribute[][]): string[] | undefined => {
    const out: string[] = [];
    for (const rdn of rdns) {
      const canonical = canonicalRdn(rdn);
      if (canonical === undefined) return undefined;
      out.push(canonical);
    }
    return out;
  };
  const n = canonicalName(nameRdns);
  const b = canonicalName(baseRdns);
  if (n === undefined || b === undefined) return 'unknown';
  if (b.length > n.length) return 'no-match';
  return b.every((rdn, i) => rdn === n[i]) ? 'match' : 'no-match';
}

// OpenSSL `nc_email`: a base with `@` names a mailbox (local part case-sensitive) or, with nothing before the
// `@`, a host; a base starting with `.` matches hosts below it; any other base is a host the address must be
// at.
function matchEmail(address: string, base: string): Verdict {
  const at = address.lastIndexOf('@');
  if (at < 0) return 'unknown';
  const baseAt = base.lastIndexOf('@');
  if (baseAt < 0 && base.startsWith('.')) {
    return address.length > base.length && lower(address.slice(address.length - base.length)) === lower(base)
      ? 'match'
      : 'no-match';
  }
  let baseHost = base;
  if (baseAt >= 0) {
    if (baseAt > 0) {
      if (baseAt !== at) return 'no-match';
      if (base.slice(0, baseAt).includes('\u0000') || address.slice(0, at).includes('\u0000'))
        return 'unknown';
      if (base.slice(0, baseAt) !== address.slice(0, at)) return 'no-match';
    }
    baseHost = base.slice(baseAt + 1);
  }
  return lower(baseHost) === lower(address.slice(at + 1)) ? 'match' : 'no-match';
}

function matchOne(name: CheckedName, subtree: GeneralSubtree): Verdict {
  const { base } = subtree;
  switch (name.kind) {
    case 'dNSName':
      return matchDns(name.value as string, base as string);
    case 'uniformResourceIdentifier':
      return matchUri(name.value as string, base as string);
    case 'iPAddress':
      return matchIp(name.value as Uint8Array, base as Uint8Array);
    case 'directoryName':
      return matchDirectoryName(name.value as Uint8Array, base as Uint8Array);
    case 'rfc822Name':
      return matchEmail(name.value as string, base as string);
    default:
      // otherName (an SmtpUTF8Mailbox needs IDNA), x400Address, ediPartyName, registeredID: OpenSSL evaluates
      // only the first, and fails on the others; neither is evaluated here.
      return 'unknown';
  }
}

// A name meets a subtree of its own form; an SmtpUTF8Mailbox otherName is an email address (OpenSSL
// `nc_match`). Other otherNames meet every otherName subtree: OpenSSL compares their type OIDs first, which is
// not done here, so this errs on the side of evaluating (and then refusing) rather than skipping.
function sameForm(name: CheckedName, subtree: GeneralSubtree): boolean {
  if (name.kind === 'otherName' && name.mailbox === true) return subtree.kind === 'rfc822Name';
  return name.kind === subtree.kind;
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly why: string };

const OK: Outcome = { ok: true };

/**
 * OpenSSL `nc_match`: permitted subtrees of the name's form are tried in order until one matches, excluded ones
 * all. A subtree that cannot be evaluated, where its verdict is needed, fails the name: OpenSSL fails there too
 * (unsupported syntax or constraint type) or decides something this module does not compute (fail closed).
 */
function checkName(name: CheckedName, constraints: NameConstraints): Outcome {
  let applicable = false;
  let permitted = false;
  for (const subtree of constraints.permitted) {
    if (!sameForm(name, subtree)) continue;
    if (!subtree.minMaxValid)
      return { ok: false, why: 'meets a subtree with a minimum or maximum (RFC 5280 forbids both)' };
    applicable = true;
    if (permitted) continue;
    const verdict = matchOne(name, subtree);
    if (verdict === 'match') permitted = true;
    else if (verdict === 'unknown')
      return { ok: false, why: `cannot be checked against a permitted ${subtree.kind} subtree` };
  }
  if (applicable && !permitted) return { ok: false, why: 'is not in any permitted subtree' };
  for (const subtree of constraints.excluded) {
    if (!sameForm(name, subtree)) continue;
    if (!subtree.minMaxValid)
      return { ok: false, why: 'meets a subtree with a minimum or maximum (RFC 5280 forbids both)' };
    const verdict = matchOne(name, subtree);
    if (verdict === 'match') return { ok: false, why: 'is in an excluded subtree' };
    if (verdict === 'unknown')
      return { ok: false, why: `cannot be checked against an excluded ${subtree.kind} subtree` };
  }
  return OK;
}

function describeName(name: CheckedName): string {
  if (typeof name.value === 'string') return `${name.kind} ${JSON.stringify(name.value.slice(0, 96))}`;
  if (name.kind === 'iPAddress') {
    const v = name.value;
    return `iPAddress ${v.length === 4 ? [...v].join('.') : [...v].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  }
  return name.kind;
}

/** Every name of `cert` that OpenSSL's `NAME_CONSTRAINTS_check` looks at, or the reason it fails first. */
function namesOf(cert: ParsedCertificate): { names: CheckedName[]; rdns: Attribute[][] } | string {
  let rdns: Attribute[][];
  try {
    rdns = readName(cert.subject);
  } catch {
    return 'its subject cannot be read';
  }
  const names: CheckedName[] = [];
  if (rdns.length > 0) {
    names.push({ kind: 'directoryName', value: cert.subject });
    for (const rdn of rdns) {
      for (const attribute of rdn) {
        if (attribute.oid !== OID.emailAddress) continue;
        if (attribute.tag !== TAG.ia5String) return 'its subject emailAddress is not an IA5String';
        names.push({ kind: 'rfc822Name', value: ascii(attribute.value) });
      }
    }
  }
  for (const value of cert.uris) names.push({ kind: 'uniformResourceIdentifier', value });
  for (const value of cert.dnsNames) names.push({ kind: 'dNSName', value });
  for (const value of cert.ipAddresses) names.push({ kind: 'iPAddress', value });
  for (const other of cert.otherSubjectAltNames) {
    if (other.kind === 'rfc822Name') names.push({ kind: 'rfc822Name', value: ascii(other.value) });
    else
      names.push({
        kind: other.kind,
        value: other.value,
        mailbox: other.kind === 'otherName' && isMailbox(other.value),
      });
  }
  return { names, rdns };
}

// OtherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY } (implicitly tagged [0]: the
// contents start with the OID).
function isMailbox(contents: Uint8Array): boolean {
  try {
    const first: Tlv = readTlv(contents, 0, contents.length);
    return first.tag === TAG.oid && readOid(contents, first) === SMTP_UTF8_MAILBOX;
  } catch {
    return false;
  }
}

function describeCert(cert: ParsedCertificate, index: number): string {
  if (index === 0) return 'the leaf certificate';
  const uri = cert.uris[0];
  return uri === undefined ? `intermediate ${index}` : `intermediate ${JSON.stringify(uri)}`;
}

/**
 * Checks the name constraints of a certification path as OpenSSL 3 does (see the module comment).
 *
 * @param path - The path, leaf first, ending with the trust anchor.
 * @returns `undefined` when every constraint holds, else `SPIFFE_ERR_NAME_CONSTRAINTS` naming the
 * certificate, the name and the rule.
 * @example
 * ```ts
 * const error = checkNameConstraints([leaf, intermediate, root]);
 * if (error !== undefined) console.log(error.message); // e.g. 'uniformResourceIdentifier "spiffe://…" …'
 * ```
 */
export function checkNameConstraints(path: readonly ParsedCertificate[]): SpiffeError | undefined {
  if (!path.some((c, i) => i > 0 && c.nameConstraints !== undefined)) return undefined;
  const fail = (cert: ParsedCertificate, index: number, what: string): SpiffeError =>
    new SpiffeError('SPIFFE_ERR_NAME_CONSTRAINTS', `${describeCert(cert, index)}: ${what}`);
  for (let i = path.length - 1; i >= 0; i--) {
    const cert = path[i] as ParsedCertificate;
    // A self-issued intermediate (a key rollover certificate) is exempt (RFC 5280 §6.1.4 (b)).
    if (i !== 0 && equalBytes(cert.subject, cert.issuer)) continue;
    let names: ReturnType<typeof namesOf> | undefined;
    for (let j = path.length - 1; j > i; j--) {
      const constraints = (path[j] as ParsedCertificate).nameConstraints;
      if (constraints === undefined) continue;
      names ??= namesOf(cert);
      if (typeof names === 'string') return fail(cert, i, `${names}, so name constraints cannot be checked`);
      const count = constraints.permitted.length + constraints.excluded.length;
      const nameCount =
        names.rdns.reduce((n, rdn) => n + rdn.length, 0) +
        cert.uris.length +
        cert.dnsNames.length +
        cert.ipAddresses.length +
        cert.otherSubjectAltNames.length;
      if (nameCount > 0 && count > MAX_NAME_CONSTRAINT_CHECKS / nameCount)
        return fail(cert, i, 'too many names and name constraints to check');
      for (const name of names.names) {
        const outcome = checkName(name, constraints);
        if (!outcome.ok) return fail(cert, i, `${describeName(name)} ${outcome.why}`);
      }
      // OpenSSL `NAME_CONSTRAINTS_check_CN`: the leaf's host-like common names count as DNS names when it has
      // no DNS SAN.
      if (i === 0 && cert.dnsNames.length === 0) {
        for (const rdn of names.rdns) {
          for (const attribute of rdn) {
            if (attribute.oid !== OID.commonName) continue;
            const dns = commonNameAsDns(attribute);
            if (dns === 'error') return fail(cert, i, 'its common name cannot be checked as a DNS name');
            if (dns === undefined) continue;
            const outcome = checkName({ kind: 'dNSName', value: dns }, constraints);
            if (!outcome.ok) return fail(cert, i, `common name ${JSON.stringify(dns)} ${outcome.why}`);
          }
        }
      }
    }
  }
  return undefined;
}
