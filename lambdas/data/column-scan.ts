/**
 * A column's accumulators during a scan (ColumnScan), the time column's (TimeScan), and the rows
 * they note as examples for the messages (Examples). Each can be written as JSON (a part's share of
 * the scan) and merged back in order.
 */
import type { ColumnProfile, ColumnType, FeatureType } from '../shared/types';
import { isBlank, numberLabel, readNumber, readTime } from './cells';
import { DateScan, type DateScanState } from './date-scan';
import { CellInterner, SLOTS } from './cell-interner';
import { NESTED } from './formats';
import type { CsvRecord } from './readers/csv-tokenizer';
import { CategoryCounter, NumericStats, compareStrings, type CategoryCounterState, type NumericStatsState } from './profile';
import { MAX_EXAMPLE_ROWS, MAX_INFERRED_CLASSES, MAX_SCHEMA_CATEGORIES, NUMERIC_SHARE, type ScanOptions } from './scan-types';

/*
 * Imported bindings the scan reads for every cell, read once: where the modules are CommonJS made
 * by esbuild's transform (tsx, under which the local CLI runs the handlers and the bench runs),
 * each use of an imported binding calls a getter, which cost about a tenth of the scan's time on
 * the bench file (a bundle, as deployed to Lambda, has no such getters).
 */
const MAX_ROWS = MAX_EXAMPLE_ROWS;
const MAX_CLASSES = MAX_INFERRED_CLASSES;
const blank = isBlank;
const numberOf = readNumber;

/** The characters of a value an Examples keeps as its sample. */
const MAX_SAMPLE_CHARS = 200;

/** A count of rows with up to MAX_EXAMPLE_ROWS of their line numbers and the first value. */
export class Examples {
  count = 0;
  readonly rows: number[] = [];
  sample: string | undefined;

  note(row: number, sample?: string): void {
    this.count++;
    if (this.rows.length < MAX_ROWS) this.rows.push(row);
    // Messages quote 40 characters of it: a huge value is never kept (nor sent on in a part's JSON).
    if (this.sample === undefined && sample !== undefined)
      this.sample = sample.length > MAX_SAMPLE_CHARS ? sample.slice(0, MAX_SAMPLE_CHARS) : sample;
  }

  toJSON(): ExamplesState {
    return this.sample === undefined
      ? { count: this.count, rows: [...this.rows] }
      : { count: this.count, rows: [...this.rows], sample: this.sample };
  }

  /** Add a later part's examples, its line numbers shifted by the lines before the part. */
  merge(other: ExamplesState, lineOffset: number): void {
    this.count += other.count;
    for (const row of other.rows) if (this.rows.length < MAX_ROWS) this.rows.push(row + lineOffset);
    if (this.sample === undefined && other.sample !== undefined) this.sample = other.sample;
  }
}

export interface ExamplesState {
  count: number;
  rows: number[];
  sample?: string;
}

/** A column's accumulators as JSON: a part's share of the scan (see PartScan). */
export interface ColumnScanState {
  name: string;
  missing: ExamplesState;
  nonNumeric: ExamplesState;
  nonFinite: ExamplesState;
  unknownClass: ExamplesState;
  outOfDomain: ExamplesState;
  nested: ExamplesState;
  numbers: NumericStatsState;
  categories: CategoryCounterState | null;
  distinctNumbers: number[] | null;
  integersOnly: boolean;
  numbersAsOther: boolean;
  dates: DateScanState | null;
  nonDate: ExamplesState;
  textChars: number;
  tooLong: ExamplesState;
  longest: number;
}

/** The time column's values (DatasetSchema.timeColumn), for the checks and the split's cut points. */
export class TimeScan {
  readonly stats = new NumericStats();
  readonly bad = new Examples();
  readonly missing = new Examples();

  add(cell: string | typeof NESTED, row: number): void {
    if (cell === NESTED) {
      this.bad.note(row, '(a nested value)');
      return;
    }
    if (blank(cell)) {
      this.missing.note(row);
      return;
    }
    const time = readTime(cell);
    if (time === undefined) this.bad.note(row, cell);
    else this.stats.add(time);
  }

