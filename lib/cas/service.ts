// The policy service's state machine, independent of HTTP: sessions, approvals, attested release,
// execution limits, volume tags and the audit log, each change one store transaction (store.ts).
// server.ts puts it on the network; PROTOCOL.md is the normative description.
import { createHash, randomBytes, verify, type KeyObject } from 'node:crypto';
import { AttestationError, type Claims } from '../attestation/evidence.js';
import { appendAudit, AUDIT_HEAD, auditName, type AuditEntry, type AuditEvent, type AuditHead } from './audit.js';
import { equalHex, isFingerprint, type RecordSealer } from './crypto.js';
import { casError, refusal, type CasError } from './errors.js';
import { createIdentity, identityFromPem, type Identity } from './identity.js';
import { checkNonce, issueNonce, reportDataFor, sealResponse, type ReleaseClaims, type SealedResponse } from './release.js';
import { parseSession, redactSession, sessionHash, toYaml, type Session, type UpdatePolicyName } from './session.js';
import type { Decision, StateStore } from './store.js';
import { judgeClaims, verifyEvidence, type EvidenceSubmission } from './evidence-policy.js';

const IDENTITY_RECORD = 'service/identity';
export const APPROVAL_LABEL = 'shieldfs-approval-v1';
const MAX_HISTORY = 100_000;
const HEX64 = /^[0-9a-f]{64}$/;
const VOLUME_ID = /^[0-9a-f]{32}$/;

/** Who is asking: the fingerprint and public key of their TLS client certificate. */
export interface Actor {
  fingerprint: string;
  publicKey: KeyObject;
}

interface SessionRecord { name: string; creator: string; head: string; history: string[] }
interface VersionRecord { session: Session; author: string; created: string }
interface VolumeRecord { key: string; updatePolicy: UpdatePolicyName; id: string | null; tag: string | null }
interface InstanceRecord { session: string; service: string; volumes: string[]; sessionHash: string }
interface ApprovalRecord { signatures: Record<string, string> }

export interface ReleaseRequest {
  session: string;
  service: string;
  nonce: string;             // hex
  publicKey: string;         // base64, raw X25519
  /** data and vcek base64; collateral as JSON (PROTOCOL.md, "Release"). */
  evidence: { type: string; data: string; collateral?: unknown; vcek?: string };
  hostCommand: string[] | null;
}

/** What an attested instance gets (inside the sealed response). */
export interface ReleasedConfiguration {
  session: string;
  sessionHash: string;
  service: string;
  command: string[];
  environment: Record<string, string>;
  pwd: string;
  mounts: ReleasedMount[];
  /** Hex; authorises tag updates of this instance's volumes. */
  credential: string;
  executions: { count: number; max: number | null };
}

export type ReleasedMount =
  | { kind: 'tree'; path: string; key: string; tag: string }
  | { kind: 'volume'; path: string; volume: string; key: string; updatePolicy: UpdatePolicyName; volumeId: string | null; tag: string | null };

export interface SessionView {
  name: string;
  hash: string;
  head: string;
  creator: string;
  author: string;
  created: string;
  yaml: string;
  executions: Record<string, number>;
  approvals: string[];
}

type Values = Map<string, Buffer | undefined>;

export class PolicyService {
  readonly identity: Identity;
  readonly #store: StateStore;
  readonly #sealer: RecordSealer;
  readonly #clock: () => Date;
  // Versions and instance records never change once written (a version is named by its hash), so
  // they are kept decrypted here and left out of transactions' read sets: fewer conflicts on etcd.
  readonly #versions = new Map<string, VersionRecord>();
  readonly #instances = new Map<string, InstanceRecord>();

  private constructor(store: StateStore, sealer: RecordSealer, identity: Identity, clock: () => Date) {
    this.#store = store;
    this.#sealer = sealer;
    this.identity = identity;
    this.#clock = clock;
  }

