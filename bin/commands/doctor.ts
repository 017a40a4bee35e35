/**
 * `mloop doctor [--json]`: what mloop finds on this machine, without changing anything: Node.js,
 * the Python it would train with (torch, numpy, CUDA), the other interpreters it looked at and
 * why each is not used, what it would do to set up training where none is usable, MLOOP_HOME and
 * the emulators of the process that owns it, if one runs.
 *
 * --json prints {"node", "python", "candidates", "provisioning", "home"}; exit 0 when training
 * can run (a usable Python, or one mloop can set up), else 1.
 */
import * as fs from 'node:fs';
import { defaultHome, readRuntimeOwner, type RuntimeOwner } from '../../local/runtime-claim';
import { sameProcessAlive } from '../../local/executions';
import {
  cacheDirectory,
  defaultHost,
  manualCommands,
  provisionedPython,
  provisioningPlan,
  searchList,
  venvDirectory,
  type ProvisionHost,
  type ProvisionStep,
  type PythonProbe,
} from '../../local/provision';

export const DOCTOR_USAGE = `  mloop doctor                                           what mloop finds here: Node.js, Python and torch, CUDA, MLOOP_HOME, the emulators`;

interface DoctorIo {
  json: boolean;
  out: (text: string) => void;
}

export interface DoctorReport {
  readonly node: { readonly version: string; readonly ok: boolean; readonly note?: string };
  /** The interpreter training would use now, or null. */
  readonly python: (PythonProbe & { readonly source: 'MLOOP_PYTHON' | 'found' | 'venv' }) | null;
  readonly candidates: readonly PythonProbe[];
  readonly provisioning: {
    readonly cacheDir: string;
    readonly venv: { readonly dir: string; readonly ready: boolean };
    /** What the first training run would do: nothing, set up a venv, apt-get, or stop with `commands`. */
    readonly next: 'none' | 'venv' | 'apt' | 'manual';
    /** The steps before `next` that do not apply here, each with why. */
    readonly skipped: readonly ProvisionStep[];
    readonly commands: readonly string[];
  };
  readonly home: {
    readonly path: string;
    readonly exists: boolean;
    /** The process that owns the home's emulators, when one runs. */
    readonly owner: RuntimeOwner | null;
  };
}

/** Gather the report (nothing is installed, started or written). */
export async function diagnose(host: ProvisionHost = defaultHost(), home = defaultHome()): Promise<DoctorReport> {
  const major = Number(process.versions.node.split('.')[0]);
  const node = {
    version: process.version,
    ok: major >= 20,
    ...(major < 22
      ? {
          note: 'Lambda runs mloop on Node.js 24; this Node.js runs the CLI and the local runtime, and AWS SDK releases after early 2027 need Node.js 22.',
        }
      : {}),
  };
  // The same search training makes (local/provision.ts), each interpreter probed to say why it is not used.
  const override = host.env.MLOOP_PYTHON?.trim();
  const provisioned = provisionedPython(host);
  const candidates: PythonProbe[] = [];
  for (const python of override ? [override] : searchList(host)) candidates.push(await host.probe(python));
  const usable = candidates.find((c) => c.ok);
  const python = usable
    ? { ...usable, source: override ? ('MLOOP_PYTHON' as const) : usable.python === provisioned ? ('venv' as const) : ('found' as const) }
    : null;
  const plan = usable
    ? { next: 'none' as const, skipped: [] }
    : override
      ? { next: 'manual' as const, skipped: [] }
      : await provisioningPlan(host, candidates);

  const owner = readRuntimeOwner(home);
  return {
    node,
    python,
    candidates,
    provisioning: {
      cacheDir: cacheDirectory(host.env),
      venv: { dir: venvDirectory(host), ready: provisioned !== undefined },
      ...plan,
      commands: plan.next === 'manual' ? manualCommands(host) : [],
    },
    home: { path: home, exists: fs.existsSync(home), owner: owner && sameProcessAlive(owner.pid, undefined) ? withoutSecret(owner) : null },
  };
}

function describe(report: DoctorReport): string {
  const lines = [
    `Node.js   ${report.node.version}${report.node.ok ? '' : ' (mloop needs 20 or newer)'}${report.node.note ? `\n          ${report.node.note}` : ''}`,
  ];
  if (report.python) {
    const p = report.python;
    lines.push(
      `Python    ${p.python} (Python ${p.version}, ${p.source === 'MLOOP_PYTHON' ? 'from MLOOP_PYTHON' : p.source === 'venv' ? 'set up by mloop' : 'found'})`,
    );
    lines.push(`torch     ${p.torch}, numpy ${p.numpy}; CUDA ${p.cuda ? 'available' : 'not available (training runs on the CPU)'}`);
  } else {
    lines.push('Python    none can import torch and numpy:');
  }
  for (const c of report.candidates)
    if (c !== report.python && !(report.python && c.python === report.python.python))
      lines.push(`          ${c.python}: ${c.ok ? 'usable' : (c.detail ?? 'no torch')}`);
  const p = report.provisioning;
  if (p.next === 'venv') lines.push(`Training  the first run sets up ${p.venv.dir}`);
  else if (p.next === 'apt') lines.push("Training  the first run installs Debian's python3-torch and python3-numpy with apt-get");
  else if (p.next === 'manual') lines.push(`Training  mloop cannot set it up here; run: ${p.commands.join('   ')}`);
  for (const step of p.skipped) lines.push(`          (${step.step} does not apply: ${step.detail})`);
  lines.push(`Cache     ${p.cacheDir}`);
  lines.push(`Home      ${report.home.path}${report.home.exists ? '' : ' (not created yet)'}`);
  const o = report.home.owner;
  lines.push(
    o
      ? `Emulators served by process ${o.pid} since ${o.startedAt ?? '?'}: S3 ${o.s3Endpoint ?? '-'}, DynamoDB ${o.dynamoEndpoint ?? '-'}, Step Functions ${o.sfnEndpoint ?? '-'}`
      : 'Emulators not running (each mloop command starts them on free loopback ports)',
  );
  return lines.join('\n');
}

export async function commandDoctor(io: DoctorIo): Promise<number> {
  const report = await diagnose();
  if (io.json) io.out(JSON.stringify(report));
  else io.out(describe(report));
  return report.node.ok && report.provisioning.next !== 'manual' ? 0 : 1;
}

/** The runtime record as a report shows it: the edge's secret key stays in runtime.json (a report is pasted into issues). */
function withoutSecret(owner: RuntimeOwner): RuntimeOwner {
  const { secretAccessKey: _secret, ...shown } = owner;
  return shown;
}
