/**
 * The training environment on a fresh machine (issue 11): which Python mloop trains with, and
 * what it does when none imports torch. Real processes throughout (probe, venv, pip, apt-get),
 * played by small shell scripts, and a package index on loopback, so every branch of the decision
 * runs as it would on a machine: found, MLOOP_PYTHON, a venv from the requirements where an index
 * answers, apt-get on Debian as root, and the exact commands otherwise.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  defaultHost,
  INDEX_TIMEOUT_MS,
  isDebianLike,
  probePython,
  provisionedPython,
  provisioningPlan,
  resolveTrainingPython,
  throttledProgress,
  TrainingEnvironmentError,
  venvDirectory,
  type ProvisionHost,
} from '../local/provision';
import { tempDir } from './helpers/cloud';

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n';
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\n';

const OK = '{"version":"3.11.2","venv":true,"numpy":"1.24.2","torch":"1.13.0a0","cuda":false}';
const NO_TORCH = (venv: boolean) => `{"version":"3.11.7","venv":${venv},"numpy":"1.26.0","detail":"torch: No module named torch"}`;

let dir: string;
let index: http.Server;
let indexUrl: string;
let closedUrl: string;

/** An executable shell script. */
function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** Count the times a fake tool ran: each run appends a line to <name>.calls. */
const calls = (name: string) =>
  fs.existsSync(path.join(dir, `${name}.calls`))
    ? fs
        .readFileSync(path.join(dir, `${name}.calls`), 'utf8')
        .trim()
        .split('\n').length
    : 0;

beforeAll(async () => {
  dir = tempDir('provision');
  index = http.createServer((req, res) => {
    res.writeHead(req.url?.endsWith('/pip/') ? 200 : 404);
    res.end();
  });
  await new Promise<void>((resolve) => index.listen(0, '127.0.0.1', () => resolve()));
  indexUrl = `http://127.0.0.1:${(index.address() as AddressInfo).port}/simple/`;
  // A port that was just free: nothing listens, so a connection is refused at once.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/simple/`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  script('torch-python', `[ "$1" = "-c" ] && echo '${OK}'`);
  script('bare-python', `[ "$1" = "-c" ] && echo '${NO_TORCH(false)}'`);
  // A Python that makes virtual environments: `-m venv DIR` writes DIR/bin/python, which imports
  // torch once its `-m pip install` ran.
  const venvPython = [
    'here=$(dirname "$0")/..',
    `if [ "$1" = "-c" ]; then if [ -f "$here/installed" ]; then echo '${OK}'; else echo '${NO_TORCH(true)}'; fi; exit 0; fi`,
    `if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo pip >> "${dir}/pip.calls"; echo "Collecting torch==2.6.0"; echo "Installing collected packages: numpy, torch"; [ -n "$FAIL_PIP" ] && exit 1; sleep 0.2; touch "$here/installed"; echo "Successfully installed"; exit 0; fi`,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'venv-python.sh'), `#!/bin/sh\n${venvPython}\n`, { mode: 0o755 });
  script(
    'venv-capable-python',
    [
      `if [ "$1" = "-c" ]; then echo '${NO_TORCH(true)}'; exit 0; fi`,
      `if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "${dir}/venv-python.sh" "$3/bin/python"; exit 0; fi`,
      'exit 2',
    ].join('\n'),
  );
  // The system Python that apt-get installs torch into, and apt-get itself.
  script(
    'system-python',
    `[ "$1" = "-c" ] || exit 2\nif [ -f "${dir}/apt-installed" ]; then echo '${OK}'; else echo '${NO_TORCH(false)}'; fi`,
  );
  script(
    'apt-get',
    [
      `echo "apt-get $*" >> "${dir}/apt.calls"`,
      '[ -n "$FAIL_APT" ] && { echo "E: Unable to locate package python3-torch"; exit 100; }',
      '[ "$DEBIAN_FRONTEND" = noninteractive ] || { echo "E: not noninteractive"; exit 1; }',
      `if [ "$1" = "install" ]; then for i in 1 2 3; do echo "Unpacking python3-torch ($i/3) ..."; done; touch "${dir}/apt-installed"; fi`,
      'echo "Done"',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'torch==2.6.0\nnumpy>=1.21,<3\n');
});

