// The client side of the policy service: HTTPS to a service whose key is pinned (its fingerprint,
// from `shield cas serve` or `shield cas id`), with an optional client identity, and the instance side
// of attested release.
//
// Pinning: the service's certificate is self-signed, so no CA vouches for it. The connection is made
// first and its certificate's key compared (in constant time) with the pinned fingerprint before a
// single byte of the request is written; another key ends the connection with EACCES.
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import { shieldError } from '../file/fs-errors.js';
import { equalHex, fingerprintOf, isFingerprint } from './crypto.js';
import { casError, refusal, REFUSAL_CODES, type CasError, type RefusalCode } from './errors.js';
import type { Identity } from './identity.js';

const MAX_RESPONSE_BYTES = 8 << 20;
const REQUEST_TIMEOUT_MS = 30_000;

export interface CasLocation {
  /** https://HOST:PORT, or several replicas of one service as https://A:P,https://B:P (tried in turn). */
  url: string;
  /** The pinned key fingerprint (64 hex). */
  key: string;
}

const MAX_REPLICAS = 16;

export function checkCasLocation(url: string | undefined, key: string | undefined): CasLocation {
  if (!url) throw shieldError('EINVAL', 'no policy service: give --cas https://HOST:PORT (or set SHIELD_CAS)');
  if (!key) throw shieldError('EINVAL', 'no pinned service key: give --cas-key FINGERPRINT (or set SHIELD_CAS_KEY); `shield cas serve` prints it, and so does `shield cas id`');
  const normalized = key.trim().toLowerCase();
  if (!isFingerprint(normalized)) throw shieldError('EINVAL', `--cas-key ${JSON.stringify(key.slice(0, 80))}: expected the service's key fingerprint, 64 hex characters`);
  const urls = url.split(',');
  if (urls.length > MAX_REPLICAS) throw shieldError('EINVAL', `--cas names ${urls.length} replicas; at most ${MAX_REPLICAS}`);
  return { url: urls.map(checkEndpoint).join(','), key: normalized };
}

function checkEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw shieldError('EINVAL', `--cas ${JSON.stringify(url.slice(0, 200))}: expected https://HOST:PORT[,https://HOST:PORT…]`);
  }
  if (parsed.protocol !== 'https:' || parsed.pathname !== '/' || parsed.search || parsed.username) {
    throw shieldError('EINVAL', `--cas ${JSON.stringify(url.slice(0, 200))}: expected https://HOST:PORT (TLS only, no path)`);
  }
  return `https://${parsed.host}`;
}

/** The replicas of a location, in the order they are tried. */
export function endpointsOf(location: CasLocation): string[] {
  return location.url.split(',');
}

/** An http.Agent whose connections are TLS 1.3 to the pinned key only. */
class PinnedAgent extends Agent {
  readonly #location: CasLocation;
  readonly #endpoint: string;
  readonly #identity: Identity | null;
  /** The service's public key, once a connection proved it. */
  serviceKey: KeyObject | null = null;

  constructor(location: CasLocation, endpoint: string, identity: Identity | null) {
    super({ keepAlive: true, maxSockets: 64 });
    this.#location = location;
    this.#endpoint = endpoint;
    this.#identity = identity;
  }