  /** Opens the service on a store, making its identity on first use. A wrong master key is EBADKEY. */
  static async open(store: StateStore, sealer: RecordSealer, clock: () => Date = () => new Date()): Promise<PolicyService> {
    const fresh = await createIdentity('shieldfs policy service');
    const stored = await store.transact([IDENTITY_RECORD], (values) => {
      const existing = values.get(IDENTITY_RECORD);
      if (existing) return { writes: new Map(), result: existing };
      const sealed = sealer.seal(IDENTITY_RECORD, Buffer.from(JSON.stringify({ privateKeyPem: fresh.privateKeyPem, certificatePem: fresh.certificatePem })));
      return { writes: new Map([[IDENTITY_RECORD, sealed]]), result: sealed };
    });
    const { privateKeyPem, certificatePem } = JSON.parse(sealer.open(IDENTITY_RECORD, stored).toString('utf8'));
    return new PolicyService(store, sealer, identityFromPem(privateKeyPem, certificatePem, `the service identity in ${store.location}`), clock);
  }

  // -------------------------------------------------------------------------------------------
  // Records

  #sessionName(name: string): string { return this.#sealer.indexName('session', name); }
  #versionName(hash: string): string { return this.#sealer.indexName('version', hash); }
  #executionsName(name: string, service: string): string { return this.#sealer.indexName('executions', name, service); }
  #approvalsName(hash: string): string { return this.#sealer.indexName('approvals', hash); }
  #volumeName(name: string, volume: string): string { return this.#sealer.indexName('volume', name, volume); }
  #instanceName(credential: Buffer): string { return `instance/${createHash('sha256').update(credential).digest('hex')}`; }

  async #version(hash: string): Promise<VersionRecord | undefined> {
    let version = this.#versions.get(hash);
    if (!version) {
      version = await this.#get<VersionRecord>(this.#versionName(hash));
      if (version && this.#versions.size < 10_000) this.#versions.set(hash, version);
    }
    return version;
  }

  #read<T>(values: Values, name: string): T | undefined {
    const sealed = values.get(name);
    return sealed === undefined ? undefined : JSON.parse(this.#sealer.open(name, sealed).toString('utf8')) as T;
  }

  #write(writes: Map<string, Uint8Array | null>, name: string, value: unknown): void {
    writes.set(name, this.#sealer.seal(name, Buffer.from(JSON.stringify(value))));
  }

  async #get<T>(name: string): Promise<T | undefined> {
    const sealed = await this.#store.get(name);
    return sealed === null ? undefined : JSON.parse(this.#sealer.open(name, sealed).toString('utf8')) as T;
  }

  /** Appends the audit entry for `event` to `writes` (the caller read AUDIT_HEAD in the same transaction). */
  #audit(values: Values, writes: Map<string, Uint8Array | null>, event: AuditEvent): void {
    const head = this.#read<AuditHead>(values, AUDIT_HEAD) ?? null;
    const { entry, head: next } = appendAudit(head, event, this.identity.privateKey, this.#clock());
    this.#write(writes, auditName(entry.record.seq), entry);
    this.#write(writes, AUDIT_HEAD, next);
  }

