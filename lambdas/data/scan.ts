/**
 * The pure core of dataset ingestion: one streaming pass over a dataset file (CSV, JSON Lines or
 * Parquet, the text formats optionally gzip-compressed; see ./formats.ts) computes its content
 * hash, checks it (against the model's schema when there is one, else against the schema it
 * infers; ./checks.ts), and profiles every column; a second pass writes deterministic
 * train/validation/test splits, always as CSV (./splits.ts). A file too big for one function is
 * scanned in parts (./part-scan.ts). No AWS calls here: the callers hand in byte sources and
 * writable sinks.
 *
 * Memory stays flat as the file grows: rows are never kept, only per-column accumulators of
 * bounded size (./column-scan.ts, ./profile.ts) and the record being parsed (a Parquet file: one
 * row group).
 */
import { createHash } from 'node:crypto';
import type { ColumnType } from '../shared/types';
import { checkTable, type CheckContext } from './checks';
import { formatFromName, isParquet, isRandomAccess, rangeChunks, type DatasetSource } from './formats';
import type { Detected, ReadOutcome } from './readers/outcome';
import { readParquet } from './readers/parquet';
import { readStream } from './readers/stream';
import { DEFAULT_MAX_CATEGORY_LENGTH, DEFAULT_MAX_COLUMNS, SCAN_DEFAULTS, type ScanOptions, type ScanResult } from './scan-types';
import { TableScan } from './table-scan';

/**
 * Hash, parse, check and profile a dataset file in one streaming pass: CSV, JSON Lines or Parquet,
 * the text formats optionally gzip-compressed. A stream source is read in order (a Parquet file in
 * a stream is held in memory, up to MAX_STREAMED_PARQUET_BYTES); a random-access source (ranged
 * reads) is hashed in order and, for Parquet, parsed one row group at a time. Problems with the
 * data are returned as violations, never thrown; only an error of the source itself (a failed
 * read) throws.
 */
export async function scanDataset(source: DatasetSource, options: ScanOptions): Promise<ScanResult> {
  const file = options.fileName;
  const { table, delimiter, context } = prepareScan(options);

  const contentHash = createHash('sha256');
  let bytes = 0;
  const onBytes = (buf: Buffer | Uint8Array): void => {
    contentHash.update(buf);
    bytes += buf.length;
  };

  let read: Detected & ReadOutcome;
  if (isRandomAccess(source)) {
    for await (const chunk of rangeChunks(source)) onBytes(chunk);
    const named = options.format ?? formatFromName(file).format;
    const head = source.byteLength >= 4 ? await source.read(0, 4) : new Uint8Array(0);
    if (named === 'parquet' || isParquet(head)) {
      read = {
        format: 'parquet',
        gzip: false,
        ...(source.byteLength === 0
          ? { violations: [], complete: true }
          : await readParquet(table, source, file, undefined, options.rowGroupLimits)),
      };
    } else {
      read = await readStream(
        rangeChunks(source),
        table,
        { file, format: options.format, delimiter, ...limitsOf(options) },
        () => undefined,
      );
    }
  } else {
    read = await readStream(source, table, { file, format: options.format, delimiter, ...limitsOf(options) }, onBytes);
  }

  return checkTable(table, read, context(contentHash.digest('hex'), bytes));
}

/** The scan's input limits for readStream, where they are given. */
function limitsOf(options: ScanOptions): { gzipLimits?: ScanOptions['gzipLimits']; rowGroupLimits?: ScanOptions['rowGroupLimits'] } {
  return {
    ...(options.gzipLimits !== undefined ? { gzipLimits: options.gzipLimits } : {}),
    ...(options.rowGroupLimits !== undefined ? { rowGroupLimits: options.rowGroupLimits } : {}),
  };
}

/** The table a scan fills, and the settings its checks need, from the scan's options. */
export function prepareScan(options: ScanOptions): {
  table: TableScan;
  delimiter: string;
  context: (sha256: string, bytes: number) => CheckContext;
} {
  const file = options.fileName;
  const given = options.schema;
  const targetName = options.target ?? given?.target ?? SCAN_DEFAULTS.target;
  const delimiter = options.delimiter ?? SCAN_DEFAULTS.delimiter;
  const minRows = options.minRows ?? SCAN_DEFAULTS.minRows;
  const maxColumns = options.maxColumns ?? DEFAULT_MAX_COLUMNS;
  const maxCategoryLength = options.maxCategoryLength ?? DEFAULT_MAX_CATEGORY_LENGTH;
  const maxNullShare = options.maxNullShare ?? SCAN_DEFAULTS.maxNullShare;
  const profileOptions = {
    maxCategories: options.maxCategories ?? SCAN_DEFAULTS.maxCategories,
    histogramBins: options.histogramBins ?? SCAN_DEFAULTS.histogramBins,
  };
  const givenTypes = new Map<string, ColumnType>((given?.columns ?? []).map((c) => [c.name, c.type]));
  const dateFormats = new Map<string, string>();
  for (const c of given?.columns ?? []) if (c.type === 'datetime' && c.format !== undefined) dateFormats.set(c.name, c.format);
  const declaredTask = options.task ?? given?.task;
  const inferTask = declaredTask === undefined;
  // A later dataset of a classification model must keep to the classes its schema fixed.
  const knownClasses =
    given !== undefined && declaredTask === 'classification' && given.classes && given.classes.length > 0 ? new Set(given.classes) : null;
  const domains = new Map<string, ReadonlySet<string>>();
  if (options.strictSchema && given !== undefined) {
    for (const c of given.columns) {
      if (c.type === 'categorical' && c.categories && c.categories.length > 0 && c.name !== targetName)
        domains.set(c.name, new Set(c.categories));
    }
  }
  const timeColumn = given?.timeColumn;
  const table = new TableScan({
    targetName,
    givenTypes,
    dateFormats,
    inferTask,
    knownClasses,
    domains,
    ...(timeColumn !== undefined ? { timeColumn } : {}),
    maxColumns,
    maxCategoryLength,
  });
  const context = (sha256: string, bytes: number): CheckContext => ({
    file,
    sha256,
    bytes,
    given,
    strict: options.strictSchema === true,
    declaredBy: options.declaredBy ?? 'schema.json',
    targetName,
    task: options.task,
    minRows,
    maxColumns,
    maxCategoryLength,
    maxNullShare,
    knownClasses,
    profileOptions,
  });
  return { table, delimiter, context };
}
