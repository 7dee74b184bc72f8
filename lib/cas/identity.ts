// Key pairs with a self-signed X.509 certificate: the service's own identity (its TLS certificate,
// the key that signs the audit log) and each client's identity (a TLS client certificate). A key is
// named by its fingerprint (crypto.ts); the certificate only carries it through TLS.
import 'reflect-metadata';  // @peculiar/x509's dependency injection needs it before it loads
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { openRegularFile, readOpened } from '../file/bounded-file.js';
import { shieldError } from '../file/fs-errors.js';
import { fingerprintOf } from './crypto.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const CERTIFICATE_YEARS = 20;
const MAX_IDENTITY_FILE_BYTES = 64 << 10;

export interface Identity {
  /** PEM of the private key (PKCS#8). */
  privateKeyPem: string;
  /** PEM of the self-signed certificate of its public key. */
  certificatePem: string;
  fingerprint: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A fresh ECDSA P-256 key pair and a self-signed certificate naming `commonName`. */
export async function createIdentity(commonName: string): Promise<Identity> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),  // positive, as RFC 5280 asks
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CERTIFICATE_YEARS * 365 * 86_400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: algorithm,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  pkcs8.fill(0);
  return identityFromPem(privateKeyPem, certificate.toString('pem'), 'a new identity');
}

/** Checks that the key and the certificate belong together. `where` names their origin in messages. */
export function identityFromPem(privateKeyPem: string, certificatePem: string, where: string): Identity {
  let privateKey: KeyObject, certificate: X509Certificate;
  try {
    privateKey = createPrivateKey(privateKeyPem);
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    throw shieldError('EINVAL', `${where}: not a PEM private key and certificate (${(error as Error).message})`);
  }
  const publicKey = createPublicKey(privateKey);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw shieldError('EINVAL', `${where}: the certificate is not of the private key next to it`);
  }
  return { privateKeyPem, certificatePem: certificate.toString(), fingerprint: fingerprintOf(publicKey), privateKey, publicKey };
}

// ---------------------------------------------------------------------------------------------
// Client identity files: one PEM file with the private key and the certificate, mode 0600.

export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SHIELD_IDENTITY ? resolve(env.SHIELD_IDENTITY) : join(homedir(), '.shieldfs', 'identity.pem');
}

/** Makes a new identity file; an existing file is never overwritten (EEXIST). */
export async function createIdentityFile(path: string): Promise<Identity> {
  const identity = await createIdentity('shieldfs client');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw shieldError(code, code === 'EEXIST'
      ? `identity file ${path} exists already: it is kept (show it with \`shield identity show\`, or choose another --identity)`
      : `cannot create identity file ${path} (${code})`, path);
  }
  try {
    writeSync(fd, identity.privateKeyPem + identity.certificatePem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return identity;
}

/** Reads an identity file: a regular file, at most 64 KiB, not readable by group or others. */
export function readIdentityFile(path: string): Identity {
  let opened: ReturnType<typeof openRegularFile>;
  try {
    opened = openRegularFile(path, { what: 'identity file', maxBytes: MAX_IDENTITY_FILE_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'EINVAL' || code === 'EFBIG') throw error;
    throw shieldError(code, code === 'ENOENT'
      ? `identity file ${path} does not exist: make one with \`shield identity create\` (or give --identity / SHIELD_IDENTITY)`
      : `cannot read identity file ${path} (${code})`, path);
  }
  let buffer: Buffer;
  try {
    if ((opened.stat.mode & 0o077) !== 0) {
      throw shieldError('EACCES', `identity file ${path} is readable by others (mode ${(opened.stat.mode & 0o777).toString(8)}): ` +
        `its private key may have leaked; make a new one, or chmod 600 it if you are sure it did not`, path);
    }
    buffer = readOpened(opened.fd, opened.stat.size, path, { what: 'identity file', maxBytes: MAX_IDENTITY_FILE_BYTES });
  } finally {
    closeSync(opened.fd);
  }
  const text = buffer.toString('utf8');
  buffer.fill(0);
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0];
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (!key || !certificate) throw shieldError('EINVAL', `identity file ${path}: expected a PEM private key and a PEM certificate (made by \`shield identity create\`)`, path);
  return identityFromPem(key, certificate, `identity file ${path}`);
}
