/**
 * Registry fixtures shared by the registry tests: versions registered from placeholder candidate
 * files (Register copies bytes and never loads them), with the event targets the tests assert.
 */
import { s3Keys, s3Uri } from '../../lambdas/shared/layout';
import type { EvaluationOutput, RegisterInput } from '../../lambdas/shared/pipeline';
import { putObject, type TestCloud } from './cloud';

/** The registry event targets the tests configure (the local EventBridge and SNS journal what they receive). */
export const REGISTRY_TARGETS = { eventBusName: 'default', topicArn: 'arn:aws:sns:us-east-1:000000000000:registry-events' };

/** The register/models function environment for a test cloud. */
export const registryEnv = (t: TestCloud) => ({
  REGISTRY_TABLE: t.cloud.registryTable,
  DATA_BUCKET: t.cloud.dataBucket,
  EVENT_BUS_NAME: REGISTRY_TARGETS.eventBusName,
  TOPIC_ARN: REGISTRY_TARGETS.topicArn,
});

/** Put a dataset record and placeholder candidate files; return what Register needs. */
export async function registerFixture(
  t: TestCloud,
  model: string,
  execution: string,
  opts: { accuracy?: number; champion?: number | null; datasetVersion?: number } = {},
): Promise<RegisterInput> {
  const bucket = t.cloud.dataBucket;
  const registry = t.registry;
  const prefix = s3Keys.candidatePrefix(model, execution);
  await putObject(bucket, `${prefix}model.onnx`, `onnx of ${execution}`);
  await putObject(bucket, `${prefix}model-card.json`, JSON.stringify({ task: 'classification', classes: ['0', '1'] }));
  const datasetVersion = opts.datasetVersion ?? 1;
  if (!(await registry.datasets.get(model, datasetVersion))) {
    await registry.models.nextNumber(model, 'datasetCounter');
    await registry.datasets
      .put({
        model,
        version: datasetVersion,
        status: 'accepted',
        sha256: `sha-of-dataset-${datasetVersion}`,
        s3Uri: s3Uri(bucket, s3Keys.dataset(model, `data-${datasetVersion}.csv`)),
        s3VersionId: `s3-version-${datasetVersion}`,
        bytes: 1234,
        rows: 100,
        schemaHash: 'schema-hash',
        profileUri: s3Uri(bucket, s3Keys.profile(model, datasetVersion)),
        reportUri: s3Uri(bucket, s3Keys.validationReport(model, datasetVersion)),
        sourceEvent: { execution: `ingest-${datasetVersion}` },
        createdAt: new Date().toISOString(),
      })
      .catch(() => undefined); // a concurrent fixture put it first
  }
  const champion = opts.champion ?? null;
  const evaluation: EvaluationOutput = {
    candidate: {
      onnxUri: s3Uri(bucket, `${prefix}model.onnx`),
      cardUri: s3Uri(bucket, `${prefix}model-card.json`),
      sha256: `sha-of-${execution}`,
      metrics: { accuracy: opts.accuracy ?? 0.9, macro_f1: 0.8, log_loss: 0.3 },
      validationMetrics: { accuracy: 0.88 },
      hyperparameters: { epochs: 5, lr: 0.01 },
    },
    champion: champion === null ? null : { version: champion, metrics: { accuracy: 0.5 } },
    baseline: { accuracy: 0.5 },
    decision: { better: true, reason: 'Candidate accuracy 0.900 beats champion accuracy 0.500 (margin 0).', metric: 'accuracy' },
    details: {
      candidate: {
        labels: ['0', '1'],
        confusionMatrix: [
          [40, 10],
          [0, 50],
        ],
        perClass: [],
      },
      champion: null,
    },
  };
  return {
    execution,
    promote: true,
    codeVersion: 'code-sha',
    ingest: {
      status: 'ACCEPTED',
      model,
      datasetVersion,
      sha256: `sha-of-dataset-${datasetVersion}`,
      s3VersionId: `s3-version-${datasetVersion}`,
      target: 'y',
      task: 'classification',
      trainingJobName: `mloop-${model}-${execution}`,
      channels: { train: 's3://b/train/', validation: 's3://b/validation/' },
      testSplit: 's3://b/test/test.csv',
      hyperparameters: {},
    },
    training: {
      trainingJobName: `mloop-${model}-${execution}`,
      modelArtifacts: `s3://${bucket}/training/${execution}/output/model.tar.gz`,
    },
    evaluation,
  } as RegisterInput;
}
