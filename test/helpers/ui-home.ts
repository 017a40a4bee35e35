/**
 * A home worth looking at in `mloop ui`, built through the real pipeline and API handlers: two
 * models (`loop`, a binary classifier with two versions, feedback and two drift runs, one of them
 * on shifted inputs; `houses`, a regression), and a rejected dataset of `loop` (a column with no
 * value). The browser test and the screenshot script (test/ui-screenshots.ts) both use it.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { predictThroughApi } from '../../bin/cli';
import { runDriftCommand } from '../../bin/commands/drift';
import type { PredictResponse } from '../../lambdas/inference/predict';
import { apiEvent } from '../../local/api-server';
import { binaryClassificationCsv, parseCsv, regressionCsv } from './datasets';
import { dropDataset, trainModel, type TestCloud } from './cloud';

/** The rejected file: the classifier's columns with `x3` left empty on every row. */
export function emptyColumnCsv(rows: number, seed: number): string {
  const [header, ...lines] = binaryClassificationCsv(rows, seed).trim().split('\n');
  const at = header.split(',').indexOf('x3');
  return (
    [
      header,
      ...lines.map((line) =>
        line
          .split(',')
          .map((cell, i) => (i === at ? '' : cell))
          .join(','),
      ),
    ].join('\n') + '\n'
  );
}

type Instance = Record<string, string | number | null>;

function instances(rows: number, seed: number, shift: number): Instance[] {
  return parseCsv(binaryClassificationCsv(rows, seed)).map((r) => ({
    x1: r.x1 === '' ? null : Number(r.x1) + shift,
    x2: r.x2 === '' ? null : Number(r.x2) - 3 * shift,
    x3: Number(r.x3),
    color: r.color,
  }));
}

/** Predict through the API's handler, then send a label for every prediction (half of them wrong when `wrong`). */
async function predictWithFeedback(t: TestCloud, items: Instance[], wrong: boolean): Promise<void> {
  for (let i = 0; i < items.length; i += 100) {
    const response = await predictThroughApi(t.cloud, 'loop', { instances: items.slice(i, i + 100) });
    if (response.statusCode !== 200) throw new Error(`predict answered ${response.statusCode}: ${response.body}`);
    const answer = JSON.parse(response.body) as PredictResponse;
    const feedback = answer.predictions.map((p, index) => {
      const label = 'label' in p ? String(p.label) : '0';
      return { requestId: answer.requestId, index, label: wrong && index % 2 === 0 ? (label === '1' ? '0' : '1') : label };
    });
    const event = apiEvent(t.cloud.apiRoutes, 'POST', new URL('http://127.0.0.1/v1/models/loop/feedback'), JSON.stringify({ feedback }));
    const sent = (await t.cloud.invoke('predict', event)) as APIGatewayProxyResult;
    if (sent.statusCode !== 200) throw new Error(`feedback answered ${sent.statusCode}: ${sent.body}`);
  }
}

export async function buildUiHome(t: TestCloud): Promise<void> {
  await trainModel(t, 'loop', binaryClassificationCsv(400, 21), 'label', 'loop-1.csv');
  await trainModel(t, 'loop', binaryClassificationCsv(500, 22), 'label', 'loop-2.csv');
  const rejected = await dropDataset(t.cloud, 'loop', 'loop-3.csv', emptyColumnCsv(200, 23));
  if (rejected.status !== 'FAILED') throw new Error(`The empty-column dataset was not rejected: ${JSON.stringify(rejected)}`);
  await trainModel(t, 'houses', regressionCsv(400, 31), 'price', 'houses-1.csv');
  await predictWithFeedback(t, instances(200, 41, 0), false);
  await runDriftCommand(t.cloud, 'loop');
  await predictWithFeedback(t, instances(200, 42, 1.5), true);
  await runDriftCommand(t.cloud, 'loop');
}
