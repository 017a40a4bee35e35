/**
 * The held-out test split a candidate and its champion are scored on: one CSV object with a
 * header, or the CSV parts under a prefix (a dataset ingested in parts), read into feature
 * instances and target values.
 */
import { parse } from 'csv-parse';
import { ownRecord } from '../shared/own-record';
import { getStream, splitObjects } from '../shared/storage';

export interface TestSplit {
  readonly instances: Record<string, string>[];
  readonly truth: string[];
}

/**
 * Read the test split (CSV with a header) into instances and target values. Rows are read as
 * arrays and keyed by the header with own properties: csv-parse's `columns: true` assigns
 * `record[name] = value`, which drops a column named `__proto__` (the assignment sets the
 * prototype) and would score the model without it.
 */
export async function readTestSplit(uri: string, target: string): Promise<TestSplit> {
  const instances: Record<string, string>[] = [];
  const truth: string[] = [];
  for (const { bucket, key } of await splitObjects(uri)) {
    const parser = (await getStream(bucket, key)).pipe(parse({ bom: true }));
    let header: string[] | undefined;
    let targetIndex = -1;
    for await (const cells of parser as AsyncIterable<string[]>) {
      if (header === undefined) {
        header = cells;
        targetIndex = header.indexOf(target);
        if (targetIndex < 0)
          throw new Error(
            `The test split s3://${bucket}/${key} has no column '${target}' (the target); its header is ${header.join(',')}.`,
          );
        continue;
      }
      truth.push(cells[targetIndex]);
      instances.push(ownRecord(header.flatMap((name, i) => (i === targetIndex ? [] : [[name, cells[i]] as const]))));
    }
  }
  return { instances, truth };
}
