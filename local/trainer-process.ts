/**
 * The training script's process, tied to the life of the mloop process that runs the job.
 *
 * A script started plainly outlives a CLI that is killed (`kill`, SIGKILL, a closed terminal's
 * SIGHUP to the CLI only): re-parented to PID 1, it keeps training and writing checkpoints into
 * the job's folders while the next mloop command recovers the execution and starts the same job
 * again, two writers on one checkpoint folder. On AWS the job dies with its instance. So the script
 * is started through a few lines of Python that ask Linux to send it SIGTERM when its parent dies
 * (prctl PR_SET_PDEATHSIG, which a signal handler in Node could not do for SIGKILL), check that the
 * parent did not die before that, then run the script as `python script.py args` would: `__main__`,
 * `sys.argv`, `sys.path[0]` the script's folder. Where prctl does not exist (macOS) the script
 * runs the same, without the tie.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Run before the script: argv is [-c, parent pid, script, args...]. */
const BOOTSTRAP = [
  'import os, runpy, signal, sys',
  'parent = int(sys.argv[1])',
  'try:',
  '    import ctypes',
  '    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG',
  'except (OSError, AttributeError):',
  '    pass  # no prctl (not Linux): the script is not tied to its parent',
  'if os.getppid() != parent:',
  '    sys.exit("mloop: the process that started this training job is gone; the script does not start")',
  'script = sys.argv[2]',
  'sys.argv = sys.argv[2:]',
  'sys.path[0] = os.path.dirname(os.path.abspath(script))',
  "runpy.run_path(script, run_name='__main__')",
].join('\n');

export interface TrainerProcessOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Start `python script args...` (stdout and stderr piped), ended by the kernel if this process dies. */
export function spawnTrainerProcess(
  python: string,
  script: string,
  args: readonly string[],
  options: TrainerProcessOptions,
): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(python, ['-c', BOOTSTRAP, String(process.pid), script, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
