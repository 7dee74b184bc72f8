// The Helm chart of `shield sconify`: rendered from its own template files by the project's renderer
// for every workload kind and several value combinations, and every object validated against the
// Kubernetes schemas (kubernetes-models' validator). And the renderer's subset of the template language.
import { describe, expect, it } from 'vitest';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { parse as parseYaml } from 'yaml';
import { applySet, makeChart, renderChart, WORKLOAD_KINDS, type ChartInput, type WorkloadKind } from '../lib/image/helm/chart.js';
import { TemplateSet } from '../lib/image/helm/template-engine.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { writeChart } from '../lib/image/helm/chart.js';
import { goTemplateRenderer, goTemplateUnavailable } from './support/helm-template.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-helm-');
const goUnavailable = goTemplateUnavailable();
if (goUnavailable && process.env.SHIELDFS_REQUIRE_GO_TEMPLATE === '1') throw new Error(`SHIELDFS_REQUIRE_GO_TEMPLATE=1 but ${goUnavailable}`);
if (goUnavailable) console.warn(`skipping the comparison with Go's text/template and Sprig: ${goUnavailable}`);

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment, 'apps/v1/StatefulSet': StatefulSet, 'apps/v1/DaemonSet': DaemonSet,
  'batch/v1/Job': Job, 'v1/PersistentVolumeClaim': PersistentVolumeClaim, 'v1/Service': Service,
};
const KINDS: Record<WorkloadKind, string> = { deployment: 'Deployment', statefulset: 'StatefulSet', job: 'Job', daemonset: 'DaemonSet' };

function validate(object: Record<string, unknown>): void {
  const Model = MODELS[`${String(object.apiVersion)}/${String(object.kind)}`];
  expect(Model, `a model for ${String(object.apiVersion)} ${String(object.kind)}`).toBeDefined();
  new Model!(object as never).validate();
}

const input = (kind: WorkloadKind, extra: Partial<ChartInput> = {}): ChartInput => ({
  workloadKind: kind, image: 'registry.example/counter:confidential', sessionName: 'demo/counter', serviceName: 'counter',
  cas: 'https://cas.example:8081', casKey: 'ab'.repeat(32), volumes: [{ name: 'V1', path: '/V1' }, { name: 'logs', path: '/var/log/app' }],
  version: '0.1.0', ...extra,
});