  /** A refusal that is recorded: the audit entry is written, then the caller gets the error. */
  async #refuse(event: Omit<AuditEvent, 'outcome' | 'code' | 'reason'>, error: CasError): Promise<never> {
    await this.#store.transact([AUDIT_HEAD], (values) => {
      const writes = new Map<string, Uint8Array | null>();
      this.#audit(values, writes, { ...event, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
      return { writes, result: null };
    });
    throw error;
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  async createSession(actor: Actor, text: string): Promise<{ name: string; hash: string }> {
    const session = parseSession(text, 'the session');
    const hash = sessionHash(session);
    const event = { action: 'create' as const, actor: actor.fingerprint, session: session.name, sessionHash: hash };
    if (session.predecessor !== undefined) {
      return this.#refuse(event, refusal('EPOLICY', `session ${session.name}: \`predecessor\` is for updates; a new session has none (drop it, or use \`shield session update\`)`));
    }
    const sessionName = this.#sessionName(session.name);
    // Volume keys are made here, by the service, and never leave it except to attested instances.
    const volumeKeys = session.volumes.map((v) => [this.#volumeName(session.name, v.name), { key: randomBytes(32).toString('hex'), updatePolicy: v.update_policy, id: null, tag: null }] as const);
    const failure = await this.#store.transact([sessionName, AUDIT_HEAD, ...volumeKeys.map(([n]) => n)], (values) => {
      const writes = new Map<string, Uint8Array | null>();
      if (values.get(sessionName) !== undefined) {
        const error = refusal('EPOLICY', `session ${session.name} exists already: change it with \`shield session update\` (its \`predecessor\` is the hash \`shield session show\` prints)`);
        this.#audit(values, writes, { ...event, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
        return { writes, result: error };
      }
      this.#write(writes, sessionName, { name: session.name, creator: actor.fingerprint, head: hash, history: [hash] } satisfies SessionRecord);
      this.#write(writes, this.#versionName(hash), { session, author: actor.fingerprint, created: this.#clock().toISOString() } satisfies VersionRecord);
      for (const [name, record] of volumeKeys) if (values.get(name) === undefined) this.#write(writes, name, record);
      this.#audit(values, writes, { ...event, outcome: 'ok' });
      return { writes, result: null };
    });
    if (failure) throw failure;
    return { name: session.name, hash };
  }

  async updateSession(actor: Actor, text: string): Promise<{ name: string; hash: string }> {
    const session = parseSession(text, 'the session');
    const hash = sessionHash(session);
    const event = { action: 'update' as const, actor: actor.fingerprint, session: session.name, sessionHash: hash };
    if (session.predecessor === undefined) {
      return this.#refuse(event, refusal('EPOLICY', `session ${session.name}: an update needs \`predecessor: <hash>\`, the hash of the session it replaces (\`shield session show ${session.name}\` prints it)`));
    }
    const sessionName = this.#sessionName(session.name);
    const current = await this.#get<SessionRecord>(sessionName);
    const headName = current ? this.#versionName(current.head) : null;
    const volumeKeys = session.volumes.map((v) => [this.#volumeName(session.name, v.name), { key: randomBytes(32).toString('hex'), updatePolicy: v.update_policy, id: null, tag: null }] as const);
    const reads = [sessionName, AUDIT_HEAD, ...(headName ? [headName] : []), ...volumeKeys.map(([n]) => n)];
    const failure = await this.#store.transact(reads, (values) => {
      const writes = new Map<string, Uint8Array | null>();
      const refuse = (error: CasError) => {
        this.#audit(values, writes, { ...event, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
        return { writes, result: error };
      };
      const record = this.#read<SessionRecord>(values, sessionName);
      if (!record) return refuse(refusal('EPOLICY', `session ${session.name} does not exist: make it with \`shield session create\``));
      // Another update landed between our read and this transaction: the head we read is stale.
      if (!headName || record.head !== current!.head) return refuse(refusal('EPOLICY', `session ${session.name} changed meanwhile: fetch it again and retry`));
      const head = this.#read<VersionRecord>(values, headName)!;
      if (!allowed(head.session.access_policy.update, actor.fingerprint, record.creator)) {
        return refuse(refusal('EACCES', `identity ${actor.fingerprint.slice(0, 16)}… may not update session ${session.name} (its access_policy.update does not list it)`));
      }
      if (!equalHex(session.predecessor!, record.head)) {
        return refuse(refusal('EPOLICY', `session ${session.name}: predecessor ${session.predecessor!.slice(0, 16)}… is stale; the current session is ${record.head}: ` +
          'fetch it (`shield session show`), apply your change to it and update again'));
      }
      if (record.history.length >= MAX_HISTORY) return refuse(refusal('EPOLICY', `session ${session.name} has ${MAX_HISTORY} versions, the most one session keeps`));
      for (const old of head.session.volumes) {
        const now = session.volumes.find((v) => v.name === old.name);
        if (now && now.update_policy !== old.update_policy) {
          return refuse(refusal('EPOLICY', `session ${session.name}: volume ${old.name} is ${old.update_policy}; a volume's update_policy is fixed once it exists (name a new volume instead)`));
        }
      }
      this.#write(writes, sessionName, { ...record, head: hash, history: [...record.history, hash] } satisfies SessionRecord);
      this.#write(writes, this.#versionName(hash), { session, author: actor.fingerprint, created: this.#clock().toISOString() } satisfies VersionRecord);
      for (const [name, fresh] of volumeKeys) if (values.get(name) === undefined) this.#write(writes, name, fresh);
      this.#audit(values, writes, { ...event, outcome: 'ok' });
      return { writes, result: null };
    });
    if (failure) throw failure;
    return { name: session.name, hash };
  }

  async #readable(actor: Actor, name: string): Promise<{ record: SessionRecord; head: VersionRecord }> {
    const record = await this.#get<SessionRecord>(this.#sessionName(name));
    if (!record) throw casError('ENOENT', `session ${name} does not exist`, 404);
    const head = (await this.#get<VersionRecord>(this.#versionName(record.head)))!;
    // Signers must be able to review what they are asked to approve.
    const signer = head.session.approvals?.signers.some((s) => equalHex(s, actor.fingerprint)) ?? false;
    if (!signer && !allowed(head.session.access_policy.read, actor.fingerprint, record.creator)) {
      throw refusal('EACCES', `identity ${actor.fingerprint.slice(0, 16)}… may not read session ${name} (its access_policy.read does not list it)`);
    }
    return { record, head };
  }

  async showSession(actor: Actor, name: string, hash?: string): Promise<SessionView> {
    const { record, head } = await this.#readable(actor, name);
    const wanted = hash?.toLowerCase() ?? record.head;
    if (!record.history.includes(wanted)) throw casError('ENOENT', `session ${name} has no version ${wanted}`, 404);
    const version = wanted === record.head ? head : (await this.#get<VersionRecord>(this.#versionName(wanted)))!;
    const executions: Record<string, number> = {};
    for (const service of head.session.services) {
      executions[service.name] = (await this.#get<{ count: number }>(this.#executionsName(name, service.name)))?.count ?? 0;
    }
    const approvals = Object.keys((await this.#get<ApprovalRecord>(this.#approvalsName(wanted)))?.signatures ?? {});
    return {
      name, hash: wanted, head: record.head, creator: record.creator, author: version.author, created: version.created,
      yaml: toYaml(redactSession(version.session)), executions, approvals,
    };
  }

  async history(actor: Actor, name: string): Promise<{ hash: string; author: string; created: string; predecessor: string | null }[]> {
    const { record } = await this.#readable(actor, name);
    const versions = [];
    for (const hash of record.history) {
      const version = (await this.#get<VersionRecord>(this.#versionName(hash)))!;
      versions.push({ hash, author: version.author, created: version.created, predecessor: version.session.predecessor ?? null });
    }
    return versions;
  }

  /** The active session's hash when `text` is exactly it (for `shield session verify`). */
  async verifySession(actor: Actor, text: string): Promise<{ name: string; hash: string; active: boolean }> {
    const session = parseSession(text, 'the session');
    const { record } = await this.#readable(actor, session.name);
    const hash = sessionHash(session);
    return { name: session.name, hash, active: equalHex(hash, record.head) };
  }

  /**
   * The explicit, audited way to start a volume over (after a real loss): a fresh key, and no id, so
   * the next instance initialises a new, empty volume. Needs the right to update the session.
   */
  async resetVolume(actor: Actor, name: string, volume: string): Promise<{ name: string; volume: string }> {
    const sessionName = this.#sessionName(name);
    const record = await this.#get<SessionRecord>(sessionName);
    if (!record) throw casError('ENOENT', `session ${name} does not exist`, 404);
    const head = (await this.#version(record.head))!;
    const volumeName = this.#volumeName(name, volume);
    const event = { action: 'reset' as const, actor: actor.fingerprint, session: name, sessionHash: record.head };
    const failure = await this.#store.transact([sessionName, volumeName, AUDIT_HEAD], (values) => {
      const writes = new Map<string, Uint8Array | null>();
      const refuse = (error: CasError) => {
        this.#audit(values, writes, { ...event, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
        return { writes, result: error as CasError | null };
      };
      const now = this.#read<SessionRecord>(values, sessionName)!;
      if (now.head !== record.head) return refuse(refusal('EPOLICY', `session ${name} changed meanwhile: retry`));
      if (!allowed(head.session.access_policy.update, actor.fingerprint, record.creator)) {
        return refuse(refusal('EACCES', `identity ${actor.fingerprint.slice(0, 16)}… may not reset volumes of session ${name} (its access_policy.update does not list it)`));
      }
      const old = this.#read<VolumeRecord>(values, volumeName);
      const declared = head.session.volumes.find((v) => v.name === volume);
      if (!old || !declared) return refuse(refusal('EPOLICY', `session ${name} has no volume ${JSON.stringify(volume)}`));
      this.#write(writes, volumeName, { key: randomBytes(32).toString('hex'), updatePolicy: declared.update_policy, id: null, tag: null } satisfies VolumeRecord);
      this.#audit(values, writes, { ...event, outcome: 'ok', reason: `volume ${volume} reset (was ${old.id ?? 'never initialised'} at tag ${old.tag ?? '-'}); its next instance starts an empty volume` });
      return { writes, result: null };
    });
    if (failure) throw failure;
    return { name, volume };
  }

  // -------------------------------------------------------------------------------------------
  // Approvals

  async approve(actor: Actor, name: string, hash: string, signatureBase64: string): Promise<{ approvals: number; threshold: number }> {
    const sessionName = this.#sessionName(name);
    const event = { action: 'approve' as const, actor: actor.fingerprint, session: name, sessionHash: HEX64.test(hash) ? hash : null };
    const record = await this.#get<SessionRecord>(sessionName);
    if (!record) throw casError('ENOENT', `session ${name} does not exist`, 404);
    const approvalsName = this.#approvalsName(hash);
    const result = await this.#store.transact([sessionName, this.#versionName(record.head), approvalsName, AUDIT_HEAD], (values): Decision<CasError | { approvals: number; threshold: number }> => {
      const writes = new Map<string, Uint8Array | null>();
      const refuse = (error: CasError): Decision<CasError> => {
        this.#audit(values, writes, { ...event, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
        return { writes, result: error };
      };
      const now = this.#read<SessionRecord>(values, sessionName)!;
      if (now.head !== record.head || !equalHex(hash, now.head)) {
        return refuse(refusal('EPOLICY', `session ${name} is now ${now.head}, not ${hash.slice(0, 16)}…: approvals are for the current version; review it and sign again`));
      }
      const head = this.#read<VersionRecord>(values, this.#versionName(now.head))!;
      const approvals = head.session.approvals;
      if (!approvals || !approvals.signers.includes(actor.fingerprint)) {
        return refuse(refusal('EACCES', `identity ${actor.fingerprint.slice(0, 16)}… is not a signer of session ${name} (approvals.signers does not list it)`));
      }
      const message = Buffer.from(`${APPROVAL_LABEL}\0${name}\0${hash}`);
      let signature: Buffer;
      try {
        signature = Buffer.from(signatureBase64, 'base64');
      } catch {
        signature = Buffer.alloc(0);
      }
      if (signature.length === 0 || signature.length > 256 || !verify('sha256', message, actor.publicKey, signature)) {
        return refuse(refusal('EACCES', `the approval of session ${name} is not signed by identity ${actor.fingerprint.slice(0, 16)}…`));
      }
      const stored = this.#read<ApprovalRecord>(values, approvalsName) ?? { signatures: {} };
      stored.signatures[actor.fingerprint] = signature.toString('base64');
      this.#write(writes, approvalsName, stored);
      this.#audit(values, writes, { ...event, outcome: 'ok' });
      return { writes, result: { approvals: Object.keys(stored.signatures).filter((s) => approvals.signers.includes(s)).length, threshold: approvals.threshold } };
    });
    if (result instanceof Error) throw result;
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Attested release

  nonce(): string {
    return issueNonce(this.#sealer.nonceKey, this.#clock().getTime()).toString('hex');
  }

  async release(request: ReleaseRequest): Promise<SealedResponse> {
    const nonce = hexField(request.nonce, 'nonce', 256);
    const publicKey = base64Field(request.publicKey, 'publicKey', 64);
    const claims: ReleaseClaims = { session: request.session, service: request.service, hostCommand: request.hostCommand };
    const event = { action: 'release' as const, actor: null, session: request.session, sessionHash: null, service: request.service, evidenceType: request.evidence.type };
    // The nonce first: a stale or foreign one means the evidence is not fresh, whatever it says.
    let used: { usedRecord: string };
    try {
      used = checkNonce(this.#sealer.nonceKey, nonce, this.#clock().getTime());
    } catch (error) {
      return this.#refuse(event, error as CasError);
    }
    const submission: EvidenceSubmission = {
      type: request.evidence.type, data: Buffer.from(request.evidence.data, 'base64'),
      ...(request.evidence.collateral !== undefined ? { collateral: request.evidence.collateral } : {}),
      ...(request.evidence.vcek !== undefined ? { vcek: Buffer.from(request.evidence.vcek, 'base64') } : {}),
    };
    const verified = await verifyEvidence(submission, { now: this.#clock(), expectedReportData: reportDataFor(nonce, publicKey, claims) });
    const record = await this.#get<SessionRecord>(this.#sessionName(request.session));
    const sessionName = this.#sessionName(request.session);
    const executionsName = this.#executionsName(request.session, request.service);
    const approvalsName = record ? this.#approvalsName(record.head) : null;
    const credential = randomBytes(32);
    const instanceName = this.#instanceName(credential);
    const head = record ? await this.#version(record.head) : undefined;
    // The volumes' keys never change, and their ids and tags are what the instance will compare-and-set
    // against anyway: they are read before the transaction, so tag updates do not conflict with releases.
    const image = head?.session.images.find((i) => i.name === head.session.services.find((s) => s.name === request.service)?.image_name);
    const volumes = new Map<string, VolumeRecord>();
    for (const mount of image?.volumes ?? []) {
      const volume = await this.#get<VolumeRecord>(this.#volumeName(request.session, mount.name));
      if (volume) volumes.set(mount.name, volume);
    }
    const reads = [sessionName, AUDIT_HEAD, used.usedRecord, executionsName, ...(approvalsName ? [approvalsName] : [])];

    const outcome = await this.#store.transact(reads, (values): Decision<CasError | ReleasedConfiguration> => {
      const writes = new Map<string, Uint8Array | null>();
      let sessionHashNow: string | null = null, measurement: string | undefined;
      const refuse = (error: CasError) => {
        this.#audit(values, writes, { ...event, sessionHash: sessionHashNow, measurement, outcome: 'refused', code: error.code, reason: error.message.replace(/^E[A-Z]+: /, '') });
        return { writes, result: error };
      };
      if (values.get(used.usedRecord) !== undefined) return refuse(refusal('EATTEST', 'the nonce was used already: evidence is good for one release (a replay?); ask for a fresh nonce'));
      // Single use from here on, whatever the outcome.
      writes.set(used.usedRecord, Buffer.from([1]));
      const now = this.#read<SessionRecord>(values, sessionName);
      if (!now) return refuse(refusal('EPOLICY', `session ${request.session} does not exist`));
      if (!record || !head || now.head !== record.head) return refuse(refusal('EPOLICY', `session ${request.session} changed during the release: start again`));
      sessionHashNow = now.head;
      const policy = head.session;
      const service = policy.services.find((s) => s.name === request.service);
      if (!service) return refuse(refusal('EPOLICY', `session ${request.session} has no service ${JSON.stringify(request.service)} (it has ${policy.services.map((s) => s.name).join(', ')})`));
      if (verified instanceof Error) return refuse(refusal('EATTEST', `evidence refused (${verified.reason}): ${verified.message.replace(/^EATTEST: /, '')}`));
      measurement = verified.measurement;
      const judged = judgeClaims(verified, service, policy.security);
      if (judged) return refuse(refusal('EATTEST', `${judged.message.replace(/^EATTEST: /, '')}`));
      if (request.hostCommand !== null && !sameCommand(request.hostCommand, service.command)) {
        return refuse(refusal('EPOLICY', `the host asked for the command ${JSON.stringify(request.hostCommand)}, but the policy of ${request.session}/${request.service} ` +
          `runs ${JSON.stringify(service.command)}: a service runs only its policy's command (leave out the command, or update the session)`));
      }
      if (policy.approvals) {
        const signed = Object.keys(this.#read<ApprovalRecord>(values, approvalsName!)?.signatures ?? {}).filter((s) => policy.approvals!.signers.includes(s)).length;
        if (signed < policy.approvals.threshold) {
          return refuse(refusal('EPOLICY', `session ${request.session} (${now.head.slice(0, 16)}…) has ${signed} of the ${policy.approvals.threshold} approvals it needs: ` +
            `signers run \`shield session sign ${request.session}\``));
        }
      }
      const count = this.#read<{ count: number }>(values, executionsName)?.count ?? 0;
      if (service.max_executions !== undefined && count >= service.max_executions) {
        return refuse(refusal('ELIMIT', `service ${request.session}/${request.service} has run ${count} of its max_executions ${service.max_executions} times: ` +
          'the owner may raise the limit with `shield session update`'));
      }
      const mounts: ReleasedMount[] = service.trees.map((t) => ({ kind: 'tree' as const, path: t.path, key: t.key, tag: t.tag }));
      const imageNow = policy.images.find((i) => i.name === service.image_name);
      for (const mount of imageNow?.volumes ?? []) {
        const volume = volumes.get(mount.name);
        if (!volume) return refuse(refusal('EPOLICY', `session ${request.session} changed during the release: start again`));
        mounts.push({ kind: 'volume', path: mount.path, volume: mount.name, key: volume.key, updatePolicy: volume.updatePolicy, volumeId: volume.id, tag: volume.tag });
      }
      this.#write(writes, executionsName, { count: count + 1 });
      this.#write(writes, instanceName, { session: request.session, service: request.service, volumes: (imageNow?.volumes ?? []).map((v) => v.name), sessionHash: now.head } satisfies InstanceRecord);
      this.#audit(values, writes, { ...event, sessionHash: now.head, measurement, outcome: 'ok' });
      return {
        writes,
        result: {
          session: request.session, sessionHash: now.head, service: request.service, command: service.command, environment: service.environment,
          pwd: service.pwd, mounts, credential: credential.toString('hex'), executions: { count: count + 1, max: service.max_executions ?? null },
        },
      };
    });
    if (outcome instanceof Error) throw outcome;
    const plaintext = Buffer.from(JSON.stringify(outcome));
    try {
      return sealResponse(plaintext, nonce, publicKey, this.identity.privateKey);
    } finally {
      plaintext.fill(0);
      credential.fill(0);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Volume tags

  async #instanceVolume(credentialHex: string, volume: string): Promise<{ name: string; session: string }> {
    const credential = hexField(credentialHex, 'credential', 64);
    const instanceName = this.#instanceName(credential);
    let instance = this.#instances.get(instanceName);
    if (!instance) {
      instance = await this.#get<InstanceRecord>(instanceName);
      if (instance && this.#instances.size < 100_000) this.#instances.set(instanceName, instance);
    }
    if (!instance) throw refusal('EACCES', 'the instance credential is not one this service issued: tags are updated only by attested instances');
    if (!instance.volumes.includes(volume)) throw refusal('EACCES', `this instance of ${instance.session}/${instance.service} has no volume ${JSON.stringify(volume)}`);
    return { name: this.#volumeName(instance.session, volume), session: instance.session };
  }

  /** The trusted tag of the instance's volume `volume`, when the directory holds the volume the service knows (`volumeId`); else null. */
  async getTag(credential: string, volume: string, volumeId: string): Promise<string | null> {
    if (!VOLUME_ID.test(volumeId)) throw casError('EINVAL', 'volumeId must be 32 lowercase hex digits', 400);
    const { name } = await this.#instanceVolume(credential, volume);
    const record = (await this.#get<VolumeRecord>(name))!;
    return record.id !== null && equalHex(record.id, volumeId) ? record.tag : null;
  }

  /**
   * Compare-and-set of a volume's tag. The first successful call binds the volume's id (a volume is
   * initialised once); after that, another id is never accepted: a re-created volume is a rollback.
   */
  async compareAndSetTag(credential: string, volume: string, volumeId: string, expected: string | null, next: string): Promise<boolean> {
    if (!VOLUME_ID.test(volumeId)) throw casError('EINVAL', 'volumeId must be 32 lowercase hex digits', 400);
    if ((expected !== null && !HEX64.test(expected)) || !HEX64.test(next)) throw casError('EINVAL', 'tags are 64 lowercase hex digits', 400);
    const { name } = await this.#instanceVolume(credential, volume);
    return this.#store.transact([name], (values) => {
      const record = this.#read<VolumeRecord>(values, name)!;
      const writes = new Map<string, Uint8Array | null>();
      if (record.id === null) {
        if (expected !== null) return { writes, result: false };
      } else if (!equalHex(record.id, volumeId) || record.tag === null || expected === null || !equalHex(record.tag, expected)) {
        return { writes, result: false };
      }
      this.#write(writes, name, { ...record, id: volumeId, tag: next } satisfies VolumeRecord);
      return { writes, result: true };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Audit log and housekeeping

  async auditEntries(limit = 1_000_000): Promise<AuditEntry[]> {
    const rows = await this.#store.list('audit/0', limit);
    return rows.map(([name, sealed]) => JSON.parse(this.#sealer.open(name, sealed).toString('utf8')) as AuditEntry);
  }

  /** Forgets used nonces that have expired anyway (their MAC check refuses them now). */
  async forgetExpiredNonces(): Promise<number> {
    const now = this.#clock().getTime();
    const rows = await this.#store.list('nonce-used/', 1000);
    const expired = rows.map(([name]) => name).filter((name) => parseInt(name.split('/')[1]!, 16) < now);
    if (expired.length === 0) return 0;
    await this.#store.transact([], () => ({ writes: new Map(expired.map((n) => [n, null])), result: null }));
    return expired.length;
  }
}

function allowed(principals: string[], fingerprint: string, creator: string): boolean {
  return principals.some((p) => p === 'ANY' || (p === 'CREATOR' && equalHex(creator, fingerprint)) || (isFingerprint(p.toLowerCase()) && equalHex(p.toLowerCase(), fingerprint)));
}

function sameCommand(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

function hexField(value: unknown, name: string, maxLength: number): Buffer {
  if (typeof value !== 'string' || value.length > maxLength || value.length % 2 !== 0 || !/^[0-9a-f]*$/.test(value)) {
    throw casError('EINVAL', `${name} must be lowercase hex of at most ${maxLength} characters`, 400);
  }
  return Buffer.from(value, 'hex');
}

function base64Field(value: unknown, name: string, maxLength: number): Buffer {
  if (typeof value !== 'string' || value.length > maxLength || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw casError('EINVAL', `${name} must be base64 of at most ${maxLength} characters`, 400);
  }
  return Buffer.from(value, 'base64');
}
