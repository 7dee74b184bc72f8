// Sessions: the owner's policy, YAML in the shape of SCONE's session language 0.3 (PROTOCOL.md,
// "Sessions"). Parsing is strict: a schema (ajv) names the field of every mistake, then the rules a
// schema cannot say (references between images, services and volumes) are checked here.
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { AttestationError } from '../attestation/evidence.js';
import { parseAttestationVariant, TOLERANCES } from '../attestation/policy.js';
import { shieldError } from '../file/fs-errors.js';
import { canonicalJson, sha256Hex } from './crypto.js';

export type UpdatePolicyName = 'rollback_protected' | 'ephemeral' | 'no_rollback_protection';

export interface SessionTree { path: string; key: string; tag: string }
export interface SessionService {
  name: string;
  image_name?: string;
  command: string[];
  environment: Record<string, string>;
  pwd: string;
  /** The runtime measurement (simulation) or a platform's primary measurement; [] when `attestation` pins the evidence. */
  measurement: string[];
  /** Attestation variants, one per accepted platform with its reference values (lib/attestation/policy.ts). */
  attestation?: Record<string, unknown>[];
  max_executions?: number;
  trees: SessionTree[];
}
export interface SessionVolume { name: string; update_policy: UpdatePolicyName }
export interface SessionImage { name: string; volumes: { name: string; path: string }[] }

/** A session in its canonical shape: every optional list present, command and measurement as lists, hex lowercase. */
export interface Session {
  name: string;
  version: '0.3';
  predecessor?: string;
  access_policy: { read: string[]; update: string[] };
  services: SessionService[];
  volumes: SessionVolume[];
  images: SessionImage[];
  security: { attestation: { tolerate: string[]; ignore_advisories?: string[] } };
  approvals?: { signers: string[]; threshold: number };
}

