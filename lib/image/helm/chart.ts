// The Helm chart of a sconified service: its values model (what values.yaml holds), the chart's
// files, and its manifests rendered from the chart's own templates (template-engine.ts) for
// `--k8s-helm-manifests`, since the helm binary may not be at hand. No key is ever in the chart.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { shieldError } from '../../file/fs-errors.js';
import { HELPERS_TPL, NOTES_TXT, PVC_TEMPLATE, SERVICE_TEMPLATE, WORKLOAD_KINDS, workloadTemplate, type WorkloadKind } from './chart-templates.js';
import { TemplateSet } from './template-engine.js';

export { WORKLOAD_KINDS, type WorkloadKind };

export interface ChartVolumeValues {
  mountPath: string;
  persistence: { enabled: boolean; existingClaim: string; storageClass: string; size: string; accessModes: string[] };
}

export interface ChartValues {
  image: { repository: string; tag: string; pullPolicy: string };
  imagePullSecrets: { name: string }[];
  fullnameOverride: string;
  replicaCount: number;
  restartPolicy: string;
  job: { backoffLimit: number };
  cas: { address: string; keyFingerprint: string };
  session: { name: string; service: string };
  volumes: Record<string, ChartVolumeValues>;
  service: { enabled: boolean; type: string; port: number };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  tee: { resource: string; count: string };
  nodeSelector: Record<string, string>;
  tolerations: unknown[];
  affinity: Record<string, unknown>;
}

export interface ChartInput {
  workloadKind: WorkloadKind;
  /** `repository:tag` of the confidential image. */
  image: string;
  sessionName: string;
  serviceName: string;
  cas?: string;
  casKey?: string;
  volumes: { name: string; path: string }[];
  expose?: number;
  /** `--k8s-helm-set K=V` overrides, applied to the values model. */
  set?: string[];
  /** The chart's version (this package's). */
  version: string;
}

export interface Chart {
  name: string;
  values: ChartValues;
  /** Path in the chart directory → content. */
  files: Record<string, string>;
}

const CHART_NAME = /^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$/;

export function defaultValues(input: ChartInput): ChartValues {
  const cut = input.image.lastIndexOf(':');
  const [repository, tag] = cut > 0 && !input.image.slice(cut).includes('/') ? [input.image.slice(0, cut), input.image.slice(cut + 1)] : [input.image, 'latest'];
  return {
    image: { repository, tag, pullPolicy: 'IfNotPresent' },
    imagePullSecrets: [],
    fullnameOverride: '',
    replicaCount: 1,
    restartPolicy: input.workloadKind === 'job' ? 'Never' : '',
    job: { backoffLimit: 0 },
    cas: { address: input.cas ?? '', keyFingerprint: input.casKey ?? '' },
    session: { name: input.sessionName, service: input.serviceName },
    volumes: Object.fromEntries(input.volumes.map((v) => [v.name, {
      mountPath: v.path,
      persistence: { enabled: true, existingClaim: '', storageClass: '', size: '1Gi', accessModes: ['ReadWriteOnce'] },
    }])),
    service: { enabled: input.expose !== undefined, type: 'ClusterIP', port: input.expose ?? 8080 },
    resources: {},
    tee: { resource: '', count: '1' },
    nodeSelector: {},
    tolerations: [],
    affinity: {},
  };
}

/** Applies `a.b.c=value` (Helm's --set for scalars: true/false, integers, else a string). */
export function applySet(values: ChartValues, assignments: readonly string[]): ChartValues {
  const result = structuredClone(values) as unknown as Record<string, unknown>;
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    const path = eq > 0 ? assignment.slice(0, eq).split('.') : [];
    if (path.length === 0 || path.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
      throw shieldError('EINVAL', `--k8s-helm-set ${assignment}: give KEY=VALUE with KEY a dotted path of names (e.g. volumes.V1.persistence.size=5Gi)`);
    }
    const raw = assignment.slice(eq + 1);
    const value: unknown = raw === 'true' ? true : raw === 'false' ? false : raw === 'null' ? null : /^-?\d{1,15}$/.test(raw) ? Number(raw) : raw;
    let at = result;
    for (const name of path.slice(0, -1)) {
      const next = at[name];
      if (next === undefined || next === null) at[name] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) throw shieldError('EINVAL', `--k8s-helm-set ${assignment}: ${name} is not a map of values`);
      at = at[name] as Record<string, unknown>;
    }
    at[path[path.length - 1]!] = value;
  }
  return result as unknown as ChartValues;
}

export function makeChart(input: ChartInput): Chart {
  const name = input.serviceName.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  if (!CHART_NAME.test(name)) throw shieldError('EINVAL', `--service-name ${input.serviceName} does not make a chart name (lowercase letters, digits, -)`);
  if (!(WORKLOAD_KINDS as readonly string[]).includes(input.workloadKind)) {
    throw shieldError('EINVAL', `--k8s-helm-workload-type ${input.workloadKind}: one of ${WORKLOAD_KINDS.join(', ')}`);
  }
  const values = applySet(defaultValues(input), input.set ?? []);
  const files: Record<string, string> = {
    'Chart.yaml': stringify({
      apiVersion: 'v2', name, description: `The confidential service ${input.serviceName} (session ${input.sessionName}), made by shield sconify`,
      type: 'application', version: input.version, appVersion: values.image.tag,
    }),
    'values.yaml': valuesYaml(values),
    'templates/_helpers.tpl': HELPERS_TPL,
    [`templates/${input.workloadKind}.yaml`]: workloadTemplate(input.workloadKind),
    'templates/pvc.yaml': PVC_TEMPLATE,
    'templates/service.yaml': SERVICE_TEMPLATE,
    'templates/NOTES.txt': NOTES_TXT,
    'README.md': chartReadme(name, input),
  };
  return { name, values, files };
}