afterAll(async () => {
  await new Promise<void>((resolve) => index.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  for (const f of ['apt-installed', 'pip.calls', 'apt.calls']) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmSync(path.join(dir, 'cache'), { recursive: true, force: true });
  delete process.env.FAIL_PIP;
  delete process.env.FAIL_APT;
});

/** This machine's host with the fakes in place of interpreters, index and apt-get. */
function host(overrides: Partial<ProvisionHost> & { env?: Record<string, string | undefined> } = {}): ProvisionHost {
  const env = { PATH: process.env.PATH, PIP_INDEX_URL: indexUrl, ...overrides.env };
  return {
    ...defaultHost(env),
    candidates: [path.join(dir, 'bare-python')],
    systemPython: path.join(dir, 'system-python'),
    cacheDir: path.join(dir, 'cache'),
    requirementsFile: path.join(dir, 'requirements.txt'),
    platform: 'linux',
    isRoot: true,
    osRelease: DEBIAN,
    aptGet: path.join(dir, 'apt-get'),
    ...overrides,
    env,
  };
}

async function resolveLogged(h: ProvisionHost) {
  const log: string[] = [];
  const result = await resolveTrainingPython(h, (line) => log.push(line));
  return { result, log };
}

describe('finding the Python to train with', () => {
  test('MLOOP_PYTHON wins when it imports torch, and is never replaced when it does not', async () => {
    const chosen = await resolveTrainingPython(host({ env: { MLOOP_PYTHON: path.join(dir, 'torch-python') } }));
    expect(chosen).toMatchObject({
      python: path.join(dir, 'torch-python'),
      source: 'MLOOP_PYTHON',
      probe: { torch: '1.13.0a0', numpy: '1.24.2', cuda: false },
    });

    const bad = resolveTrainingPython(host({ env: { MLOOP_PYTHON: path.join(dir, 'bare-python') } }));
    await expect(bad).rejects.toThrow(TrainingEnvironmentError);
    await expect(bad).rejects.toThrow(
      /MLOOP_PYTHON=.*bare-python cannot be used for training: torch: No module named torch\. Point MLOOP_PYTHON at an interpreter/,
    );
    expect(calls('apt')).toBe(0);
    expect(calls('pip')).toBe(0);
  });

  test('the first candidate that imports torch and numpy is used, and nothing is installed', async () => {
    const h = host({ candidates: [path.join(dir, 'missing-python'), path.join(dir, 'bare-python'), path.join(dir, 'torch-python')] });
    const { result, log } = await resolveLogged(h);
    expect(result).toMatchObject({ python: path.join(dir, 'torch-python'), source: 'found' });
    expect(log).toEqual([]);
    expect(calls('apt') + calls('pip')).toBe(0);
  });
});

describe('setting it up where none imports torch', () => {
  test('a virtual environment from the requirements where a Python can make one and the index answers; the next search finds it', async () => {
    const h = host({ candidates: [path.join(dir, 'bare-python'), path.join(dir, 'venv-capable-python')] });
    const { result, log } = await resolveLogged(h);
    const venv = venvDirectory(h);
    expect(result).toMatchObject({ python: path.join(venv, 'bin', 'python'), source: 'venv', probe: { torch: '1.13.0a0' } });
    expect(log[0]).toMatch(
      new RegExp(
        `^Setting up the training environment: no Python here can import torch, so mloop creates one in ${venv} .* and installs .*requirements\\.txt from ${indexUrl}`,
      ),
    );
    expect(log.some((l) => /Collecting torch==2\.6\.0/.test(l))).toBe(true);
    expect(log[log.length - 1]).toMatch(/^Training environment ready: .*bin\/python \(torch 1\.13\.0a0\)\.$/);
    expect(calls('pip')).toBe(1);
    expect(calls('apt')).toBe(0);
    expect(provisionedPython(h)).toBe(path.join(venv, 'bin', 'python'));

    // Next time: found, not installed again.
    const again = await resolveLogged(h);
    expect(again.result).toMatchObject({ source: 'venv' });
    expect(again.log).toEqual([]);
    expect(calls('pip')).toBe(1);
  });

  test('a virtual environment that a killed run left unfinished is made again', async () => {
    const h = host({ candidates: [path.join(dir, 'venv-capable-python')] });
    fs.mkdirSync(path.join(venvDirectory(h), 'bin'), { recursive: true });
    fs.writeFileSync(path.join(venvDirectory(h), 'half-written'), '');
    const { result } = await resolveLogged(h);
    expect(result.source).toBe('venv');
    expect(fs.existsSync(path.join(venvDirectory(h), 'half-written'))).toBe(false);
  });

  test('without an index that answers, it falls through in seconds to apt-get on Debian as root', async () => {
    const h = host({ candidates: [path.join(dir, 'venv-capable-python')], env: { PIP_INDEX_URL: closedUrl } });
    const started = Date.now();
    const { result, log } = await resolveLogged(h);
    expect(Date.now() - started).toBeLessThan(INDEX_TIMEOUT_MS + 3000);
    expect(result).toMatchObject({ python: path.join(dir, 'system-python'), source: 'apt' });
    expect(log[0]).toMatch(
      new RegExp(
        `^Training environment: venv skipped: the package index does not answer: ${closedUrl}pip/ cannot be reached \\(ECONNREFUSED\\)`,
      ),
    );
    expect(log[1]).toMatch(/^Setting up the training environment: .*installs Debian's python3-torch and python3-numpy with apt-get/);
    expect(fs.readFileSync(path.join(dir, 'apt.calls'), 'utf8').trim().split('\n')).toEqual([
      'apt-get update',
      'apt-get install -y --no-install-recommends python3-torch python3-numpy',
    ]);
    expect(calls('pip')).toBe(0);
  });

  test('the plan (what mloop doctor reports) names the step a first run takes and why the ones before it do not apply, installing nothing', async () => {
    const venvCapable = [await probePython(path.join(dir, 'venv-capable-python'))];
    expect(await provisioningPlan(host(), venvCapable)).toEqual({ next: 'venv', skipped: [] });
    expect(await provisioningPlan(host({ env: { PIP_INDEX_URL: closedUrl } }), venvCapable)).toEqual({
      next: 'apt',
      skipped: [{ step: 'venv', outcome: 'skipped', detail: expect.stringMatching(/^the package index does not answer/) }],
    });
    expect(await provisioningPlan(host({ isRoot: false, env: { PIP_INDEX_URL: closedUrl } }), venvCapable)).toMatchObject({
      next: 'manual',
      skipped: [{ step: 'venv' }, { step: 'apt', detail: expect.stringMatching(/not running as root/) }],
    });
    expect(calls('pip') + calls('apt')).toBe(0);
  });

  test('a failed pip install falls through to apt-get, saying why', async () => {
    process.env.FAIL_PIP = '1';
    const { result, log } = await resolveLogged(host({ candidates: [path.join(dir, 'venv-capable-python')], osRelease: UBUNTU }));
    expect(result.source).toBe('apt');
    expect(log).toContainEqual(
      expect.stringMatching(
        /^Training environment: venv failed: pip install -r .*requirements\.txt exited with 1 \(its output is above\)\.$/,
      ),
    );
  });

  test('elsewhere it stops with the exact commands for the platform', async () => {
    const notRoot = resolveTrainingPython(host({ isRoot: false, env: { PIP_INDEX_URL: closedUrl } }));
    await expect(notRoot).rejects.toThrow(
      /apt skipped: mloop is not running as root.*run: sudo apt-get update && sudo apt-get install -y --no-install-recommends python3-torch python3-numpy/,
    );

    const fedora = resolveTrainingPython(host({ osRelease: FEDORA, env: { PIP_INDEX_URL: closedUrl } }));
    await expect(fedora).rejects.toThrow(
      /apt skipped: this is not Debian or Ubuntu.*run: python3 -m venv .*cache\/python-[0-9a-f]{8} .*bin\/python -m pip install -r .*requirements\.txt .*export MLOOP_PYTHON=/,
    );

    process.env.FAIL_APT = '1';
    const aptFails = resolveTrainingPython(host({ env: { PIP_INDEX_URL: closedUrl } }));
    await expect(aptFails).rejects.toThrow(/apt failed: apt-get update exited with 100/);

    const off = resolveTrainingPython(host({ env: { MLOOP_PROVISION: 'never' } }));
    await expect(off).rejects.toThrow(/provisioning is off \(MLOOP_PROVISION\)/);
    expect(calls('pip')).toBe(0);
  });

  test('two processes setting up at once install once: the second waits for the first and finds its environment', async () => {
    const h = host({ candidates: [path.join(dir, 'venv-capable-python')] });
    const [a, b] = await Promise.all([resolveLogged(h), resolveLogged(h)]);
    expect([a.result.source, b.result.source].sort()).toEqual(['venv', 'venv']);
    expect(calls('pip')).toBe(1);
  });
});

describe('helpers', () => {
  test('Debian and Ubuntu, and their derivatives, are told apart from other systems', () => {
    expect(isDebianLike(DEBIAN)).toBe(true);
    expect(isDebianLike(UBUNTU)).toBe(true);
    expect(isDebianLike('ID=linuxmint\nID_LIKE="ubuntu debian"\n')).toBe(true);
    expect(isDebianLike(FEDORA)).toBe(false);
    expect(isDebianLike(undefined)).toBe(false);
  });

  test("an installer's output becomes progress: the first line, problems and the last line always, else one line per interval", () => {
    let now = 0;
    const shown: string[] = [];
    const progress = throttledProgress(
      (line) => shown.push(line.trim()),
      1000,
      () => now,
    );
    for (let i = 1; i <= 10; i++) {
      now = i * 300;
      progress.line(`Unpacking ${i}`);
    }
    progress.line('E: dpkg was interrupted');
    progress.line('Setting up python3-torch');
    progress.end();
    // At 300 ms the first, at 1,500 and 2,700 ms one each; the problem at once; the last at the end.
    expect(shown).toEqual(['Unpacking 1', 'Unpacking 5', 'Unpacking 9', 'E: dpkg was interrupted', 'Setting up python3-torch']);
  });
});
