/**
 * The training environment: a Python interpreter that can import torch and numpy, found or, on a
 * fresh machine, provisioned, the way MLflow Projects create a project's environment and
 * SageMaker local mode pulls its image before the first job. In order:
 *
 * 1. `MLOOP_PYTHON` (the user's choice: used as it is, or a clear error);
 * 2. an interpreter that already imports torch: /usr/bin/python3, python3, python, then the
 *    environment an earlier run provisioned;
 * 3. a virtual environment in the cache directory (`MLOOP_CACHE_DIR`, else
 *    `$XDG_CACHE_HOME/mloop`, else `~/.cache/mloop`) with `pip install -r training/requirements.txt`,
 *    the same file the SageMaker job installs, where a Python with venv and pip exists and the
 *    package index answers (probed with a short timeout, so a machine without one falls through
 *    in seconds);
 * 4. on Debian or Ubuntu as root (containers, CI): `apt-get install python3-torch python3-numpy`;
 * 5. otherwise an error that gives the exact commands for this platform.
 *
 * Each step says what it does and why, and streams the installer's output as progress. Every
 * action goes through a `ProvisionHost`, so the decision is tested with fake interpreters, a fake
 * index and a fake apt-get (test/provision.test.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { acquireClaim, releaseClaim, thisProcess, type ClaimHolder } from './process-claim';
import { rememberedProbe } from './probe-cache';
import type { PythonProbe } from './python-probe';

export { probePython, type PythonProbe } from './python-probe';

/** How the interpreter was found. */
export type PythonSource = 'MLOOP_PYTHON' | 'found' | 'venv' | 'apt';

export interface TrainingPython {
  readonly python: string;
  readonly source: PythonSource;
  readonly probe: PythonProbe;
}

/** One provisioning step that was considered: done, skipped (and why), or failed (and why). */
export interface ProvisionStep {
  readonly step: 'venv' | 'apt';
  readonly outcome: 'done' | 'skipped' | 'failed';
  readonly detail: string;
}

/** No interpreter with torch, and none could be provisioned: `message` gives the commands. */
export class TrainingEnvironmentError extends Error {
  constructor(
    message: string,
    readonly steps: readonly ProvisionStep[],
  ) {
    super(message);
    this.name = 'TrainingEnvironmentError';
  }
}

/** Everything provisioning reads or does on the machine. */
export interface ProvisionHost {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Interpreters tried in order. */
  readonly candidates: readonly string[];
  /** The interpreter apt's python3-torch installs into. */
  readonly systemPython: string;
  /** Where provisioned environments live. */
  readonly cacheDir: string;
  /** The trainer's requirements (the file the SageMaker job installs). */
  readonly requirementsFile: string;
  readonly platform: NodeJS.Platform;
  readonly isRoot: boolean;
  /** /etc/os-release's text, when there is one. */
  readonly osRelease?: string;
  /** apt-get's path, when it is on PATH. */
  readonly aptGet?: string;
  readonly probe: (python: string) => Promise<PythonProbe>;
  /** Undefined when the index answers (any HTTP status below 500), else why not. */
  readonly probeIndex: (url: string) => Promise<string | undefined>;
  /** Run a command, each output line to `onLine`; resolves with its exit code. */
  readonly run: (
    command: string,
    args: readonly string[],
    options: { env?: Record<string, string>; onLine: (line: string) => void },
  ) => Promise<number>;
}

/** How long the package index has to answer before provisioning moves on. */
export const INDEX_TIMEOUT_MS = 5_000;
const DEFAULT_INDEX = 'https://pypi.org/simple/';
/** Written last into a provisioned environment: one without it was cut off and is made again. */
const READY_MARKER = '.mloop-ready';
const APT_PACKAGES = ['python3-torch', 'python3-numpy'];