  toJSON(): TimeScanState {
    return { stats: this.stats.toJSON(), bad: this.bad.toJSON(), missing: this.missing.toJSON() };
  }

  merge(other: TimeScanState, lineOffset: number): void {
    this.stats.merge(NumericStats.fromJSON(other.stats));
    this.bad.merge(other.bad, lineOffset);
    this.missing.merge(other.missing, lineOffset);
  }
}

export interface TimeScanState {
  stats: NumericStatsState;
  bad: ExamplesState;
  missing: ExamplesState;
}

/** How a column is read: as the given schema says, or every way until the type is inferred. */
export type ReadMode = ColumnType | 'infer';

export class ColumnScan {
  readonly missing = new Examples();
  readonly nonNumeric = new Examples();
  readonly nonFinite = new Examples();
  /** Target values outside the model's classes (a classification schema's target only). */
  readonly unknownClass = new Examples();
  /** Values outside a declared categorical domain. */
  readonly outOfDomain = new Examples();
  /** Values with no cell: a JSON object or array, Parquet bytes or a nested group. */
  readonly nested = new Examples();
  readonly numbers = new NumericStats();
  readonly categories: CategoryCounter | null;
  /** Distinct numbers of an inferred target, up to MAX_INFERRED_CLASSES + 1, for the task. */
  readonly distinctNumbers: Set<number> | null;
  integersOnly = true;
  /** Dates and times: read in a datetime column, and tried in a column being inferred. */
  readonly dates: DateScan | null;
  /** Values of a datetime column that are not dates. */
  readonly nonDate = new Examples();
  /** Characters of the values that are not numbers (a column being inferred): free text is long. */
  textChars = 0;
  /** Values longer than maxCategoryLength, and the longest length seen (category_too_long where the column is a category). */
  readonly tooLong = new Examples();
  longest = 0;
  /** Numbers are tallied as "other" categories from now on (see add). */
  private numbersAsOther = false;

  constructor(
    readonly name: string,
    readonly mode: ReadMode,
    inferTask: boolean,
    private readonly classes: ReadonlySet<string> | null = null,
    private readonly domain: ReadonlySet<string> | null = null,
    /** A datetime column's declared format (ISO 8601 when absent). */
    dateFormat?: string,
    /** The most characters a category value may have (ScanOptions.maxCategoryLength). */
    private readonly maxCategoryLength = Infinity,
  ) {
    this.categories = mode === 'numeric' || mode === 'datetime' ? null : new CategoryCounter();
    this.distinctNumbers = inferTask ? new Set<number>() : null;
    this.dates = mode === 'datetime' ? new DateScan(dateFormat) : mode === 'infer' && !inferTask ? new DateScan() : null;
    this.updateNumbersOnly();
  }

