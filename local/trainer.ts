/**
 * SageMaker's CreateTrainingJob, run on this machine under the same script-mode contract:
 * the channels are downloaded from S3 into input/data/<channel>/, hyperparameters are written to
 * input/config/hyperparameters.json and passed as arguments and SM_HPS, the SM_* variables point
 * at the job's folders, the code comes from `sagemaker_submit_directory` (a tar.gz in S3, as on
 * AWS), and SM_MODEL_DIR is packed into <S3OutputPath>/<job>/output/model.tar.gz. A failing
 * script's failure file becomes the job's FailureReason, as on SageMaker.
 *
 * CheckpointConfig is honoured: the checkpoints under its S3Uri are restored into SM_CHECKPOINT_DIR
 * before the script starts and that folder is uploaded back when it ends (SageMaker syncs it
 * continuously; here, a re-run of the same job name resumes from what the last run left).
 * Managed spot training, warm pools, VPC config and KMS key ids have no local meaning: a job
 * that sets them runs on this machine all the same, and the log says they were ignored.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { parseS3Uri, s3Uri } from '../lambdas/shared/layout';
import { getStream, listKeys, upload } from '../lambdas/shared/storage';
import { findPython } from './python';
import { trainerEnvironment } from './trainer-env';
import { spawnTrainerProcess } from './trainer-process';

/** The parts of CreateTrainingJob's request that the local runner reads. */
export interface CreateTrainingJobRequest {
  readonly TrainingJobName: string;
  readonly AlgorithmSpecification: { readonly TrainingImage?: string; readonly MetricDefinitions?: { Name: string; Regex: string }[] };
  readonly HyperParameters?: Record<string, string>;
  readonly InputDataConfig?: { ChannelName: string; DataSource: { S3DataSource: { S3Uri: string } } }[];
  readonly OutputDataConfig: { S3OutputPath: string; KmsKeyId?: string };
  readonly ResourceConfig?: { InstanceType?: string; InstanceCount?: number; KeepAlivePeriodInSeconds?: number; VolumeKmsKeyId?: string };
  readonly StoppingCondition?: { MaxRuntimeInSeconds?: number; MaxWaitTimeInSeconds?: number };
  readonly CheckpointConfig?: { S3Uri: string; LocalPath?: string };
  readonly EnableManagedSpotTraining?: boolean;
  readonly VpcConfig?: { SecurityGroupIds?: string[]; Subnets?: string[] };
}

/** The request fields that only mean something on AWS, by name, when the request sets them. */
function awsOnlySettings(request: CreateTrainingJobRequest): string[] {
  return [
    request.EnableManagedSpotTraining ? 'EnableManagedSpotTraining' : '',
    request.StoppingCondition?.MaxWaitTimeInSeconds !== undefined ? 'MaxWaitTimeInSeconds' : '',
    request.ResourceConfig?.KeepAlivePeriodInSeconds !== undefined ? 'KeepAlivePeriodInSeconds (warm pool)' : '',
    request.VpcConfig ? 'VpcConfig' : '',
    request.ResourceConfig?.VolumeKmsKeyId || request.OutputDataConfig.KmsKeyId ? 'KMS key ids' : '',
  ].filter(Boolean);
}

/** Every file under `dir`, relative, with '/' separators. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) =>
      path
        .relative(dir, path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))
        .split(path.sep)
        .join('/'),
    )
    .sort();
}

/** Upload the checkpoint folder to the CheckpointConfig prefix (what SageMaker's sync does). */
async function uploadCheckpoints(dir: string, uri: string): Promise<number> {
  const { bucket, key } = parseS3Uri(uri);
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  const files = filesUnder(dir);
  for (const file of files) await upload(bucket, `${prefix}${file}`, fs.createReadStream(path.join(dir, file)), 'application/octet-stream');
  return files.length;
}

/** The DescribeTrainingJob fields the pipeline reads (its ResultSelector). */
export interface TrainingJobDescription {
  readonly TrainingJobName: string;
  readonly TrainingJobStatus: 'Completed' | 'Failed';
  readonly ModelArtifacts?: { S3ModelArtifacts: string };
  readonly FinalMetricDataList?: { MetricName: string; Value: number }[];
  readonly FailureReason?: string;
  readonly TrainingTimeInSeconds?: number;
}

/** The error a failed .sync task raises: Step Functions' States.TaskFailed with the job's description. */
export class TrainingJobFailed extends Error {
  constructor(readonly description: TrainingJobDescription) {
    super(JSON.stringify(description));
    this.name = 'States.TaskFailed';
  }
}