async function probeIndex(url: string): Promise<string | undefined> {
  const target = `${url.replace(/\/?$/, '/')}pip/`;
  try {
    const response = await fetch(target, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(INDEX_TIMEOUT_MS) });
    return response.status < 500 ? undefined : `${target} answered HTTP ${response.status}`;
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return `${target} did not answer within ${INDEX_TIMEOUT_MS / 1000} s`;
    return `${target} cannot be reached (${e.cause?.code ?? e.cause?.message ?? e.message})`;
  }
}

function runCommand(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; onLine: (line: string) => void },
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const onData = (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split(/\r?\n|\r/);
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      options.onLine(`${command}: ${error.message}`);
      resolve(127);
    });
    child.on('close', (code) => {
      if (pending.trim() !== '') options.onLine(pending);
      resolve(code ?? 1);
    });
  });
}

/**
 * An installer's output as progress: its first line, problems (errors, warnings) and its last
 * line always, and otherwise at most one line every `everyMs`, so a thousand lines of apt-get
 * read as a moving status instead of a wall of text.
 */
export function throttledProgress(
  log: (line: string) => void,
  everyMs = 2000,
  now: () => number = Date.now,
): { line: (text: string) => void; end: () => void } {
  let last = -Infinity;
  let held: string | undefined;
  return {
    line: (text) => {
      const t = now();
      if (t - last >= everyMs || /^(E:|W:|Err|ERROR|error|warning)/i.test(text.trim())) {
        log(`  ${text}`);
        last = t;
        held = undefined;
      } else held = text;
    },
    end: () => {
      if (held !== undefined) log(`  ${held}`);
      held = undefined;
    },
  };
}

/** The first executable `name` on PATH. */
function onPath(name: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The cache directory: MLOOP_CACHE_DIR, else $XDG_CACHE_HOME/mloop, else ~/.cache/mloop. */
export function cacheDirectory(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.MLOOP_CACHE_DIR) return path.resolve(env.MLOOP_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'mloop');
  return path.join(os.homedir(), '.cache', 'mloop');
}

export const REQUIREMENTS_FILE = path.join(REPO_ROOT, 'training', 'requirements.txt');

/** This machine, as provisioning sees it. */
export function defaultHost(env: Readonly<Record<string, string | undefined>> = process.env): ProvisionHost {
  let osRelease: string | undefined;
  try {
    osRelease = fs.readFileSync('/etc/os-release', 'utf8');
  } catch {
    osRelease = undefined;
  }
  return {
    env,
    candidates: ['/usr/bin/python3', 'python3', 'python'],
    systemPython: '/usr/bin/python3',
    cacheDir: cacheDirectory(env),
    requirementsFile: REQUIREMENTS_FILE,
    platform: process.platform,
    isRoot: process.getuid?.() === 0,
    osRelease,
    aptGet: onPath('apt-get', env),
    probe: rememberedProbe(cacheDirectory(env), (python) => (path.isAbsolute(python) ? python : onPath(python, env))),
    probeIndex,
    run: runCommand,
  };
}

/** Whether /etc/os-release names Debian or Ubuntu (or a derivative of either). */
export function isDebianLike(osRelease: string | undefined): boolean {
  if (!osRelease) return false;
  const field = (name: string) => new RegExp(`^${name}=["']?([^"'\\n]*)`, 'm').exec(osRelease)?.[1]?.toLowerCase() ?? '';
  const ids = `${field('ID')} ${field('ID_LIKE')}`.split(/\s+/);
  return ids.includes('debian') || ids.includes('ubuntu');
}

/** The provisioned environment's folder: one per requirements file content, so a new pin makes a new one. */
export function venvDirectory(host: Pick<ProvisionHost, 'cacheDir' | 'requirementsFile'>): string {
  let text = '';
  try {
    text = fs.readFileSync(host.requirementsFile, 'utf8');
  } catch {
    text = '';
  }
  return path.join(host.cacheDir, `python-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`);
}

