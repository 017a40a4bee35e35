/**
 * The held-out test split a candidate and its champion are scored on: one CSV object with a
 * header, or the CSV parts under a prefix (a dataset ingested in parts), read into feature
 * instances and target values.
 */
import { parse } from 'csv-parse';
import { getStream, splitObjects } from '../shared/storage';

export interface TestSplit {
  readonly instances: Record<string, string>[];
  readonly truth: string[];
}

/** Read the test split (CSV with a header) into instances and target values. */
export async function readTestSplit(uri: string, target: string): Promise<TestSplit> {
  const instances: Record<string, string>[] = [];
  const truth: string[] = [];
  for (const { bucket, key } of await splitObjects(uri)) {
    const parser = (await getStream(bucket, key)).pipe(parse({ columns: true, bom: true }));
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      truth.push(record[target]);
      const { [target]: _t, ...features } = record;
      instances.push(features);
    }
  }
  return { instances, truth };
}
