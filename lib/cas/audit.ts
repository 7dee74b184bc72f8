// The audit log: every create, update, approval, release and refusal, appended in the same store
// transaction as the change it records. Entries form a hash chain (each names the hash of the one
// before) and each hash is signed by the service's identity key, so the log can be checked offline
// with nothing but the service's public key (PROTOCOL.md, "Audit log").
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sha256Hex } from './crypto.js';

export const GENESIS = '0'.repeat(64);
const LABEL = 'shieldfs-audit-v1\n';
export const AUDIT_HEAD = 'audit/head';

export interface AuditEvent {
  action: 'create' | 'update' | 'approve' | 'release' | 'reset';
  outcome: 'ok' | 'refused';
  /** Fingerprint of the identity that asked (null: an instance, which has no identity but its evidence). */
  actor: string | null;
  session: string;
  sessionHash: string | null;
  service?: string;
  measurement?: string;
  evidenceType?: string;
  code?: string;
  reason?: string;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  previous: string;
}

export interface AuditEntry {
  record: AuditRecord;
  hash: string;
  signature: string;  // base64
}

export interface AuditHead { seq: number; hash: string }

export function auditName(seq: number): string {
  return `audit/${String(seq).padStart(12, '0')}`;
}

export function appendAudit(head: AuditHead | null, event: AuditEvent, signingKey: KeyObject, now: Date): { entry: AuditEntry; head: AuditHead } {
  const record: AuditRecord = { ...event, seq: (head?.seq ?? 0) + 1, time: now.toISOString(), previous: head?.hash ?? GENESIS };
  const hash = sha256Hex(LABEL, canonicalJson(record));
  const signature = sign('sha256', Buffer.from(hash, 'hex'), signingKey).toString('base64');
  return { entry: { record, hash, signature }, head: { seq: record.seq, hash } };
}

/** Checks the chain from the first entry on; returns the first problem, or null. */
export function verifyAuditChain(entries: AuditEntry[], publicKey: KeyObject): { seq: number; problem: string } | null {
  let previous = GENESIS;
  for (const [index, entry] of entries.entries()) {
    const seq = index + 1;
    if (entry.record.seq !== seq) return { seq, problem: `entry ${seq} is missing (found ${entry.record.seq} in its place)` };
    if (entry.record.previous !== previous) return { seq, problem: `entry ${seq} does not follow entry ${seq - 1}: the chain was cut or rewritten` };
    const hash = sha256Hex(LABEL, canonicalJson(entry.record));
    if (hash !== entry.hash) return { seq, problem: `entry ${seq} was altered: its hash does not match its content` };
    if (!verify('sha256', Buffer.from(hash, 'hex'), publicKey, Buffer.from(entry.signature, 'base64'))) {
      return { seq, problem: `entry ${seq} is not signed by the service's key` };
    }
    previous = hash;
  }
  return null;
}