function venvPython(dir: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

/** The provisioned environment's interpreter, when a finished one exists. */
export function provisionedPython(host: Pick<ProvisionHost, 'cacheDir' | 'requirementsFile' | 'platform'>): string | undefined {
  const dir = venvDirectory(host);
  return fs.existsSync(path.join(dir, READY_MARKER)) ? venvPython(dir, host.platform) : undefined;
}

/** Whether the user turned provisioning off (MLOOP_PROVISION=never, 0, false or off). */
function provisioningOff(env: ProvisionHost['env']): boolean {
  return ['never', '0', 'false', 'off', 'no'].includes((env.MLOOP_PROVISION ?? '').trim().toLowerCase());
}

/** The exact commands that give this platform a training environment, for the final error. */
export function manualCommands(host: ProvisionHost): string[] {
  const requirements = path.relative(process.cwd(), host.requirementsFile) || host.requirementsFile;
  const venv = venvDirectory(host);
  if (host.platform === 'linux' && isDebianLike(host.osRelease)) {
    return [
      `${host.isRoot ? '' : 'sudo '}apt-get update && ${host.isRoot ? '' : 'sudo '}apt-get install -y --no-install-recommends ${APT_PACKAGES.join(' ')}`,
      `or, with access to a package index: python3 -m venv ${venv} && ${venvPython(venv, host.platform)} -m pip install -r ${requirements} && export MLOOP_PYTHON=${venvPython(venv, host.platform)}`,
    ];
  }
  if (host.platform === 'win32') {
    return [
      `py -3 -m venv ${venv}`,
      `${venvPython(venv, host.platform)} -m pip install -r ${requirements}`,
      `set MLOOP_PYTHON=${venvPython(venv, host.platform)}`,
    ];
  }
  return [
    `python3 -m venv ${venv}`,
    `${venvPython(venv, host.platform)} -m pip install -r ${requirements}`,
    `export MLOOP_PYTHON=${venvPython(venv, host.platform)}`,
  ];
}

/**
 * Hold the cache directory's provisioning lock while `work` runs, so that two mloop processes do
 * not install at once (the second waits, then finds what the first installed). A lock left by a
 * process that is gone is taken over.
 */
async function withLock<T>(dir: string, log: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const file = path.join(dir, 'provision.lock');
  let said = false;
  await acquireClaim<ClaimHolder, never>(file, thisProcess(), {
    pollMs: 500,
    decide: (holder) => {
      if (!said) log(`Waiting for process ${holder.pid}, which is setting up the training environment in ${dir}...`);
      said = true;
      return { wait: true };
    },
  });
  try {
    return await work();
  } finally {
    releaseClaim(file);
  }
}

async function firstUsable(host: ProvisionHost, pythons: readonly string[]): Promise<{ found?: PythonProbe; probes: PythonProbe[] }> {
  const probes: PythonProbe[] = [];
  for (const python of pythons) {
    const probe = await host.probe(python);
    probes.push(probe);
    if (probe.ok) return { found: probe, probes };
  }
  return { probes };
}

/** The interpreters to look at: the candidates, then a finished provisioned environment. */
export function searchList(host: ProvisionHost): string[] {
  const provisioned = provisionedPython(host);
  return [...host.candidates, ...(provisioned ? [provisioned] : [])];
}

/** Whether a virtual environment can be made here: the Python to make it with and the index, or why not. */
async function venvPlan(
  host: ProvisionHost,
  probes: readonly PythonProbe[],
): Promise<{ base: PythonProbe; index: string } | { skip: string }> {
  const base = probes.find((p) => p.venv && p.version);
  if (!base)
    return {
      skip: `no Python here can make a virtual environment with pip (tried ${host.candidates.join(', ')}: venv or ensurepip is missing)`,
    };
  if (!fs.existsSync(host.requirementsFile)) return { skip: `${host.requirementsFile} does not exist` };
  const index = host.env.PIP_INDEX_URL || DEFAULT_INDEX;
  const unreachable = await host.probeIndex(index);
  return unreachable ? { skip: `the package index does not answer: ${unreachable}` } : { base, index };
}

/** Why apt-get is not used here, or undefined when it is (Debian or Ubuntu, apt-get, root). */
function aptSkipReason(host: ProvisionHost): string | undefined {
  if (host.platform !== 'linux' || !isDebianLike(host.osRelease)) return 'this is not Debian or Ubuntu';
  if (!host.aptGet) return 'apt-get is not on PATH';
  if (!host.isRoot) return 'mloop is not running as root, so it does not install system packages itself';
  return undefined;
}

/**
 * What a first training run would do where none of `probes` is usable, without doing it: the
 * step it would take, and why each step before it does not apply (`mloop doctor`).
 */
export async function provisioningPlan(
  host: ProvisionHost,
  probes: readonly PythonProbe[],
): Promise<{ next: 'venv' | 'apt' | 'manual'; skipped: ProvisionStep[] }> {
  if (provisioningOff(host.env)) return { next: 'manual', skipped: [] };
  const venv = await venvPlan(host, probes);
  if (!('skip' in venv)) return { next: 'venv', skipped: [] };
  const skipped: ProvisionStep[] = [{ step: 'venv', outcome: 'skipped', detail: venv.skip }];
  const apt = aptSkipReason(host);
  if (apt === undefined) return { next: 'apt', skipped };
  return { next: 'manual', skipped: [...skipped, { step: 'apt', outcome: 'skipped', detail: apt }] };
}

async function tryVenv(
  host: ProvisionHost,
  probes: readonly PythonProbe[],
  log: (line: string) => void,
): Promise<ProvisionStep & { python?: PythonProbe }> {
  const plan = await venvPlan(host, probes);
  if ('skip' in plan) return { step: 'venv', outcome: 'skipped', detail: plan.skip };
  const { base, index } = plan;

  const dir = venvDirectory(host);
  // One that a killed run left without its marker is ours and incomplete: make it again.
  if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
  log(
    `Setting up the training environment: no Python here can import torch, so mloop creates one in ${dir} (${base.python}, Python ${base.version}) and installs ${host.requirementsFile} from ${index}. This happens once.`,
  );
  const progress = throttledProgress(log);
  let code = await host.run(base.python, ['-m', 'venv', dir], { onLine: progress.line });
  if (code !== 0) return { step: 'venv', outcome: 'failed', detail: `${base.python} -m venv ${dir} exited with ${code}` };
  const python = venvPython(dir, host.platform);
  code = await host.run(
    python,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '-r', host.requirementsFile],
    {
      env: { PIP_DEFAULT_TIMEOUT: '30' },
      onLine: progress.line,
    },
  );
  progress.end();
  if (code !== 0)
    return { step: 'venv', outcome: 'failed', detail: `pip install -r ${host.requirementsFile} exited with ${code} (its output is above)` };
  const probe = await host.probe(python);
  if (!probe.ok)
    return {
      step: 'venv',
      outcome: 'failed',
      detail: `${python} still cannot import torch and numpy after the install: ${probe.detail ?? 'unknown reason'}`,
    };
  fs.writeFileSync(path.join(dir, READY_MARKER), JSON.stringify({ torch: probe.torch, numpy: probe.numpy, at: new Date().toISOString() }));
  return { step: 'venv', outcome: 'done', detail: `${python}: torch ${probe.torch}`, python: probe };
}