  /** @param slot where the cell came from a CellInterner, its slot (CellInterner.slot): see CategoryCounter.addInSlot */
  add(cell: string, row: number, slot = -1): void {
    if (blank(cell)) {
      this.missing.note(row);
      return;
    }
    let key = cell;
    if (cell.length > this.maxCategoryLength) {
      // Counted by a bounded key (its head and its length): the counter and the schema never hold
      // the whole value, and distinct long values stay distinct enough for the free-text rule.
      this.tooLong.note(row, cell);
      if (cell.length > this.longest) this.longest = cell.length;
      key = `${cell.slice(0, this.maxCategoryLength)}\u2026(${cell.length} characters)`;
      slot = -1;
    }
    if (this.domain !== null && !this.domain.has(cell)) this.outOfDomain.note(row, cell);
    if (this.classes !== null && !this.classes.has(cell)) {
      // The trainer matches a label as it is, or as a canonical number ('1.0' is class '1').
      const number = numberOf(cell);
      if (!Number.isFinite(number) || !this.classes.has(numberLabel(number))) this.unknownClass.note(row, cell);
    }
    if (this.mode === 'datetime') {
      if (!(this.dates as DateScan).add(cell)) this.nonDate.note(row, cell);
      return;
    }
    const categories = this.categories;
    if (this.mode === 'categorical') {
      (categories as CategoryCounter).addInSlot(key, slot);
      return;
    }
    // A cell its slot last held (see slotCells): the same number, or again no number and no date.
    const seen = slot >= 0 && this.slotCells[slot] === cell;
    const value = seen ? this.slotNumbers[slot] : numberOf(cell);
    if (categories !== null) {
      // A column being inferred is counted both ways. Once its distinct values overflow the exact
      // map while it is mostly numbers, its numbers are no longer counted as categories (only
      // tallied under "other"): the costliest part of the scan for a high-cardinality numeric
      // column, and only needed if the column turned out categorical after all, in which case its
      // categories are those of its text values and of the numbers seen until then.
      if (this.numbersAsOther && Number.isFinite(value)) categories.addOther();
      else {
        categories.addInSlot(key, slot);
        if (!categories.exact && !this.numbersAsOther && this.inferType() === 'numeric') {
          this.numbersAsOther = true;
          this.updateNumbersOnly();
        }
      }
    }
    if (Number.isFinite(value)) {
      this.numbers.add(value);
      if (!Number.isInteger(value)) this.integersOnly = false;
      // (A number seen before is in the set already, or the set was full then.)
      const distinct = this.distinctNumbers;
      if (!seen && distinct !== null && distinct.size <= MAX_CLASSES) distinct.add(value);
      if (!seen && slot >= 0) this.remember(slot, cell, value);
    } else if (value === Infinity) {
      this.nonFinite.note(row, cell);
      if (!seen && slot >= 0) this.remember(slot, cell, value);
    } else {
      this.nonNumeric.note(row, cell);
      this.textChars += cell.length;
      if (this.dates === null || seen || !this.dates.add(cell)) {
        if (this.dates !== null) this.nonDate.note(row, cell);
        if (!seen && slot >= 0) this.remember(slot, cell, value);
      }
    }
  }

  private remember(slot: number, cell: string, value: number): void {
    this.slotCells[slot] = cell;
    this.slotNumbers[slot] = value;
  }

  /**
   * Field i of a CSV record: what add() does with its string, without making one where a number
   * is all that is kept (a numeric column, or one being inferred once its numbers are only
   * tallied), and with the same string for a repeated cell where its text is counted.
   */
  addCsvField(record: CsvRecord, i: number, row: number): void {
    if (this.numbersOnly) {
      const value = record.number(i);
      if (value === value) {
        // A plain decimal: finite, and what readNumber reads.
        if (this.categories !== null) this.categories.addOther();
        this.numbers.add(value);
        if (this.integersOnly && !Number.isInteger(value)) this.integersOnly = false;
        const distinct = this.distinctNumbers;
        if (distinct !== null && distinct.size <= MAX_CLASSES) distinct.add(value);
        return;
      }
    }
    if (record.isPlain(i)) {
      const interner = this.interner;
      const cell = interner.get(record.text, record.starts[i], record.ends[i]);
      this.add(cell, row, interner.slot);
    } else this.add(record.field(i), row);
  }

  /** Whether a number is all add() keeps of a numeric cell: no text counted, no domain or classes to check. */
  private numbersOnly = false;

  private updateNumbersOnly(): void {
    this.numbersOnly =
      this.mode !== 'categorical' &&
      this.mode !== 'datetime' &&
      this.domain === null &&
      this.classes === null &&
      (this.categories === null || this.numbersAsOther);
  }

  private readonly interner = new CellInterner();

  /**
   * By a CellInterner's slot, the last cell from it that was read as a number (slotNumbers: its
   * value, Infinity for a non-finite spelling) or as neither a number nor a date (NaN): read again
   * (the same text), it is read the same, so that a column of categories or classes is not parsed
   * as numbers and dates at every row (about a twentieth of the scan of the bench file).
   */
  private readonly slotCells = new Array<string | undefined>(SLOTS);
  private readonly slotNumbers = new Float64Array(SLOTS);

