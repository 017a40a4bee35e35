/**
 * The local training script's process (local/trainer-process.ts): it runs as `python script.py
 * args` would, and it does not outlive the mloop process that started it, even one killed with
 * SIGKILL.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnTrainerProcess } from '../local/trainer-process';

jest.setTimeout(60_000);

const PYTHON = process.env.MLOOP_PYTHON ?? 'python3';
const ROOT = path.join(__dirname, '..');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-trainer-process-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

test('the script runs as `python script.py args` would: __main__, argv, its folder first on sys.path, its exit code', async () => {
  const code = path.join(dir, 'code', 'sub');
  fs.mkdirSync(code, { recursive: true });
  fs.writeFileSync(path.join(code, 'helper.py'), 'VALUE = 42\n');
  fs.writeFileSync(
    path.join(code, 'train.py'),
    [
      'import json, os, sys',
      'import helper',
      'print(json.dumps({"name": __name__, "argv": sys.argv, "path0": sys.path[0], "file": __file__, "value": helper.VALUE, "env": os.environ.get("ONLY_THIS")}))',
      'sys.stderr.write("to stderr\\n")',
      'sys.exit(3)',
    ].join('\n'),
  );
  const script = path.join(code, 'train.py');
  const child = spawnTrainerProcess(PYTHON, script, ['--epochs', '2'], { cwd: dir, env: { PATH: process.env.PATH, ONLY_THIS: 'yes' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(exit).toBe(3);
  expect(err).toBe('to stderr\n');
  expect(JSON.parse(out)).toEqual({ name: '__main__', argv: [script, '--epochs', '2'], path0: code, file: script, value: 42, env: 'yes' });
});

test('a script whose mloop process is killed with SIGKILL is ended too, instead of training on as an orphan', async () => {
  if (process.platform !== 'linux') return; // prctl(PR_SET_PDEATHSIG) is Linux's
  const pidFile = path.join(dir, 'script.pid');
  const script = path.join(dir, 'forever.py');
  fs.writeFileSync(script, `import os, time\nopen(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))\ntime.sleep(120)\n`);
  // A stand-in for the CLI: a Node process that starts the script the way the local trainer does.
  const parent = spawn(
    process.execPath,
    [
      '-r',
      'tsx/cjs',
      '-e',
      `require(${JSON.stringify(path.join(ROOT, 'local', 'trainer-process.ts'))}).spawnTrainerProcess(${JSON.stringify(PYTHON)}, ${JSON.stringify(script)}, [], { cwd: ${JSON.stringify(dir)}, env: process.env }); setInterval(() => {}, 1000);`,
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  expect(await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', 30_000)).toBe(true);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  expect(alive(pid)).toBe(true);
  parent.kill('SIGKILL');
  expect(await until(() => !alive(pid), 10_000)).toBe(true);
});
