// The policy service on the network: HTTPS (TLS 1.3 only) with the service's own certificate, TLS
// client certificates as client identities, JSON messages (PROTOCOL.md, "Endpoints"). Every request
// is bounded: headers and body sizes, time to send them, connections.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openRegularFile, readOpened } from '../file/bounded-file.js';
import { shieldError } from '../file/fs-errors.js';
import { fingerprintOf, RecordSealer } from './crypto.js';
import { casError, refusal, type CasError } from './errors.js';
import { PolicyService, type Actor, type ReleaseRequest } from './service.js';
import { SqliteStateStore } from './sqlite-store.js';
import type { StateStore } from './store.js';

export const DEFAULT_LISTEN = '127.0.0.1:8081';
export const MAX_BODY_BYTES = 1 << 20;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 4096;
const NONCE_SWEEP_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Stores and the master key

export interface StoreOptions {
  /** A directory (embedded store) or etcd://HOST:PORT[,…][/PREFIX]. */
  store: string;
  masterKeyFile?: string;
}

/** Opens the store and its master key. A directory store keeps a generated master key in master.key unless given one. */
export async function openServiceState(options: StoreOptions): Promise<{ store: StateStore; sealer: RecordSealer }> {
  if (/^etcd:\/\//i.test(options.store)) {
    const { EtcdStateStore } = await import('./etcd-store.js');
    if (!options.masterKeyFile) throw shieldError('EINVAL', `an etcd store needs --master-key-file: the master key must not live next to the state it protects`);
    const master = readMasterKeyFile(options.masterKeyFile);
    return { store: EtcdStateStore.open(options.store), sealer: sealerOf(master) };
  }
  const store = new SqliteStateStore(options.store);
  const master = options.masterKeyFile ? readMasterKeyFile(options.masterKeyFile) : readOrCreateMasterKey(join(options.store, 'master.key'));
  return { store, sealer: sealerOf(master) };
}

function sealerOf(master: Buffer): RecordSealer {
  try {
    return new RecordSealer(master);
  } finally {
    master.fill(0);
  }
}

const MAX_KEY_FILE_BYTES = 128;