async function tryApt(host: ProvisionHost, log: (line: string) => void): Promise<ProvisionStep & { python?: PythonProbe }> {
  const skip = aptSkipReason(host);
  if (skip !== undefined || !host.aptGet) return { step: 'apt', outcome: 'skipped', detail: skip ?? 'apt-get is not on PATH' };
  log(
    `Setting up the training environment: no Python here can import torch, so mloop installs Debian's ${APT_PACKAGES.join(' and ')} with apt-get (about 1 GB, a minute or two). This happens once.`,
  );
  const progress = throttledProgress(log);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  let code = await host.run(host.aptGet, ['update'], { env, onLine: progress.line });
  progress.end();
  if (code !== 0) return { step: 'apt', outcome: 'failed', detail: `apt-get update exited with ${code} (its output is above)` };
  code = await host.run(host.aptGet, ['install', '-y', '--no-install-recommends', ...APT_PACKAGES], { env, onLine: progress.line });
  progress.end();
  if (code !== 0)
    return {
      step: 'apt',
      outcome: 'failed',
      detail: `apt-get install ${APT_PACKAGES.join(' ')} exited with ${code} (its output is above)`,
    };
  const probe = await host.probe(host.systemPython);
  if (!probe.ok)
    return {
      step: 'apt',
      outcome: 'failed',
      detail: `${host.systemPython} still cannot import torch and numpy after the install: ${probe.detail ?? 'unknown reason'}`,
    };
  return { step: 'apt', outcome: 'done', detail: `${host.systemPython}: torch ${probe.torch}`, python: probe };
}

