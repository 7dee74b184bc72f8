// `shield sconify`: a native container image in, a confidential image, its session and a Helm chart
// out (lib/image). The session goes to the policy service (session-upload.ts: created, or updated
// when it exists), and/or to `--session-file OUT.yaml` (with `--no-upload`: only there, for later).
//
// stdout: the session's name and the image's digest (with --json one line of JSON: image digest,
// trees' tags, volumes, chart, session file). Keys appear only in the session file (mode 0600).
import { Command, InvalidArgumentError } from 'commander';
import { createRequire } from 'node:module';
import { shieldError } from '../file/fs-errors.js';
import { constants } from 'node:os';
import { errorLine, usageError } from '../file/exit-status.js';
import { progressBar, type Progress } from './progress.js';
import { checkUpload, uploadSession, type UploadResult } from './session-upload.js';
import type { SconifyProgress, SconifyResult, VolumeSpec } from '../image/sconify.js';
import type { WorkloadKind } from '../image/helm/chart.js';

interface SconifyCommandOptions {
  from: string;
  to: string;
  name: string;
  serviceName: string;
  command?: string;
  env: string[];
  pwd?: string;
  copyEnv: boolean;
  dir: string[];
  authenticated: string[];
  plain: string[];
  volume: string[];
  maxExecutions?: number;
  cas?: string;
  casKey?: string;
  identity?: string;
  upload: boolean;
  sessionFile?: string;
  tolerate: string[];
  imageName?: string;
  k8sHelmWorkloadType: string;
  k8sHelmOutputDir?: string;
  k8sHelmManifests?: string;
  k8sHelmSet: string[];
  k8sHelmExpose?: number;
  json?: boolean;
  dryRun?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const INTERRUPTING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const PHASES: Record<SconifyProgress['phase'], string> = {
  read: 'reading and checking layers', protect: 'protecting trees', layers: 'writing layers', write: 'writing the image',
};

export function sconifyCommand(): Command {
  return new Command('sconify')
    .summary('make a confidential image, its session and a Helm chart from a native container image')
    .description('make a confidential container image from a native one, without Docker: the --dir paths become protected trees ' +
      '(encrypted, with a fresh key), --authenticated paths verified trees, the rest stays as it was; the shieldfs runtime is added and ' +
      'run by the image\'s own node (>= 20.19, glibc), as the entrypoint `shield run`. Writes the session (keys and tags of the trees, ' +
      'command, environment, volumes) and optionally a Helm chart and its rendered manifests')
    .requiredOption('--from <image>', 'the native image: oci:DIR[:TAG] | docker-archive:FILE | dir:ROOTFS')
    .requiredOption('--to <image>', 'the confidential image: oci:DIR[:TAG] | docker-archive:FILE')
    .requiredOption('--name <namespace/session>', 'the session\'s name')
    .requiredOption('--service-name <name>', 'the service\'s name in the session')
    .option('--command <command>', 'the service\'s command, split on spaces (default: the image\'s Entrypoint + Cmd)')
    .option('--env <K=V>', 'an environment variable of the service (repeatable; added to the image\'s)', collect, [])
    .option('--pwd <dir>', 'the service\'s working directory (default: the image\'s)')
    .option('--no-copy-env', 'do not copy the image\'s environment into the session')
    .option('--dir <path>', 'encrypt this directory of the image into a protected tree (repeatable)', collect, [])
    .option('--authenticated <path>', 'keep this path readable but verified (repeatable)', collect, [])
    .option('--plain <path>', 'keep this path as it is (inside a --dir: not protected) (repeatable)', collect, [])
    .option('--volume <NAME:PATH[:policy]>', 'a volume at PATH (rollback_protected | ephemeral | no_rollback_protection) (repeatable)', collect, [])
    .option('--max-executions <n>', 'how often the service may start', positiveInteger)
    .option('--cas <url>', 'the policy service (also the image\'s SHIELD_CAS default)')
    .option('--cas-key <fingerprint>', 'the policy service\'s key fingerprint (also the image\'s SHIELD_CAS_KEY default)')
    .option('--identity <file>', 'the client identity for the upload')
    .option('--no-upload', 'do not upload the session: only write it to --session-file')
    .option('--session-file <file>', 'write the session (YAML, mode 0600: it holds keys) to this file')
    .option('--tolerate <type>', 'an evidence type the session accepts besides hardware ones, e.g. simulation (repeatable)', collect, [])
    .option('--image-name <repository:tag>', 'the image\'s name in a docker archive and in the chart (default: <service-name>:confidential)')
    .option('--k8s-helm-workload-type <kind>', 'deployment | statefulset | job | daemonset', 'deployment')
    .option('--k8s-helm-output-dir <dir>', 'write a Helm chart to <dir>/<service-name>/')
    .option('--k8s-helm-manifests <dir>', 'write the chart\'s rendered Kubernetes objects to <dir>')
    .option('--k8s-helm-set <K=V>', 'set a chart value (repeatable; dotted path, as helm --set)', collect, [])
    .option('--k8s-helm-expose <port>', 'a Service in front of this container port', positiveInteger)
    .option('--json', 'print a JSON summary')
    .option('--dry-run', 'print what would be done and do nothing')
    .action((options: SconifyCommandOptions) => sconify(options));
}

async function sconify(options: SconifyCommandOptions): Promise<void> {
  const image = await import('../image/index.js');
  const { sessionDocument, writeSessionFile } = await import('../image/session-file.js');
  const helm = await import('../image/helm/chart.js');

  // Everything that can be refused is refused before the image is touched.
  if (options.upload) {
    if (!options.cas || !options.casKey) throw usageError(shieldError('EINVAL', 'give --cas URL --cas-key FP to upload the session, or --no-upload --session-file OUT.yaml'));
  } else if (!options.sessionFile && !options.dryRun) {
    throw usageError(shieldError('EINVAL', '--no-upload needs --session-file OUT.yaml: the trees\' keys are only in the session, and would be lost'));
  }
  if (!(helm.WORKLOAD_KINDS as readonly string[]).includes(options.k8sHelmWorkloadType)) {
    throw usageError(shieldError('EINVAL', `--k8s-helm-workload-type ${options.k8sHelmWorkloadType}: one of ${helm.WORKLOAD_KINDS.join(', ')}`));
  }
  const volumes: VolumeSpec[] = options.volume.map((v) => asUsage(() => image.parseVolumeSpec(v)));
  const env = Object.fromEntries(options.env.map((assignment) => {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw usageError(shieldError('EINVAL', `--env ${assignment}: give NAME=VALUE`));
    return [assignment.slice(0, eq), assignment.slice(eq + 1)];
  }));
  const command = options.command?.split(' ').filter((word) => word !== '');
  if (command && command.length === 0) throw usageError(shieldError('EINVAL', '--command is empty'));
  const from = asUsage(() => image.parseImageReference(options.from, '--from'));
  const to = asUsage(() => image.parseImageReference(options.to, '--to'));
  const plan = asUsage(() => image.planProtection({ dirs: options.dir, authenticated: options.authenticated, plain: options.plain, volumes }));
  const repoTag = options.imageName ?? `${options.serviceName.toLowerCase()}:confidential`;
  const chartInput = (result?: SconifyResult) => ({
    workloadKind: options.k8sHelmWorkloadType as WorkloadKind,
    image: repoTag,
    sessionName: options.name,
    serviceName: options.serviceName,
    cas: options.cas,
    casKey: options.casKey,
    volumes: (result?.volumes ?? volumes).map((v) => ({ name: v.name, path: v.path })),
    expose: options.k8sHelmExpose,
    set: options.k8sHelmSet,
    version: packageVersion(),
  });
  // A bad --k8s-helm-set fails now, not after the image was made.
  const chart = options.k8sHelmOutputDir || options.k8sHelmManifests ? asUsage(() => helm.makeChart(chartInput())) : null;

  // The policy service is asked now (reachable, its key as pinned, this identity may see the
  // session): a refusal after the image is made would lose the trees' keys.
  const replaces = options.upload && !options.dryRun ? await checkUpload(options.name, uploadTarget(options)) : null;

  if (options.dryRun) {
    const source = await image.openImage(from);
    try {
      const service = image.serviceOf(source.config, { command, env, pwd: options.pwd, copyEnv: options.copyEnv });
      const lines = [
        `would read ${options.from}: ${source.layers.length} layer${source.layers.length === 1 ? '' : 's'}`,
        ...plan.trees.map((t) => `would protect ${t.path} as a tree with a fresh key` +
          (t.regions.length ? ` (regions: ${t.regions.map((r) => `${r.path}:${r.kind}`).join(', ')})` : '') + ', removing its files from every layer'),
        ...plan.plainOutside.map((p) => `would leave ${p} as it is`),
        ...volumes.map((v) => `would declare volume ${v.name} at ${v.path} (${v.updatePolicy})`),
        `would add the shieldfs runtime in ${image.RUNTIME_DIRECTORY}, run by the image's node (checked: >= ${image.MINIMUM_NODE.join('.')}, glibc)`,
        `would set the entrypoint to <node> ${image.RUNTIME_CLI} run, with SHIELD_SESSION=${options.name} SHIELD_SERVICE=${options.serviceName}` +
          (options.cas ? ` SHIELD_CAS=${options.cas}` : '') + (options.casKey ? ` SHIELD_CAS_KEY=${options.casKey}` : ''),
        `would write ${options.to}`,
        `the session's service would run: ${service.command.join(' ')} (pwd ${service.pwd}, ${Object.keys(service.environment).length} environment variables)`,
        ...(options.sessionFile ? [`would write the session to ${options.sessionFile}`] : []),
        ...(options.upload ? [`would upload the session to ${options.cas} (an update when it exists there)`] : []),
        ...(chart && options.k8sHelmOutputDir ? [`would write the Helm chart to ${options.k8sHelmOutputDir}/${chart.name}`] : []),
        ...(chart && options.k8sHelmManifests ? [`would write the rendered manifests to ${options.k8sHelmManifests}`] : []),
      ];
      process.stdout.write(options.json ? JSON.stringify({ dryRun: true, actions: lines }) + '\n' : lines.join('\n') + '\n');
    } finally {
      source.close();
    }
    return;
  }

  let bar: Progress | null = null;
  let phase = '';
  const onProgress = (p: SconifyProgress) => {
    if (p.phase !== phase) {
      bar?.stop();
      phase = p.phase;
      bar = progressBar(`sconify: ${PHASES[p.phase]}`, p.total, 1, 'steps');
    }
    bar?.update(Math.floor(p.done), p.total);
  };
  // An interruption stops the work and removes what it made (the unpacked image holds the plaintext
  // of what was being protected), then ends by the same signal, as `shield protect` does.
  const interruption = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => interruption.abort(signal);
  for (const signal of INTERRUPTING_SIGNALS) process.on(signal, onSignal);
  let result: SconifyResult;
  try {
    result = await image.sconifyImage({
      from, to, sessionName: options.name, serviceName: options.serviceName, command, env, pwd: options.pwd, copyEnv: options.copyEnv,
      dirs: options.dir, authenticated: options.authenticated, plain: options.plain, volumes, cas: options.cas, casKey: options.casKey,
      repoTag, onProgress, signal: interruption.signal,
    });
  } catch (error) {
    if (!interruption.signal.aborted) throw error;
    (bar as Progress | null)?.stop();
    for (const signal of INTERRUPTING_SIGNALS) process.off(signal, onSignal);
    const signal = interruption.signal.reason as NodeJS.Signals;
    process.stderr.write(errorLine(shieldError('EINTR', `interrupted by ${signal}: nothing was written to ${options.to}`)).line + '\n');
    process.kill(process.pid, signal);
    process.exit(128 + (constants.signals[signal] ?? 0));
  } finally {
    (bar as Progress | null)?.stop();
  }
  const document = sessionDocument(result, { maxExecutions: options.maxExecutions, tolerate: options.tolerate });
  if (replaces !== null) document.predecessor = replaces;
  if (options.sessionFile) writeSessionFile(options.sessionFile, document);
  // The image exists and its keys are in the session file: a signal that came meanwhile (and was
  // held back until now, so the keys were not lost) ends the command from here on.
  for (const signal of INTERRUPTING_SIGNALS) process.off(signal, onSignal);
  if (interruption.signal.aborted) process.kill(process.pid, interruption.signal.reason as NodeJS.Signals);
  let upload: UploadResult | null = null;
  if (options.upload) {
    try {
      upload = await uploadSession(document, uploadTarget(options));
    } catch (error) {
      const failure = error as NodeJS.ErrnoException;
      failure.message = `${options.to} was written, but its session was not uploaded to ${options.cas}: ${failure.message}` +
        (options.sessionFile ? ` (upload ${options.sessionFile} with \`shield session ${replaces ? 'update' : 'create'}\`)` : ' (its keys are lost: sconify again)');
      throw failure;
    }
  }
  const sessionHash = upload?.hash ?? null;
  let chartPath: string | null = null;
  let manifests: string[] = [];
  if (chart) {
    if (options.k8sHelmOutputDir) chartPath = helm.writeChart(chart, options.k8sHelmOutputDir);
    if (options.k8sHelmManifests) manifests = helm.writeManifests(helm.renderChart(chart).manifests, options.k8sHelmManifests);
  }
  if (options.json) {
    process.stdout.write(JSON.stringify({
      session: result.session.name, service: result.session.service, sessionHash, predecessor: upload?.predecessor ?? null, sessionFile: options.sessionFile ?? null,
      image: result.image.reference, imageDigest: result.image.manifestDigest, measurement: result.measurement,
      trees: result.trees.map((t) => ({ path: t.path, tag: t.tag })), volumes: result.volumes,
      runtime: { node: result.runtime.node, nodeVersion: result.runtime.nodeVersion, libc: result.runtime.libc },
      chart: chartPath, manifests,
    }) + '\n');
  } else {
    process.stdout.write(`${result.session.name}${sessionHash ? ' ' + sessionHash : ''}\n${result.image.reference} ${result.image.manifestDigest}\n`);
  }
}

function uploadTarget(options: SconifyCommandOptions) {
  return { cas: options.cas!, casKey: options.casKey!, identity: options.identity };
}

function asUsage<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw usageError(error);
  }
}

function positiveInteger(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('a positive whole number');
  return Number(value);
}

function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