  toJSON(): ColumnScanState {
    return {
      name: this.name,
      missing: this.missing.toJSON(),
      nonNumeric: this.nonNumeric.toJSON(),
      nonFinite: this.nonFinite.toJSON(),
      unknownClass: this.unknownClass.toJSON(),
      outOfDomain: this.outOfDomain.toJSON(),
      nested: this.nested.toJSON(),
      numbers: this.numbers.toJSON(),
      categories: this.categories === null ? null : this.categories.toJSON(),
      distinctNumbers: this.distinctNumbers === null ? null : [...this.distinctNumbers],
      integersOnly: this.integersOnly,
      numbersAsOther: this.numbersAsOther,
      dates: this.dates === null ? null : this.dates.toJSON(),
      nonDate: this.nonDate.toJSON(),
      textChars: this.textChars,
      tooLong: this.tooLong.toJSON(),
      longest: this.longest,
    };
  }

  /** Add the same column's accumulators from a later part of the file. */
  merge(other: ColumnScanState, lineOffset: number): void {
    this.missing.merge(other.missing, lineOffset);
    this.nonNumeric.merge(other.nonNumeric, lineOffset);
    this.nonFinite.merge(other.nonFinite, lineOffset);
    this.unknownClass.merge(other.unknownClass, lineOffset);
    this.outOfDomain.merge(other.outOfDomain, lineOffset);
    this.nested.merge(other.nested, lineOffset);
    this.numbers.merge(NumericStats.fromJSON(other.numbers));
    if (this.categories !== null && other.categories !== null) this.categories.merge(CategoryCounter.fromJSON(other.categories));
    const distinct = this.distinctNumbers;
    if (distinct !== null && other.distinctNumbers !== null) {
      for (const value of other.distinctNumbers) if (distinct.size <= MAX_CLASSES) distinct.add(value);
    }
    this.integersOnly &&= other.integersOnly;
    this.numbersAsOther ||= other.numbersAsOther;
    if (this.dates !== null && other.dates !== null) this.dates.merge(other.dates);
    this.nonDate.merge(other.nonDate, lineOffset);
    this.textChars += other.textChars;
    this.tooLong.merge(other.tooLong, lineOffset);
    this.longest = Math.max(this.longest, other.longest);
    this.updateNumbersOnly();
  }

  /**
   * The type by the inference rule: numeric when at least 90% of the non-empty values are numbers,
   * datetime when at least 90% are ISO 8601 dates or date-times (never for the target, whose
   * column tries no dates), else categorical.
   */
  inferType(): ColumnType {
    const numeric = this.numbers.count + this.nonFinite.count;
    const nonEmpty = numeric + this.nonNumeric.count;
    if (this.numbers.count > 0 && numeric >= NUMERIC_SHARE * nonEmpty) return 'numeric';
    if (this.dates !== null && this.dates.count > 0 && this.dates.count >= NUMERIC_SHARE * nonEmpty) return 'datetime';
    return 'categorical';
  }

  /** The most frequent values (up to MAX_SCHEMA_CATEGORIES), sorted. */
  schemaCategories(): string[] {
    if (this.categories === null) return [];
    return this.categories
      .top(MAX_SCHEMA_CATEGORIES)
      .map(([value]) => value)
      .sort(compareStrings);
  }

  /** Class labels: numbers in canonical form sorted by value (2 before 10), else text sorted. */
  classLabels(type: FeatureType): string[] {
    if (this.categories === null) return [];
    const values = this.categories.top(MAX_SCHEMA_CATEGORIES).map(([value]) => value);
    if (type === 'categorical') return values.sort(compareStrings);
    const numbers = new Map<string, number>();
    for (const value of values) {
      const number = readNumber(value);
      if (Number.isFinite(number)) numbers.set(numberLabel(number), number);
    }
    return [...numbers.entries()].sort((a, b) => a[1] - b[1]).map(([label]) => label);
  }

  profile(type: FeatureType, missing: number, options: Required<Pick<ScanOptions, 'maxCategories' | 'histogramBins'>>): ColumnProfile {
    if (type === 'numeric') return this.numbers.profile(missing, options.histogramBins);
    return (this.categories ?? new CategoryCounter()).profile(missing, options.maxCategories);
  }
}