/** Writes the chart to `<dir>/<name>/`. */
export function writeChart(chart: Chart, dir: string): string {
  const root = join(dir, chart.name);
  for (const [path, content] of Object.entries(chart.files)) {
    fs.mkdirSync(join(root, path, '..'), { recursive: true });
    fs.writeFileSync(join(root, path), content);
  }
  return root;
}

export interface RenderedManifest {
  /** The template it came from. */
  template: string;
  object: Record<string, unknown>;
}

/**
 * Renders the chart's templates as `helm template RELEASE CHART` does (Release.Service "Helm"), from
 * the chart's own template files and values; NOTES.txt is rendered too and returned apart.
 */
export function renderChart(chart: Chart, releaseName = chart.name, values: ChartValues = chart.values): { manifests: RenderedManifest[]; notes: string } {
  const set = new TemplateSet();
  const templates = Object.keys(chart.files).filter((p) => p.startsWith('templates/')).sort();
  for (const path of templates) set.add(path, chart.files[path]!);
  const data = {
    Values: values,
    Release: { Name: releaseName, Namespace: 'default', Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: { Name: chart.name, Version: (chart.files['Chart.yaml'] ?? '').match(/^version: (.+)$/m)?.[1] ?? '' },
  };
  const manifests: RenderedManifest[] = [];
  let notes = '';
  for (const path of templates) {
    if (path.endsWith('.tpl')) continue;
    const text = set.render(path, data);
    if (path.endsWith('NOTES.txt')) {
      notes = text;
      continue;
    }
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new Error(`${path} renders to invalid YAML: ${document.errors[0]!.message}\n${text}`);
      const object = document.toJS() as Record<string, unknown> | null;
      if (object) manifests.push({ template: path, object });
    }
  }
  return { manifests, notes };
}

/** Writes each rendered object to `<dir>/<kind>-<name>.yaml` (--k8s-helm-manifests). */
export function writeManifests(manifests: RenderedManifest[], dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return manifests.map(({ object }) => {
    const metadata = object.metadata as { name?: string } | undefined;
    const file = join(dir, `${String(object.kind).toLowerCase()}-${metadata?.name ?? 'unnamed'}.yaml`);
    fs.writeFileSync(file, stringify(object));
    return file;
  });
}

function valuesYaml(values: ChartValues): string {
  return `# Values of the confidential service's chart (README.md says what each one does).
# No key is ever here: the service gets its keys from the policy service after attestation.
${stringify(values, { lineWidth: 0 })}`;
}

function chartReadme(name: string, input: ChartInput): string {
  return `# ${name}

The confidential service \`${input.serviceName}\` of session \`${input.sessionName}\`, made by
\`shield sconify\` (workload: ${input.workloadKind}). At start, the shieldfs runtime in the image
attests to the policy service and gets its keys, command and environment from the session: nothing
secret is in this chart or the image.

\`\`\`sh
helm install ${name} ./${name} --set cas.address=https://cas.example:8081 --set cas.keyFingerprint=<fingerprint>
\`\`\`

| value | default | what |
|---|---|---|
| \`image.repository\`, \`image.tag\` | the sconified image | the confidential image (push it to your registry first) |
| \`image.pullPolicy\` | \`IfNotPresent\` | |
| \`imagePullSecrets\` | \`[]\` | secrets for a private registry |
| \`fullnameOverride\` | \`""\` | the objects' name (default \`<release>-${name}\`) |
| \`replicaCount\` | \`1\` | deployment and statefulset; keep 1 for a service with volumes (one writer per volume) |
| \`restartPolicy\` | \`Never\` for a job, else unset | |
| \`job.backoffLimit\` | \`0\` | job only |
| \`cas.address\` | \`--cas\` | the policy service (\`SHIELD_CAS\`) |
| \`cas.keyFingerprint\` | \`--cas-key\` | its key fingerprint, pinned by the runtime (\`SHIELD_CAS_KEY\`) |
| \`session.name\`, \`session.service\` | \`${input.sessionName}\`, \`${input.serviceName}\` | \`SHIELD_SESSION\`, \`SHIELD_SERVICE\`, written out verbatim |
| \`volumes.<NAME>.mountPath\` | the \`--volume\` path | where the volume is mounted; it is also the volume's storage |
| \`volumes.<NAME>.persistence.enabled\` | \`true\` | a PersistentVolumeClaim; \`false\`: an emptyDir (lost with the pod) |
| \`volumes.<NAME>.persistence.existingClaim\` | \`""\` | use this claim instead of making one |
| \`volumes.<NAME>.persistence.storageClass\` | \`""\` | the claim's storage class (cluster default when empty) |
| \`volumes.<NAME>.persistence.size\` | \`1Gi\` | |
| \`volumes.<NAME>.persistence.accessModes\` | \`[ReadWriteOnce]\` | |
| \`service.enabled\`, \`service.port\`, \`service.type\` | from \`--k8s-helm-expose\` | a Service in front of the container's port |
| \`resources\` | \`{}\` | requests and limits of the container |
| \`tee.resource\`, \`tee.count\` | \`""\`, \`"1"\` | the TEE device plugin's resource to request (e.g. \`sgx.intel.com/epc\`, \`amd.com/sev-snp\`) |
| \`nodeSelector\`, \`tolerations\`, \`affinity\` | empty | scheduling on TEE nodes |

The templates use a plain subset of Helm's template language (text/template's if, range, with,
define; include, toYaml, nindent, quote, default, printf, trunc, trimSuffix, lower, and, or, not) so
that \`shield sconify --k8s-helm-manifests\` renders the same objects as \`helm template\`.
`;
}
