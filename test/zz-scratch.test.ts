import { s3Keys } from '../lambdas/shared/layout';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import { binaryClassificationCsv } from './helpers/datasets';
import { putObject, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
let t: TestCloud;
beforeAll(async () => { t = await startCloud(); await s3Client().send(new CreateBucketCommand({ Bucket: 'scr' })); }, 60000);
afterAll(() => stopCloud(t));
it('re-drop with target after missing target', async () => {
  const csv = binaryClassificationCsv(50, 1);
  const key = s3Keys.dataset('m', 'f.csv');
  await putObject('scr', key, csv);
  const a = await t.cloud.invoke('ingest', { detail: { bucket: { name: 'scr' }, object: { key } }, execution: 'e1' }).catch((e) => e.message);
  await putObject('scr', key, csv, { [TARGET_METADATA_KEY]: 'label' });
  const b = await t.cloud.invoke('ingest', { detail: { bucket: { name: 'scr' }, object: { key } }, execution: 'e2' }).catch((e) => e.message);
  const c = await t.cloud.invoke('ingest', { detail: { bucket: { name: 'scr' }, object: { key } }, execution: 'e1' }).catch((e) => e.message);
  console.log(JSON.stringify({ a, b, c }, null, 1));
});