/**
 * The interpreter to train with: found, or provisioned (see the file comment). `log` receives
 * what is being done and why, and the installers' output.
 */
export async function resolveTrainingPython(host: ProvisionHost, log: (line: string) => void = () => undefined): Promise<TrainingPython> {
  const override = host.env.MLOOP_PYTHON?.trim();
  if (override) {
    const probe = await host.probe(override);
    if (probe.ok) return { python: override, source: 'MLOOP_PYTHON', probe };
    throw new TrainingEnvironmentError(
      `MLOOP_PYTHON=${override} cannot be used for training: ${probe.detail ?? 'it cannot import torch and numpy'}. ` +
        `Point MLOOP_PYTHON at an interpreter with PyTorch and numpy, or unset it to let mloop find or set one up (${host.candidates.join(', ')}, then ${venvDirectory(host)}).`,
      [],
    );
  }
  const first = await firstUsable(host, searchList(host));
  if (first.found)
    return { python: first.found.python, source: first.found.python === provisionedPython(host) ? 'venv' : 'found', probe: first.found };

  const steps: ProvisionStep[] = [];
  if (!provisioningOff(host.env)) {
    const provisioned = await withLock(host.cacheDir, log, async (): Promise<TrainingPython | undefined> => {
      // Another process may have finished while this one waited for the lock.
      const again = await firstUsable(host, searchList(host));
      if (again.found)
        return {
          python: again.found.python,
          source: again.found.python === provisionedPython(host) ? 'venv' : 'found',
          probe: again.found,
        };
      for (const attempt of [() => tryVenv(host, again.probes, log), () => tryApt(host, log)]) {
        const { python, ...step } = await attempt();
        steps.push(step);
        if (step.outcome !== 'done') log(`Training environment: ${step.step} ${step.outcome}: ${step.detail}.`);
        if (python) return { python: python.python, source: step.step, probe: python };
      }
      return undefined;
    });
    if (provisioned) {
      log(`Training environment ready: ${provisioned.python} (torch ${provisioned.probe.torch}).`);
      return provisioned;
    }
  }
  const why = [
    `none of ${first.probes.map((p) => `${p.python} (${p.detail ?? 'no torch'})`).join(', ')} can import torch and numpy`,
    ...(provisioningOff(host.env) ? ['provisioning is off (MLOOP_PROVISION)'] : steps.map((s) => `${s.step} ${s.outcome}: ${s.detail}`)),
  ].join('; ');
  throw new TrainingEnvironmentError(
    `PyTorch (torch) was not found and mloop could not set it up: ${why}. To fix it, run: ${manualCommands(host).join('   ')} (or set MLOOP_PYTHON to a Python interpreter that has torch and numpy).`,
    steps,
  );
}
