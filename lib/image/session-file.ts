// The session (the owner's policy) for a sconified image, in the shape of the policy-service issue
// (SCONE's session language 0.3 where it applies): the service's command, environment and pwd, its
// trees' keys and tags, its volumes and where the image mounts them. It holds keys: it is written
// mode 0600 and goes only to its owner and the policy service.
//
// `measurement` is the image's runtime's (its node and shieldfs files, as `shield measure --rootfs`
// computes it): the policy service releases the secrets only to an instance whose evidence has it.
import * as fs from 'node:fs';
import { stringify } from 'yaml';
import type { SconifyResult } from './sconify.js';

export interface SessionDocument {
  name: string;
  version: '0.3';
  /** The hash of the version this one replaces (an update of an existing session). */
  predecessor?: string;
  access_policy: { read: string[]; update: string[] };
  services: {
    name: string;
    image_name: string;
    command: string | string[];
    environment: Record<string, string>;
    pwd: string;
    measurement: string;
    max_executions?: number;
    trees: { path: string; key: string; tag: string }[];
  }[];
  volumes: { name: string; update_policy: string }[];
  images: { name: string; volumes: { name: string; path: string }[] }[];
  security: { attestation: { tolerate: string[] } };
}

export interface SessionSettings {
  maxExecutions?: number;
  /** Evidence types the session accepts besides hardware ones (e.g. `simulation`, for development). */
  tolerate?: string[];
}

export function imageNameOf(serviceName: string): string {
  return `${serviceName}_image`;
}

export function sessionDocument(result: SconifyResult, settings: SessionSettings = {}): SessionDocument {
  const imageName = imageNameOf(result.session.service);
  const command = result.service.command.some((arg) => /\s/.test(arg) || arg === '') ? result.service.command : result.service.command.join(' ');
  return {
    name: result.session.name,
    version: '0.3',
    access_policy: { read: ['CREATOR'], update: ['CREATOR'] },
    services: [{
      name: result.session.service,
      image_name: imageName,
      command,
      environment: result.service.environment,
      pwd: result.service.pwd,
      measurement: result.measurement,
      ...(settings.maxExecutions !== undefined ? { max_executions: settings.maxExecutions } : {}),
      trees: result.trees.map((t) => ({ path: t.path, key: t.key, tag: t.tag })),
    }],
    volumes: result.volumes.map((v) => ({ name: v.name, update_policy: v.updatePolicy })),
    images: [{ name: imageName, volumes: result.volumes.map((v) => ({ name: v.name, path: v.path })) }],
    security: { attestation: { tolerate: settings.tolerate ?? [] } },
  };
}

export function sessionYaml(document: SessionDocument): string {
  // Tags and keys of digits only would otherwise be read back as numbers.
  return stringify(document, { defaultStringType: 'PLAIN', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

/** Writes the session file (0600: it holds keys), replacing it atomically. */
export function writeSessionFile(path: string, document: SessionDocument): void {
  const temporary = `${path}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, sessionYaml(document), { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, path);
}