type Pod = { spec: { containers: { env: { name: string; value: string }[]; resources?: { limits?: Record<string, string> }; ports?: unknown[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: object }[]; nodeSelector?: Record<string, string>; restartPolicy?: string } };
const podOf = (object: Record<string, unknown>) => (object.spec as { template: Pod }).template;

describe('the chart, rendered and validated against the Kubernetes schemas', () => {
  for (const kind of WORKLOAD_KINDS) {
    for (const persistence of [true, false]) {
      it(`${kind}, persistence ${persistence ? 'on' : 'off'}`, () => {
        const chart = makeChart(input(kind, {
          expose: persistence ? 8080 : undefined,
          set: persistence ? [] : ['volumes.V1.persistence.enabled=false', 'volumes.logs.persistence.enabled=false'],
        }));
        const { manifests, notes } = renderChart(chart, 'prod');
        for (const { object } of manifests) validate(object);
        const kinds = manifests.map((m) => m.object.kind).sort();
        expect(kinds).toEqual([KINDS[kind], ...(persistence ? ['PersistentVolumeClaim', 'PersistentVolumeClaim', 'Service'] : [])].sort());
        const workload = manifests.find((m) => m.object.kind === KINDS[kind])!.object;
        const pod = podOf(workload);
        expect(pod.spec.containers[0]!.env).toEqual([
          { name: 'SHIELD_CAS', value: 'https://cas.example:8081' }, { name: 'SHIELD_CAS_KEY', value: 'ab'.repeat(32) },
          { name: 'SHIELD_SESSION', value: 'demo/counter' }, { name: 'SHIELD_SERVICE', value: 'counter' },
        ]);
        // Map keys in Go's order (bytes: upper case first).
        expect(pod.spec.containers[0]!.volumeMounts).toEqual([{ name: 'v1', mountPath: '/V1' }, { name: 'logs', mountPath: '/var/log/app' }]);
        expect(pod.spec.volumes).toEqual(persistence
          ? [{ name: 'v1', persistentVolumeClaim: { claimName: 'prod-counter-v1' } }, { name: 'logs', persistentVolumeClaim: { claimName: 'prod-counter-logs' } }]
          : [{ name: 'v1', emptyDir: {} }, { name: 'logs', emptyDir: {} }]);
        expect(pod.spec.restartPolicy).toBe(kind === 'job' ? 'Never' : undefined);
        expect(notes).toContain('runs the confidential service counter of session demo/counter');
        // Only the chosen kind's template is in the chart.
        expect(Object.keys(chart.files).filter((f) => /templates\/(deployment|statefulset|job|daemonset)\.yaml/.test(f))).toEqual([`templates/${kind}.yaml`]);
      });
    }
  }

  it('--set overrides: an existing claim, a storage class and size, the TEE device, resources, scheduling, the image', () => {
    const chart = makeChart(input('statefulset', {
      set: [
        'volumes.V1.persistence.existingClaim=v1-data', 'volumes.logs.persistence.storageClass=fast', 'volumes.logs.persistence.size=5Gi',
        'tee.resource=sgx.intel.com/epc', 'tee.count=10Mi', 'resources.limits.memory=1Gi', 'resources.requests.cpu=500m',
        'nodeSelector.tee=sgx', 'image.tag=v2', 'image.pullPolicy=Always', 'replicaCount=1', 'fullnameOverride=counter-svc',
      ],
    }));
    const { manifests } = renderChart(chart, 'prod');
    for (const { object } of manifests) validate(object);
    const claims = manifests.filter((m) => m.object.kind === 'PersistentVolumeClaim').map((m) => m.object as { metadata: { name: string }; spec: { storageClassName?: string; resources: { requests: { storage: string } } } });
    expect(claims).toHaveLength(1);  // V1 uses the existing claim
    expect(claims[0]!.metadata.name).toBe('counter-svc-logs');
    expect(claims[0]!.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });
    const workload = manifests.find((m) => m.object.kind === 'StatefulSet')!.object as { metadata: { name: string }; spec: { template: Pod } };
    expect(workload.metadata.name).toBe('counter-svc');
    const pod = workload.spec.template;
    expect(pod.spec.volumes).toContainEqual({ name: 'v1', persistentVolumeClaim: { claimName: 'v1-data' } });
    expect(pod.spec.containers[0]!.resources).toEqual({ requests: { cpu: '500m' }, limits: { memory: '1Gi', 'sgx.intel.com/epc': '10Mi' } });
    expect(pod.spec.nodeSelector).toEqual({ tee: 'sgx' });
    expect((pod.spec.containers[0] as unknown as { image: string; imagePullPolicy: string })).toMatchObject({ image: 'registry.example/counter:v2', imagePullPolicy: 'Always' });
    // values.yaml carries the same overrides, so `helm template` of the written chart renders the same.
    const values = parseYaml(chart.files['values.yaml']!) as { tee: { resource: string } };
    expect(values.tee.resource).toBe('sgx.intel.com/epc');
  });

  it('a numeric --set value prints as Go prints it (an image tag of digits)', () => {
    const { manifests } = renderChart(makeChart(input('job', { set: ['image.tag=2'] })));
    expect(podOf(manifests[0]!.object).spec.containers[0]).toMatchObject({ image: 'registry.example/counter:2' });
  });

  it('a schema violation is caught (the validation can fail)', () => {
    const chart = makeChart(input('deployment', { expose: 8080, set: ['service.port=not-a-port'] }));
    const service = renderChart(chart).manifests.find((m) => m.object.kind === 'Service')!.object;
    expect(() => validate(service)).toThrow(/port/);
  });

  it('has no key: the chart files name the policy service and the session, never a secret', () => {
    const chart = makeChart(input('deployment'));
    const text = Object.values(chart.files).join('\n');
    expect(text).not.toMatch(/\bkey:\s*[0-9a-f]{64}/);
    expect(Object.keys(chart.files).sort()).toEqual(['Chart.yaml', 'README.md', 'templates/NOTES.txt', 'templates/_helpers.tpl', 'templates/deployment.yaml', 'templates/pvc.yaml', 'templates/service.yaml', 'values.yaml']);
    expect(parseYaml(chart.files['Chart.yaml']!)).toMatchObject({ apiVersion: 'v2', name: 'counter', version: '0.1.0', appVersion: 'confidential' });
  });

  it('refuses bad --set lines and names', () => {
    expect(() => applySet(makeChart(input('job')).values, ['image'])).toThrow(/give KEY=VALUE/);
    expect(() => applySet(makeChart(input('job')).values, ['image.tag.x=1'])).toThrow(/tag is not a map of values/);
    expect(() => makeChart(input('job', { serviceName: '---' }))).toThrow(/does not make a chart name/);
  });
});

