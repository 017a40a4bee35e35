/**
 * The CSV reading the scan had before its own tokenizer, kept as the oracle of
 * test/csv-tokenizer.test.ts: csv-parse with the options the scan gave it, each record's line by
 * the line tracker (lambdas/data/text-tracking.ts) from where the record before it ended, and the
 * parse error's reason without csv-parse's own line number.
 */
import { Parser } from 'csv-parse';
import { MAX_RECORD_BYTES } from '../../lambdas/data/scan-types';
import { LineTracker } from '../../lambdas/data/text-tracking';

export interface ReadRecord {
  fields: string[];
  line: number;
  /** Offset of the byte after the record. */
  end: number;
}

export interface ReadOutcome {
  records: ReadRecord[];
  error?: { line: number; reason: string };
}

/** Read `bytes` pushed in the given chunks, as the scan's CSV sink did with csv-parse. */
export async function referenceRead(
  chunks: Buffer[],
  options: { delimiter?: string; recordDelimiter?: string } = {},
): Promise<ReadOutcome> {
  const records: ReadRecord[] = [];
  const lines = new LineTracker();
  let recordStart = 0;
  const parser = new (class extends Parser {
    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk === null) return super.push(null, encoding);
      const end = this.info.bytes;
      records.push({ fields: chunk as string[], line: lines.recordLine(recordStart), end });
      recordStart = end;
      return true;
    }
  })({
    bom: true,
    delimiter: options.delimiter ?? ',',
    ...(options.recordDelimiter !== undefined ? { record_delimiter: options.recordDelimiter } : {}),
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
  });
  parser.on('error', () => undefined);
  parser.resume();
  const reason = (error: unknown): string =>
    (error instanceof Error ? error.message : String(error)).replace(/\s+(?:at|on) line \d+/g, '').replace(/[.\s]+$/, '');
  let offset = 0;
  for (const chunk of chunks) {
    lines.push(chunk, offset);
    offset += chunk.length;
    const error = await new Promise<unknown>((resolve) => parser.write(chunk, (e) => resolve(e ?? undefined)));
    if (error !== undefined) return { records, error: { line: lines.recordLine(recordStart), reason: reason(error) } };
  }
  const error = await new Promise<unknown>((resolve) => {
    parser.once('error', resolve);
    parser.once('finish', () => resolve(undefined));
    parser.end();
  });
  if (error !== undefined) return { records, error: { line: lines.recordLine(recordStart), reason: reason(error) } };
  return { records };
}