export interface TrainerOptions {
  /** Where job folders live (MLOOP_HOME/training). */
  readonly workDir: string;
  /** Receives the script's output lines as they come (stdout and stderr). */
  readonly onLog?: (line: string) => void;
  /** Replace the code in `sagemaker_submit_directory` with a local folder (a user's own training code). */
  readonly codeDir?: string;
}

async function download(uri: string, dir: string): Promise<number> {
  const { bucket, key } = parseS3Uri(uri);
  const keys = key.endsWith('/') || key === '' ? await listKeys(bucket, key) : [key];
  fs.mkdirSync(dir, { recursive: true });
  for (const k of keys) {
    const rel = key.endsWith('/') ? k.slice(key.length) : path.basename(k);
    if (rel === '' || rel.endsWith('/')) continue;
    const target = path.join(dir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await pipeline(await getStream(bucket, k), fs.createWriteStream(target));
  }
  return keys.length;
}

function parseMetrics(log: string, definitions: { Name: string; Regex: string }[]): { MetricName: string; Value: number }[] {
  const out: { MetricName: string; Value: number }[] = [];
  for (const def of definitions) {
    const matches = [...log.matchAll(new RegExp(def.Regex, 'g'))];
    const last = matches[matches.length - 1];
    if (last && Number.isFinite(Number(last[1]))) out.push({ MetricName: def.Name, Value: Number(last[1]) });
  }
  return out;
}

export async function runTrainingJob(request: CreateTrainingJobRequest, options: TrainerOptions): Promise<TrainingJobDescription> {
  const name = request.TrainingJobName;
  const started = Date.now();
  const root = path.join(options.workDir, name);
  fs.rmSync(root, { recursive: true, force: true });
  const dirs = {
    input: path.join(root, 'input'),
    config: path.join(root, 'input', 'config'),
    data: path.join(root, 'input', 'data'),
    code: path.join(root, 'code'),
    model: path.join(root, 'model'),
    output: path.join(root, 'output'),
    outputData: path.join(root, 'output', 'data'),
    checkpoints: path.join(root, 'checkpoints'),
  };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });

  const fail = (reason: string): never => {
    throw new TrainingJobFailed({ TrainingJobName: name, TrainingJobStatus: 'Failed', FailureReason: reason });
  };

  const hyperparameters = { ...(request.HyperParameters ?? {}) };
  const program = hyperparameters.sagemaker_program;
  if (!program) fail('AlgorithmError: hyperparameter sagemaker_program is not set: script mode needs the entry point.');

  // The code: a user's folder when given, else the submitted tar.gz, exactly as SageMaker gets it.
  if (options.codeDir) {
    fs.cpSync(options.codeDir, dirs.code, { recursive: true });
  } else {
    const submitted = hyperparameters.sagemaker_submit_directory;
    if (!submitted) fail('AlgorithmError: hyperparameter sagemaker_submit_directory is not set.');
    const { bucket, key } = parseS3Uri(submitted);
    await pipeline(await getStream(bucket, key), tar.extract({ cwd: dirs.code }));
  }
  const entry = path.join(dirs.code, program);
  if (!fs.existsSync(entry)) fail(`AlgorithmError: the training code has no entry point '${program}'.`);

  const ignored = awsOnlySettings(request);
  if (ignored.length > 0) options.onLog?.(`local training ignores ${ignored.join(', ')}: they only mean something on AWS`);
  const checkpointUri = request.CheckpointConfig?.S3Uri;
  if (checkpointUri) {
    // The prefix form: a bare key would download one object, SageMaker reads a "folder".
    const restored = await download(checkpointUri.endsWith('/') ? checkpointUri : `${checkpointUri}/`, dirs.checkpoints);
    options.onLog?.(`checkpoints: ${restored === 0 ? 'none yet' : `restored ${restored} file(s)`} from ${checkpointUri}`);
  }

  const channels: Record<string, string> = {};
  for (const channel of request.InputDataConfig ?? []) {
    const dir = path.join(dirs.data, channel.ChannelName);
    const count = await download(channel.DataSource.S3DataSource.S3Uri, dir);
    if (count === 0) fail(`ClientError: channel '${channel.ChannelName}' (${channel.DataSource.S3DataSource.S3Uri}) holds no objects.`);
    channels[channel.ChannelName] = dir;
  }
  fs.writeFileSync(path.join(dirs.config, 'hyperparameters.json'), JSON.stringify(hyperparameters));
  fs.writeFileSync(
    path.join(dirs.config, 'inputdataconfig.json'),
    JSON.stringify(Object.fromEntries(Object.keys(channels).map((c) => [c, { TrainingInputMode: 'File' }]))),
  );

  // The user's hyperparameters, as the SageMaker toolkit passes them: --name value, SM_HPS, SM_HP_*.
  const userHps = Object.fromEntries(Object.entries(hyperparameters).filter(([k]) => !k.startsWith('sagemaker_')));
  const args = Object.entries(userHps).flatMap(([k, v]) => [`--${k}`, String(v)]);
  // The SageMaker contract's variables, and of the user's shell only what Python needs (./trainer-env.ts).
  const env = trainerEnvironment(process.env, {
    SM_TRAINING_ENV: JSON.stringify({ job_name: name, hyperparameters: userHps, channel_input_dirs: channels }),
    SM_HPS: JSON.stringify(userHps),
    SM_MODEL_DIR: dirs.model,
    SM_OUTPUT_DIR: dirs.output,
    SM_OUTPUT_DATA_DIR: dirs.outputData,
    SM_INPUT_DIR: dirs.input,
    SM_INPUT_CONFIG_DIR: dirs.config,
    SM_CHANNELS: JSON.stringify(Object.keys(channels)),
    SM_CURRENT_HOST: 'algo-1',
    SM_HOSTS: JSON.stringify(['algo-1']),
    SM_NUM_GPUS: '0',
    SM_NUM_CPUS: String(os.cpus().length),
    SM_MODULE_DIR: hyperparameters.sagemaker_submit_directory ?? dirs.code,
    SM_USER_ENTRY_POINT: program,
    SM_CHECKPOINT_DIR: dirs.checkpoints,
    PYTHONUNBUFFERED: '1',
    ...Object.fromEntries(Object.entries(userHps).map(([k, v]) => [`SM_HP_${k.toUpperCase()}`, String(v)])),
    ...Object.fromEntries(Object.entries(channels).map(([c, d]) => [`SM_CHANNEL_${c.toUpperCase()}`, d])),
  });

  const python = await findPython(options.onLog);
  const log: string[] = [];
  const maxRuntimeMs = (request.StoppingCondition?.MaxRuntimeInSeconds ?? 86400) * 1000;
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    // Tied to this process: a killed CLI leaves no script training on (./trainer-process.ts).
    const child = spawnTrainerProcess(python, entry, args, { cwd: dirs.code, env });
    const timer = setTimeout(() => child.kill('SIGTERM'), maxRuntimeMs);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log.push(text);
      for (const line of text.split('\n')) if (line.trim() !== '') options.onLog?.(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const output = log.join('');
  if (checkpointUri) {
    // Also after a failure: the next run of this job resumes from them, as after a spot interruption.
    const saved = await uploadCheckpoints(dirs.checkpoints, checkpointUri);
    if (saved > 0) options.onLog?.(`checkpoints: saved ${saved} file(s) to ${checkpointUri}`);
  }
  if (exitCode !== 0) {
    const failureFile = path.join(dirs.output, 'failure');
    const reason = fs.existsSync(failureFile)
      ? fs.readFileSync(failureFile, 'utf8').trim()
      : `the script exited with ${exitCode === null ? 'a signal (stopped after MaxRuntimeInSeconds?)' : `code ${exitCode}`}; last output: ${output.trim().split('\n').slice(-5).join(' | ')}`;
    fail(`AlgorithmError: ${reason}`);
  }

  // SageMaker packs SM_MODEL_DIR as model.tar.gz under <S3OutputPath>/<job>/output/.
  const out = parseS3Uri(request.OutputDataConfig.S3OutputPath);
  const outputUri = s3Uri(out.bucket, `${out.key.replace(/\/?$/, '/')}${name}/output/model.tar.gz`.replace(/^\//, ''));
  const files = fs.readdirSync(dirs.model);
  if (files.length === 0) fail('ClientError: the training script wrote nothing to SM_MODEL_DIR.');
  const { bucket, key } = parseS3Uri(outputUri);
  const archive = path.join(dirs.output, 'model.tar.gz');
  await tar.create({ gzip: true, cwd: dirs.model, portable: true, file: archive }, files);
  await upload(bucket, key, fs.createReadStream(archive), 'application/gzip');

  return {
    TrainingJobName: name,
    TrainingJobStatus: 'Completed',
    ModelArtifacts: { S3ModelArtifacts: outputUri },
    FinalMetricDataList: parseMetrics(output, request.AlgorithmSpecification.MetricDefinitions ?? []),
    TrainingTimeInSeconds: Math.round((Date.now() - started) / 1000),
  };
}