export function readMasterKeyFile(path: string): Buffer {
  let opened: ReturnType<typeof openRegularFile>;
  try {
    opened = openRegularFile(path, { what: 'master key file', maxBytes: MAX_KEY_FILE_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'EINVAL' || code === 'EFBIG') throw error;
    throw shieldError(code, `master key file ${path} cannot be read (${code})`, path);
  }
  let bytes: Buffer;
  try {
    if ((opened.stat.mode & 0o077) !== 0) throw shieldError('EACCES', `master key file ${path} is readable by others (mode ${(opened.stat.mode & 0o777).toString(8)}): chmod 600 it`, path);
    bytes = readOpened(opened.fd, opened.stat.size, path, { what: 'master key file', maxBytes: MAX_KEY_FILE_BYTES });
  } finally {
    closeSync(opened.fd);
  }
  try {
    if (bytes.length === 32) return Buffer.from(bytes);
    const text = bytes.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
    throw shieldError('EINVAL', `master key file ${path}: expected 32 raw bytes or 64 hex characters`, path);
  } finally {
    bytes.fill(0);
  }
}

function readOrCreateMasterKey(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readMasterKeyFile(path);
    throw error;
  }
  const key = randomBytes(32);
  const hex = Buffer.from(key.toString('hex') + '\n');
  try {
    writeSync(fd, hex);
    fsyncSync(fd);
  } finally {
    hex.fill(0);
    closeSync(fd);
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// HTTPS

export interface RunningService {
  url: string;
  fingerprint: string;
  service: PolicyService;
  close(): Promise<void>;
}

export async function serve(service: PolicyService, store: StateStore, listen: string = DEFAULT_LISTEN): Promise<RunningService> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer({
    key: service.identity.privateKeyPem,
    cert: service.identity.certificatePem,
    minVersion: 'TLSv1.3',
    // Client certificates are identities, not a PKI: any self-signed one is accepted, and TLS 1.3's
    // CertificateVerify proves the client holds its key. Who may do what is the sessions' business.
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    // How often the header and request deadlines are checked (Node's default, 30 s, would let a slow client hold on 6× longer).
    connectionsCheckingInterval: 1_000,
  }, (request, response) => {
    void handle(service, request, response);
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = MAX_CONNECTIONS;
  server.maxHeadersCount = 64;
  server.on('tlsClientError', () => {});  // a client that hangs up mid-handshake is its own problem
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const sweep = setInterval(() => void service.forgetExpiredNonces().catch(() => {}), NONCE_SWEEP_MS);
  sweep.unref();
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${shownHost}:${actualPort}`,
    fingerprint: service.identity.fingerprint,
    service,
    async close() {
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
    },
  };
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw shieldError('EINVAL', `--listen ${JSON.stringify(listen)}: expected HOST:PORT, e.g. ${DEFAULT_LISTEN} (port 0: any free port)`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

async function handle(service: PolicyService, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const url = new URL(request.url ?? '/', 'https://cas.invalid');
    const route = `${request.method} ${url.pathname}`;
    const body = request.method === 'POST' || request.method === 'PUT' ? await readJson(request) : {};
    const actor = () => actorOf(request);
    const query = (name: string) => {
      const value = url.searchParams.get(name);
      if (value === null || value.length > 512) throw casError('EINVAL', `query parameter ${name} is missing or too long`, 400);
      return value;
    };
    let result: unknown;
    switch (route) {
      case 'GET /v1/nonce': result = { nonce: service.nonce() }; break;
      case 'POST /v1/release': result = await service.release(releaseRequest(body)); break;
      case 'POST /v1/tags/get': result = { tag: await service.getTag(str(body, 'credential'), str(body, 'volume'), str(body, 'volumeId')) }; break;
      case 'POST /v1/tags/compare-and-set':
        result = { swapped: await service.compareAndSetTag(str(body, 'credential'), str(body, 'volume'), str(body, 'volumeId'), body.expected === null ? null : str(body, 'expected'), str(body, 'next')) };
        break;
      case 'POST /v1/sessions': result = await service.createSession(actor(), str(body, 'yaml')); break;
      case 'PUT /v1/sessions': result = await service.updateSession(actor(), str(body, 'yaml')); break;
      case 'GET /v1/session': result = await service.showSession(actor(), query('name'), url.searchParams.get('hash') ?? undefined); break;
      case 'GET /v1/session/history': result = await service.history(actor(), query('name')); break;
      case 'POST /v1/session/verify': result = await service.verifySession(actor(), str(body, 'yaml')); break;
      case 'POST /v1/session/volume-reset': result = await service.resetVolume(actor(), str(body, 'name'), str(body, 'volume')); break;
      case 'POST /v1/session/approval': result = await service.approve(actor(), str(body, 'name'), str(body, 'hash'), str(body, 'signature')); break;
      default: throw casError('ENOENT', `no endpoint ${route}: see PROTOCOL.md, "Endpoints"`, 404);
    }
    reply(response, 200, result);
  } catch (error) {
    const e = error as CasError;
    const status = e.status ?? (e.code === 'EINVAL' ? 400 : 500);
    const code = typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) ? e.code : 'EIO';
    const message = status === 500 && e.status === undefined ? 'the policy service failed on this request; see its log' : e.message.replace(/^E[A-Z0-9]+: /, '');
    if (status === 500) process.stderr.write(`shield cas: ${request.method} ${request.url}: ${(error as Error)?.stack ?? String(error)}\n`);
    reply(response, status, { error: { code, message, refused: e.refusedByPolicyService === true } });
  }
}

function reply(response: ServerResponse, status: number, value: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const body = JSON.stringify(value);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(body);
}

function readJson(request: IncomingMessage): Promise<Record<string, any>> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (declared > MAX_BODY_BYTES) {
    request.resume();
    return Promise.reject(casError('E2BIG', `the request body is ${declared} bytes; the service takes at most ${MAX_BODY_BYTES}`, 413));
  }
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    let length = 0;
    request.on('data', (piece: Buffer) => {
      length += piece.length;
      if (length > MAX_BODY_BYTES) {
        reject(casError('E2BIG', `the request body is larger than ${MAX_BODY_BYTES} bytes, the most the service takes`, 413));
        request.destroy();
        return;
      }
      pieces.push(piece);
    });
    request.on('error', reject);
    request.on('end', () => {
      try {
        const value = JSON.parse(Buffer.concat(pieces).toString('utf8'));
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
        resolve(value);
      } catch {
        reject(casError('EINVAL', 'the request body is not a JSON object', 400));
      }
    });
  });
}

function actorOf(request: IncomingMessage): Actor {
  const certificate = (request.socket as TLSSocket).getPeerX509Certificate?.();
  if (!certificate) throw refusal('EACCES', 'this request needs a client identity: give --identity FILE (or SHIELD_IDENTITY); make one with `shield identity create`');
  return { fingerprint: fingerprintOf(certificate.publicKey), publicKey: certificate.publicKey };
}

// Each field's bound keeps what reaches the store and the audit log small, whatever a client sends.
const FIELD_LIMITS: Record<string, number> = {
  session: 320, service: 64, name: 320, volume: 64, volumeId: 32, expected: 64, next: 64, credential: 64,
  nonce: 80, publicKey: 64, hash: 64, signature: 256, type: 32, data: 768 << 10, yaml: 256 << 10,
  // An SNP VCEK or VLEK certificate (DER or PEM, base64): at most 16 KiB before encoding (snp-endorsements.ts).
  vcek: 24 << 10,
};

function str(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw casError('EINVAL', `field ${field} must be a string`, 400);
  const limit = FIELD_LIMITS[field] ?? 1024;
  if (value.length > limit) throw casError('EINVAL', `field ${field} is ${value.length} characters; at most ${limit}`, 400);
  return value;
}

function releaseRequest(body: Record<string, any>): ReleaseRequest {
  const evidence = body.evidence;
  if (typeof evidence !== 'object' || evidence === null) throw casError('EINVAL', 'field evidence must be {type, data[, collateral][, vcek]}', 400);
  const hostCommand = body.hostCommand ?? null;
  if (hostCommand !== null && (!Array.isArray(hostCommand) || hostCommand.length > 256 || !hostCommand.every((a: unknown) => typeof a === 'string' && a.length <= 4096))) {
    throw casError('EINVAL', 'field hostCommand must be null or a list of at most 256 strings', 400);
  }
  return {
    session: str(body, 'session'), service: str(body, 'service'), nonce: str(body, 'nonce'), publicKey: str(body, 'publicKey'),
    evidence: {
      type: str(evidence, 'type'), data: str(evidence, 'data'),
      ...(evidence.collateral !== undefined ? { collateral: evidence.collateral } : {}),
      ...(evidence.vcek !== undefined ? { vcek: str(evidence, 'vcek') } : {}),
    }, hostCommand,
  };
}