describe.skipIf(goUnavailable !== null)('the same objects as Go\'s text/template with Sprig, set up as Helm\'s engine', () => {
  const cases: [string, ChartInput][] = [
    ...WORKLOAD_KINDS.map((kind): [string, ChartInput] => [`${kind}, persistence on, exposed`, input(kind, { expose: 8080 })]),
    ...WORKLOAD_KINDS.map((kind): [string, ChartInput] => [`${kind}, persistence off`, input(kind, { set: ['volumes.V1.persistence.enabled=false', 'volumes.logs.persistence.enabled=false'] })]),
    ['overrides', input('statefulset', { set: ['volumes.V1.persistence.existingClaim=v1-data', 'volumes.logs.persistence.storageClass=fast', 'tee.resource=sgx.intel.com/epc',
      'tee.count=10Mi', 'resources.limits.memory=1Gi', 'resources.requests.cpu=500m', 'nodeSelector.tee=sgx', 'image.tag=2', 'fullnameOverride=svc', 'tolerations=', 'imagePullSecrets='] })],
    ['no volumes, no cas', input('job', { volumes: [], cas: undefined, casKey: undefined })],
  ];
  let renderWithGo: ReturnType<typeof goTemplateRenderer>;
  it('builds', () => {
    const work = temp('go');
    mkdirSync(work);
    renderWithGo = goTemplateRenderer(work);
  }, 120_000);
  for (const [name, chartInput] of cases) {
    it(name, () => {
      const chart = makeChart(chartInput);
      const dir = writeChart(chart, temp(name.replace(/\W+/g, '-')));
      // Helm reads values.yaml: so does the Go side (the file the chart ships, --set already applied).
      const values = parseYaml(readFileSync(`${dir}/values.yaml`, 'utf8')) as unknown;
      const go = renderWithGo(dir, values, 'prod');
      const ours = renderChart(chart, 'prod', values as never);
      for (const [template, text] of Object.entries(go)) {
        if (template.endsWith('NOTES.txt')) {
          expect(ours.notes, template).toBe(text);
          continue;
        }
        const objects = parseAllDocuments(text).map((d) => d.toJS() as unknown).filter((o) => o !== null);
        expect(ours.manifests.filter((m) => m.template === template).map((m) => m.object), template).toEqual(objects);
      }
      expect(Object.keys(go).sort()).toEqual(Object.keys(chart.files).filter((f) => f.startsWith('templates/') && !f.endsWith('.tpl')).sort());
    });
  }
});

describe('the template renderer (a plain subset of Helm\'s language)', () => {
  const render = (source: string, data: unknown, defines = '') => {
    const set = new TemplateSet();
    if (defines) set.add('_helpers.tpl', defines);
    set.add('t', source);
    return set.render('t', data);
  };

  it('trims, branches, ranges over lists and maps (keys sorted) and pipes', () => {
    expect(render('a  {{- " b " -}}  c', {})).toBe('a b c');
    expect(render('{{ if .x }}x{{ else if .y }}y{{ else }}z{{ end }}', { y: 1 })).toBe('y');
    expect(render('{{ if .m }}m{{ else }}empty{{ end }}', { m: {} })).toBe('empty');  // Go: an empty map is false
    expect(render('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1;b=2;');
    expect(render('{{ range .l }}[{{ . }}]{{ else }}none{{ end }}', { l: [] })).toBe('none');
    expect(render('{{ with .s }}{{ . | quote }}{{ end }}', { s: 'x"y' })).toBe('"x\\"y"');
    expect(render('{{ toYaml .o | nindent 2 }}', { o: { b: [1], a: 'x' } })).toBe('\n  a: x\n  b:\n    - 1');
    expect(render('{{ default "d" .missing }}/{{ printf "%s-%d" .a 7 | trunc 5 | trimSuffix "-" }}', { a: 'abc' })).toBe('d/abc-7');
    expect(render('{{ include "n" . }}', { v: 'V' }, '{{- define "n" -}}<{{ .v | lower }}>{{- end -}}')).toBe('<v>');
    expect(render('{{ if and .a (not .b) }}yes{{ end }}{{ if or .b .c }}no{{ end }}', { a: 1, b: 0, c: '' })).toBe('yes');
  });

  it('refuses what helm would refuse or what is outside the subset, naming the template and line', () => {
    expect(() => render('{{ .a.b }}', { })).toThrow(/template t:1: nil pointer evaluating \.a\.b/);
    expect(() => render('\n{{ b64enc .a }}', { a: 1 })).toThrow(/template t:2: b64enc is outside the supported subset/);
    expect(() => render('{{ template "x" . }}', {})).toThrow(/outside the supported subset \(use include\)/);
    expect(() => render('{{ if .a }}open', { a: 1 })).toThrow(/without \{\{end\}\}/);
    expect(() => render('{{ include "none" . }}', {})).toThrow(/no template "none" is defined/);
    expect(() => render('{{ $x }}', {})).toThrow(/undefined variable \$x/);
  });
});
