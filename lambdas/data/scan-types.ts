/**
 * What a dataset scan is asked (ScanOptions) and what it answers (ScanResult, its violations), and
 * the defaults and limits it keeps to. Every part of the scan (lambdas/data/scan.ts) and its callers
 * share these.
 */
import type { DatasetProfile, DatasetSchema, ExclusionReason, Task } from '../shared/types';
import type { SchemaInput } from '../shared/schema-file';
import type { DataFormat, GzipLimits } from './formats';
import type { RowGroupLimits } from './parquet-file';

export type ViolationCheck =
  | 'empty_file'
  | 'too_few_rows'
  | 'missing_target'
  | 'missing_column'
  | 'extra_column'
  | 'duplicate_column'
  | 'type_mismatch'
  | 'non_finite'
  | 'constant_target'
  | 'malformed_row'
  | 'completeness'
  | 'encoding'
  | 'unknown_class'
  /** A value outside the categories a declared schema (schema.json) lists for its column. */
  | 'category_domain'
  /** The file cannot be read as its format at all: a truncated gzip stream, a corrupt Parquet file. */
  | 'corrupt_file'
  /** More columns than maxColumns (MAX_COLUMNS): the scan stops there, before memory is spent on them. */
  | 'too_many_columns'
  /** A category value (a categorical feature's or a class label) longer than maxCategoryLength. */
  | 'category_too_long';

export interface Violation {
  check: ViolationCheck;
  column?: string;
  /** How many rows, cells or columns. */
  count: number;
  /** Physical line numbers (1 = the header line) of the first records concerned, at most 5. */
  exampleRows: number[];
  /** One full sentence naming the file, the column and what was expected. */
  message: string;
}

export interface ScanOptions {
  /** Used in messages. */
  fileName: string;
  /** Target column; default: the existing schema's target, else a column named 'target'. */
  target?: string;
  /**
   * The model's schema (fixed by its first dataset, or declared in a schema.json); when absent,
   * one is inferred. A declared schema may leave the task (and the classes) to inference.
   */
  schema?: SchemaInput;
  /**
   * The schema was declared (schema.json), not inferred: also enforce each column's `nullable`
   * and, where it lists them, its `categories` (category_domain).
   */
  strictSchema?: boolean;
  /** What declared a strict schema, in messages. Default 'schema.json'. */
  declaredBy?: string;
  /** The file's format; default: by the file name's extension (gzip and Parquet also by their magic bytes). */
  format?: DataFormat;
  /** Force the task. */
  task?: Task;
  /** Default ','. */
  delimiter?: string;
  /** Default 10. */
  minRows?: number;
  /** Completeness threshold per feature column, default 0.5. */
  maxNullShare?: number;
  /** Top-k kept in a categorical profile, default 50. */
  maxCategories?: number;
  /** Default 10. */
  histogramBins?: number;
  /** The most columns a file may have (DatasetIngestionOptions.maxColumns); default DEFAULT_MAX_COLUMNS. */
  maxColumns?: number;
  /** The most characters a category value may have (DatasetIngestionOptions.maxCategoryLength); default DEFAULT_MAX_CATEGORY_LENGTH. */
  maxCategoryLength?: number;
  /** How far a gzip file may inflate (DatasetIngestionOptions.maxGzipInflatedBytes, maxGzipRatio); default DEFAULT_GZIP_LIMITS. */
  gzipLimits?: GzipLimits;
  /** What one Parquet row group may decode to (maxRowGroupCells, maxRowGroupBytes); default DEFAULT_ROW_GROUP_LIMITS. */
  rowGroupLimits?: RowGroupLimits;
}

export interface ScanResult {
  /** Of the file's bytes as stored (compressed ones for a gzip file). */
  sha256: string;
  bytes: number;
  /** The format the file was read as, and whether it was gzip-compressed. */
  format: DataFormat;
  gzip: boolean;
  /** Data records after the header (ragged ones and unparseable JSON lines included). */
  rows: number;
  header: string[];
  /** The schema of this dataset: the given one, or the one inferred. */
  schema: DatasetSchema;
  profile: DatasetProfile;
  /** Empty when accepted. */
  violations: Violation[];
  accepted: boolean;
  /** The cut points of a split by time (the schema's timeColumn), for writeSplits. */
  timeSplit?: TimeSplit;
  /** What the scan decided that is not a violation: columns kept out of the features, and why. */
  notes?: ScanNote[];
}

/** A column the inferred schema keeps in the data but out of the model's features. */
export interface ScanNote {
  readonly check: 'excluded_column';
  readonly column: string;
  readonly reason: ExclusionReason;
  /** One full sentence naming the file and the column, and how to use the column after all. */
  readonly message: string;
}

/** How a time-split dataset's rows go to splits: by their time against two cut points. */
export interface TimeSplit {
  readonly column: string;
  /** Times below the first are train, below the second validation, the rest test. */
  readonly cutoffs: [number, number];
}

export const SCAN_DEFAULTS = {
  delimiter: ',',
  minRows: 10,
  maxNullShare: 0.5,
  maxCategories: 50,
  histogramBins: 10,
  target: 'target',
} as const;

/** At most this many example rows per violation. */
export const MAX_EXAMPLE_ROWS = 5;
/** Categories kept in an inferred schema's column (the most frequent). */
export const MAX_SCHEMA_CATEGORIES = 1000;
/** A numeric target with at most this many distinct integer values is inferred as classification. */
export const MAX_INFERRED_CLASSES = 20;
/** Share of a column's non-empty values that must be numbers for it to be inferred numeric. */
export const NUMERIC_SHARE = 0.9;
/**
 * The most columns a dataset may have unless maxColumns says otherwise. Each column costs an
 * accumulator of a few KB while reading (profile, sketches, examples) and a place in the schema the
 * registry and the state machine carry: a 200,000-column header took 1.6 GB and then overflowed
 * DynamoDB's item. Enforced while reading: the header (CSV, Parquet) or the first key past it
 * (JSON Lines) stops the scan.
 */
export const DEFAULT_MAX_COLUMNS = 10_000;

/*
 * The most characters a category value (a categorical feature's value or a class label) may have
 * unless maxCategoryLength says otherwise. A category is a key of the schema, of every profile and
 * drift report, and of each captured request: a 5 MB value was copied whole into all of them. A
 * longer value is counted by a bounded key (ColumnScan.add), so the scan's memory stays flat, and is
 * a violation where the column is a categorical feature or the target (free text may be longer).
 */
export { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';

/** A record larger than this is an error rather than a reason to buffer the rest of the file. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