export const MAX_SESSION_BYTES = 256 << 10;
const HEX64 = '^[0-9a-fA-F]{64}$';
const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const PRINCIPAL = { anyOf: [{ enum: ['CREATOR', 'ANY', 'NONE'] }, { type: 'string', pattern: HEX64 }] };
const ABSOLUTE = { type: 'string', pattern: '^/[^\\u0000]*$', maxLength: 1024 };

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'services'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,3}$' },
    version: { const: '0.3' },
    predecessor: { type: 'string', pattern: HEX64 },
    access_policy: {
      type: 'object', additionalProperties: false,
      properties: { read: { type: 'array', items: PRINCIPAL, maxItems: 64 }, update: { type: 'array', items: PRINCIPAL, maxItems: 64 } },
    },
    services: {
      type: 'array', minItems: 1, maxItems: 64,
      items: {
        type: 'object', additionalProperties: false, required: ['name', 'command'],
        properties: {
          name: { type: 'string', pattern: NAME },
          image_name: { type: 'string', pattern: NAME },
          command: { anyOf: [{ type: 'string', minLength: 1, maxLength: 8192 }, { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', maxLength: 4096 } }] },
          environment: { type: 'object', maxProperties: 256, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, additionalProperties: { type: 'string', maxLength: 8192 } },
          pwd: ABSOLUTE,
          measurement: { anyOf: [{ type: 'string', pattern: HEX64 }, { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', pattern: HEX64 } }] },
          attestation: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'object', required: ['type'], properties: { type: { type: 'string' } }, maxProperties: 16 } },
          max_executions: { type: 'integer', minimum: 1, maximum: 1e12 },
          trees: {
            type: 'array', maxItems: 64,
            items: { type: 'object', additionalProperties: false, required: ['path', 'key', 'tag'],
              properties: { path: ABSOLUTE, key: { type: 'string', pattern: HEX64 }, tag: { type: 'string', pattern: HEX64 } } },
          },
        },
      },
    },
    volumes: {
      type: 'array', maxItems: 64,
      items: { type: 'object', additionalProperties: false, required: ['name'],
        properties: { name: { type: 'string', pattern: NAME }, update_policy: { enum: ['rollback_protected', 'ephemeral', 'no_rollback_protection'] } } },
    },
    images: {
      type: 'array', maxItems: 64,
      items: { type: 'object', additionalProperties: false, required: ['name'],
        properties: {
          name: { type: 'string', pattern: NAME },
          volumes: { type: 'array', maxItems: 64, items: { type: 'object', additionalProperties: false, required: ['name', 'path'],
            properties: { name: { type: 'string', pattern: NAME }, path: ABSOLUTE } } },
        } },
    },
    security: {
      type: 'object', additionalProperties: false,
      properties: { attestation: { type: 'object', additionalProperties: false,
        properties: {
          tolerate: { type: 'array', maxItems: 8, items: { enum: [...TOLERANCES] } },
          ignore_advisories: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^(\\*|[A-Z]+-[A-Z]+-[0-9]+)$' } },
        } } },
    },
    approvals: {
      type: 'object', additionalProperties: false, required: ['signers', 'threshold'],
      properties: { signers: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', pattern: HEX64 } }, threshold: { type: 'integer', minimum: 1 } },
    },
  },
} as const;

const validate = new Ajv({ allErrors: false, strict: true }).compile(schema);

/** Parses and validates session YAML; `source` names it in messages (a file, or "the request"). */
export function parseSession(text: string, source: string): Session {
  if (Buffer.byteLength(text) > MAX_SESSION_BYTES) throw sessionError(source, null, `is larger than ${MAX_SESSION_BYTES} bytes`);
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, schema: 'core', merge: false, uniqueKeys: true, prettyErrors: false });
  const problem = document.errors[0];
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw shieldError('EINVAL', `${source}:${line}:${col}: not valid YAML: ${problem.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw shieldError('EINVAL', `${source}: not valid YAML: ${(error as Error).message}`);
  }
  return checkSession(value, source);
}

/** Validates a session given as a value (parsed YAML or JSON) and returns its canonical shape. */
export function checkSession(value: unknown, source: string): Session {
  if (!validate(value)) throw sessionError(source, null, describeSchemaError(validate.errors?.[0]));
  const raw = value as Record<string, any>;
  const session: Session = {
    name: raw.name,
    version: '0.3',
    access_policy: { read: raw.access_policy?.read ?? ['CREATOR'], update: raw.access_policy?.update ?? ['CREATOR'] },
    services: (raw.services as any[]).map((s, i) => ({
      name: s.name,
      ...(s.image_name !== undefined ? { image_name: s.image_name } : {}),
      command: typeof s.command === 'string' ? s.command.split(' ').filter((part: string) => part !== '') : [...s.command],
      environment: { ...(s.environment ?? {}) },
      pwd: s.pwd ?? '/',
      measurement: (typeof s.measurement === 'string' ? [s.measurement] : s.measurement ?? []).map((m: string) => m.toLowerCase()),
      ...(s.attestation !== undefined ? { attestation: (s.attestation as unknown[]).map((v, j) => attestationVariant(v, source, `services[${i}].attestation[${j}]`)) } : {}),
      ...(s.max_executions !== undefined ? { max_executions: s.max_executions } : {}),
      trees: (s.trees ?? []).map((t: SessionTree) => ({ path: t.path, key: t.key.toLowerCase(), tag: t.tag.toLowerCase() })),
    })),
    volumes: (raw.volumes ?? []).map((v: any) => ({ name: v.name, update_policy: v.update_policy ?? 'rollback_protected' })),
    images: (raw.images ?? []).map((i: any) => ({ name: i.name, volumes: (i.volumes ?? []).map((v: any) => ({ name: v.name, path: v.path })) })),
    security: { attestation: {
      tolerate: [...(raw.security?.attestation?.tolerate ?? [])],
      ...(raw.security?.attestation?.ignore_advisories !== undefined ? { ignore_advisories: [...raw.security.attestation.ignore_advisories] } : {}),
    } },
  };
  session.services.forEach((service, i) => {
    if (service.measurement.length === 0 && !service.attestation) {
      throw sessionError(source, `services[${i}].measurement`, 'is missing: pin the runtime (`shield measure`) or list attestation variants');
    }
  });
  if (raw.predecessor !== undefined) session.predecessor = raw.predecessor.toLowerCase();
  if (raw.approvals !== undefined) {
    session.approvals = { signers: raw.approvals.signers.map((s: string) => s.toLowerCase()), threshold: raw.approvals.threshold };
    if (session.approvals.threshold > session.approvals.signers.length) {
      throw sessionError(source, 'approvals.threshold', `is ${session.approvals.threshold}, more than the ${session.approvals.signers.length} signers listed`);
    }
  }
  checkReferences(session, source);
  return session;
}

// A variant as the session states it, checked by the attestation policy's own parser (errors name the
// field) and kept in the session's words with hex in lower case.
function attestationVariant(value: unknown, source: string, field: string): Record<string, unknown> {
  try {
    parseAttestationVariant(value, field);
  } catch (error) {
    if (error instanceof AttestationError) throw shieldError('EINVAL', `${source}: ${error.message.replace(/^EATTEST: /, '')}`);
    throw error;
  }
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, lowerHex(v)]));
}

function lowerHex(value: unknown): unknown {
  if (typeof value === 'string' && /^[0-9a-fA-F]+$/.test(value)) return value.toLowerCase();
  if (Array.isArray(value)) return value.map(lowerHex);
  return value;
}

function checkReferences(session: Session, source: string): void {
  unique(session.services.map((s) => s.name), source, 'services', 'name');
  unique(session.volumes.map((v) => v.name), source, 'volumes', 'name');
  unique(session.images.map((i) => i.name), source, 'images', 'name');
  const volumes = new Set(session.volumes.map((v) => v.name));
  session.images.forEach((image, i) => image.volumes.forEach((volume, j) => {
    if (!volumes.has(volume.name)) throw sessionError(source, `images[${i}].volumes[${j}].name`, `names volume "${volume.name}", which \`volumes\` does not list`);
  }));
  const images = new Set(session.images.map((i) => i.name));
  session.services.forEach((service, i) => {
    if (service.image_name !== undefined && !images.has(service.image_name)) {
      throw sessionError(source, `services[${i}].image_name`, `names image "${service.image_name}", which \`images\` does not list`);
    }
    const image = session.images.find((candidate) => candidate.name === service.image_name);
    const paths = [...service.trees.map((t) => t.path), ...(image?.volumes.map((v) => v.path) ?? [])];
    unique(paths, source, `services[${i}]`, 'mount path (trees[].path and its image\'s volumes[].path)');
  });
}

