// Independent JWE vectors for profilegate's keys module (tests/it/keys.rs runs this).
//
// Builds compact JWEs the way WSO2 does with Nimbus JOSE (RSA-OAEP-256 + A256GCM, AAD = the
// base64url header), using nothing but node's built-in `crypto` (node 18 or later, no npm).
// The payload is written as Gson writes WSO2's Credential: `value` a char[] (an array of
// one-character strings, one per UTF-16 code unit) and HTML-safe escapes (`=` -> \u003d).
//
// stdin:  {"certificate": PEM or base64 of the PEM (WSO2's form), "cases": [case, ...]}
//   case: {"name", "password", "format": "PLAIN_TEXT"|"HASH" (default PLAIN_TEXT),
//          "form": "chars" (Gson char[], lone surrogates escaped as \udXXX)
//                | "java-chars" (char[] as the bytes Java really sends: Nimbus encodes the
//                  JSON string with String.getBytes(UTF_8), which turns a lone surrogate into "?")
//                | "string" (a plain JSON string),
//          "alg": "RSA-OAEP-256"|"RSA-OAEP", "enc": "A256GCM"|"A128GCM" (defaults as WSO2)}
// stdout: {"certificate": {subject, issuer, fingerprint256, keyType, bits, validFrom, validTo,
//          selfSigned}, "tokens": {name: compact JWE}}

import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));

let pem = input.certificate.trim();
if (!pem.startsWith('-----BEGIN')) {
  // WSO2's IdentityUtil.convertPEMEncodedContentToCertificate takes base64 of the PEM.
  pem = Buffer.from(pem, 'base64').toString('ascii');
}
const cert = new crypto.X509Certificate(pem);
const publicKey = cert.publicKey;

const b64u = (buf) => Buffer.from(buf).toString('base64url');

// Gson's default HTML-safe escaping on top of JSON.stringify's.
const gson = (value) =>
  JSON.stringify(value).replace(/[<>&=']/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

function payload(c) {
  const format = c.format ?? 'PLAIN_TEXT';
  const secret = format === 'HASH'
    ? crypto.createHash('sha256').update(Buffer.from(c.password, 'utf8')).digest('base64')
    : c.password;
  const units = Array.from({ length: secret.length }, (_, i) => secret[i]);
  let value;
  switch (c.form ?? 'chars') {
    case 'chars': value = units; break;
    case 'java-chars': value = units.map((u) => (/[\ud800-\udfff]/.test(u) ? '?' : u)); break;
    case 'string': value = secret; break;
    default: throw new Error(`unknown form ${c.form}`);
  }
  const credential = { type: 'PASSWORD', format, value };
  if (format === 'HASH') credential.additionalData = { algorithm: 'SHA256' };
  return Buffer.from(gson(credential), 'utf8');
}

const OAEP = { 'RSA-OAEP-256': 'sha256', 'RSA-OAEP': 'sha1' };
const GCM = { A256GCM: ['aes-256-gcm', 32], A128GCM: ['aes-128-gcm', 16] };

function encrypt(c) {
  const alg = c.alg ?? 'RSA-OAEP-256';
  const enc = c.enc ?? 'A256GCM';
  if (!(alg in OAEP) || !(enc in GCM)) throw new Error(`unsupported ${alg}/${enc}`);
  const [cipherName, cekLen] = GCM[enc];
  const header = b64u(JSON.stringify({ alg, enc, cty: 'application/json' }));
  const cek = crypto.randomBytes(cekLen);
  const iv = crypto.randomBytes(12);
  const encryptedKey = crypto.publicEncrypt(
    { key: publicKey, oaepHash: OAEP[alg], padding: crypto.constants.RSA_PKCS1_OAEP_PADDING },
    cek,
  );
  const cipher = crypto.createCipheriv(cipherName, cek, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(payload(c)), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [header, b64u(encryptedKey), b64u(iv), b64u(ciphertext), b64u(tag)].join('.');
}

const tokens = {};
for (const c of input.cases ?? []) tokens[c.name] = encrypt(c);

process.stdout.write(JSON.stringify({
  certificate: {
    subject: cert.subject,
    issuer: cert.issuer,
    fingerprint256: cert.fingerprint256,
    keyType: publicKey.asymmetricKeyType,
    bits: publicKey.asymmetricKeyDetails.modulusLength,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    selfSigned: cert.verify(publicKey),
  },
  tokens,
}));