  override createConnection(options: { host?: string | null; port?: number | string | null }, callback?: (error: Error | null, socket: Duplex) => void): Duplex | undefined {
    const url = new URL(this.#endpoint);
    const socket: TLSSocket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      minVersion: 'TLSv1.3',
      // The chain is not checked against CAs (there are none for a self-signed key); the pin below is the check.
      rejectUnauthorized: false,
      ...(this.#identity ? { key: this.#identity.privateKeyPem, cert: this.#identity.certificatePem } : {}),
      ...(url.hostname.match(/^[\d.]+$|^\[/) ? {} : { servername: url.hostname }),
    });
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerX509Certificate();
      const found = certificate ? fingerprintOf(certificate.publicKey) : 'none';
      if (!certificate || !equalHex(found, this.#location.key)) {
        socket.destroy();
        callback?.(refusal('EACCES', `the policy service at ${this.#endpoint} has key ${found}, not the pinned ${this.#location.key}: ` +
          'refusing to talk to it (another server, or the service was re-created; check --cas-key / SHIELD_CAS_KEY)'), socket);
        return;
      }
      this.serviceKey = certificate.publicKey;
      callback?.(null, socket);
    });
    socket.once('error', (error) => callback?.(unreachable(this.#endpoint, error), socket));
    void options;
    return undefined;
  }
}

function unreachable(endpoint: string, error: Error): CasError {
  const code = (error as NodeJS.ErrnoException).code;
  const failure = casError(code && /^E[A-Z]+$/.test(code) ? code : 'EIO', `the policy service at ${endpoint} cannot be reached (${error.message}); is \`shield cas serve\` running there?`, 0);
  (failure as CasError & { [UNREACHABLE]?: boolean })[UNREACHABLE] = true;
  return failure;
}

// Marks failures after which another replica may be tried: the service was not reached, or did not
// answer. A request whose answer was lost may have been applied: a retried release then counts one
// more execution (never more than the limit), and a retried tag compare-and-set answers false (a
// spurious conflict, never a lost update), as with the etcd tag store.
const UNREACHABLE = Symbol('shield.cas.unreachable');

function isUnreachable(error: unknown): boolean {
  return (error as { [UNREACHABLE]?: boolean } | null)?.[UNREACHABLE] === true ||
    ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes((error as NodeJS.ErrnoException)?.code ?? '') ||
    (error as CasError)?.status === 503;
}

export class CasClient {
  readonly location: CasLocation;
  readonly #endpoints: string[];
  readonly #agents: PinnedAgent[];
  /** The replica that answered last: tried first next time. */
  #preferred = 0;
  #serviceKey: KeyObject | null = null;

  constructor(location: CasLocation, identity: Identity | null = null) {
    this.location = location;
    this.#endpoints = endpointsOf(location);
    this.#agents = this.#endpoints.map((endpoint) => new PinnedAgent(location, endpoint, identity));
  }

  /** The pinned service's public key, known after the first request. */
  get serviceKey(): KeyObject {
    if (!this.#serviceKey) throw new Error('no request was made to the policy service yet');
    return this.#serviceKey;
  }

  /** One request; on a replica that cannot be reached, the next one is tried. */
  async call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    let failure: unknown;
    for (let i = 0; i < this.#endpoints.length; i++) {
      const index = (this.#preferred + i) % this.#endpoints.length;
      try {
        const result = await this.#callOne<T>(index, method, path, body);
        this.#preferred = index;
        return result;
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        failure = error;
      }
    }
    throw failure;
  }

  async #callOne<T>(index: number, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const endpoint = this.#endpoints[index]!, agent = this.#agents[index]!;
    const url = new URL(endpoint);
    const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request: ClientRequest = httpRequest({
        agent, host: url.hostname, port: url.port, method, path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        timeout: REQUEST_TIMEOUT_MS,
      }, (incoming: IncomingMessage) => {
        const pieces: Buffer[] = [];
        let length = 0;
        incoming.on('data', (piece: Buffer) => {
          length += piece.length;
          if (length > MAX_RESPONSE_BYTES) {
            incoming.destroy();
            reject(casError('EIO', `the policy service's answer is larger than ${MAX_RESPONSE_BYTES} bytes`, 0));
            return;
          }
          pieces.push(piece);
        });
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, text: Buffer.concat(pieces).toString('utf8') }));
        incoming.on('error', (error) => reject(unreachable(endpoint, error)));
      });
      request.on('timeout', () => request.destroy(unreachable(endpoint, casError('ETIMEDOUT', `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`, 0))));
      request.on('error', (error) => reject(isUnreachable(error) || (error as CasError).refusedByPolicyService ? error : unreachable(endpoint, error)));
      request.end(payload ?? undefined);
    });
    if (agent.serviceKey) this.#serviceKey = agent.serviceKey;
    let value: any;
    try {
      value = JSON.parse(response.text);
    } catch {
      throw casError('EIO', `the policy service answered ${response.status} with something that is not JSON`, 0);
    }
    if (response.status !== 200) {
      const code = typeof value?.error?.code === 'string' ? value.error.code : 'EIO';
      const message = typeof value?.error?.message === 'string' ? value.error.message.slice(0, 2000) : `HTTP ${response.status}`;
      if (value?.error?.refused === true && REFUSAL_CODES.includes(code)) throw refusal(code as RefusalCode, `refused by the policy service: ${message}`);
      throw casError(code, `policy service: ${message}`, response.status);
    }
    return value as T;
  }

  close(): void {
    for (const agent of this.#agents) agent.destroy();
  }
}