function unique(values: string[], source: string, list: string, field: string): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) throw sessionError(source, list, `${field} "${value}" appears twice: every ${field} must be unique`);
    seen.add(value);
  }
}

function describeSchemaError(error: ErrorObject | undefined): string {
  if (!error) return 'is not a session';
  const field = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  switch (error.keyword) {
    case 'additionalProperties': return `${field}: unknown field \`${(error.params as { additionalProperty: string }).additionalProperty}\``;
    case 'required': return `${field}: missing field \`${(error.params as { missingProperty: string }).missingProperty}\``;
    case 'pattern': return `${field}: ${patternHelp((error.params as { pattern: string }).pattern)}`;
    case 'enum': return `${field}: expected one of ${((error.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const': return `${field}: expected ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'anyOf': return `${field}: ${field.endsWith('command') ? 'expected a string or a list of strings' : field.endsWith('measurement') ? 'expected 64 hex characters or a list of them (from `shield measure`)' : 'expected CREATOR, ANY, NONE or a key fingerprint (64 hex)'}`;
    case 'type': return `${field}: expected ${(error.params as { type: string }).type}` +
      ((error.params as { type: string }).type === 'string' ? ' (quote it: YAML reads hex made only of digits as a number)' : '');
    default: return `${field}: ${error.message ?? 'is not valid'}`;
  }
}

function patternHelp(pattern: string): string {
  if (pattern === HEX64) return 'expected 64 hex characters';
  if (pattern === NAME) return 'expected a name of letters, digits, _ . - (at most 64, starting with a letter or digit)';
  if (pattern.startsWith('^/')) return 'expected an absolute path';
  if (pattern.startsWith('^[A-Za-z_]')) return 'environment variable names are letters, digits and _';
  return 'expected NAMESPACE/NAME: letters, digits, _ . - in up to four parts separated by /';
}

function sessionError(source: string, field: string | null, message: string): Error {
  return shieldError('EINVAL', `${source}: ${field ? `${field}: ` : ''}${message}`);
}

// ---------------------------------------------------------------------------------------------
// Hash and redaction

const HASH_LABEL = 'shieldfs-session-v1\n';

/** PROTOCOL.md, "Session hash": SHA-256 over a label and the canonical JSON of the canonical shape. */
export function sessionHash(session: Session): string {
  return sha256Hex(HASH_LABEL, canonicalJson(session));
}

export const REDACTED = '<redacted>';

/** The session as readers may see it: tree keys replaced (volume keys never appear in a session). */
export function redactSession(session: Session): Session {
  return { ...session, services: session.services.map((s) => ({ ...s, trees: s.trees.map((t) => ({ ...t, key: REDACTED })) })) };
}

/** The canonical YAML the service shows: fields in the order of the session language. */
export { stringify as toYaml } from 'yaml';
