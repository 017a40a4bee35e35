/**
 * The table being read, whatever the format (TableScan): its header, one accumulator per column
 * (./column-scan.ts) and the row counts; as JSON, a part's share of the scan, merged back in order.
 */
import type { ColumnType } from '../shared/types';
import { isBlank } from './cells';
import { ColumnScan, Examples, TimeScan, type ColumnScanState, type ExamplesState, type ReadMode, type TimeScanState } from './column-scan';
import { NESTED, cellOf } from './formats';
import type { CsvRecord } from './readers/csv-tokenizer';
import { MAX_EXAMPLE_ROWS } from './scan-types';

/** A table's accumulators as JSON (see PartScan). */
export interface TableScanState {
  header: string[] | null;
  headerLine: number;
  columns: ColumnScanState[];
  rows: number;
  wellFormedRows: number;
  ragged: ExamplesState;
  raggedWithLineFeed: number;
  carriageReturns: ExamplesState;
  blank: boolean;
  firstLines: number[];
  time?: TimeScanState;
  columnLimit?: ColumnLimitHit;
}

/** Where a table went past its column limit: how many columns it had then, and on which line. */
export interface ColumnLimitHit {
  /** The header's columns (CSV, Parquet); for JSON Lines the limit plus one (keys are met one at a time). */
  readonly columns: number;
  /** The header's line, the JSON line that brought the key past the limit, 0 for Parquet. */
  readonly line: number;
}

export interface TableSettings {
  readonly targetName: string;
  readonly givenTypes: ReadonlyMap<string, ColumnType>;
  /** Declared formats of datetime columns whose values are not ISO 8601. */
  readonly dateFormats?: ReadonlyMap<string, string>;
  readonly inferTask: boolean;
  readonly knownClasses: ReadonlySet<string> | null;
  /** Categorical domains enforced per column (a declared schema's categories). */
  readonly domains: ReadonlyMap<string, ReadonlySet<string>>;
  /** The column of times the splits go by, if any (DatasetSchema.timeColumn). */
  readonly timeColumn?: string;
  /** The most columns the table takes (ScanOptions.maxColumns); past it no column is added and the readers stop. */
  readonly maxColumns: number;
  /** The most characters a category value may have (ScanOptions.maxCategoryLength). */
  readonly maxCategoryLength: number;
}

/**
 * The table being read, whatever the format: its header, one accumulator per column and the row
 * counts. CSV hands it records by position; JSON Lines objects by key (a key first seen on a later
 * line becomes a column that is empty in the rows before); Parquet rows of cells.
 */
export class TableScan {
  header: string[] | null = null;
  /** The header's line (CSV), the first object's line (JSON Lines), 0 (Parquet: no lines). */
  headerLine = 1;
  columns: ColumnScan[] = [];
  rows = 0;
  wellFormedRows = 0;
  readonly ragged = new Examples();
  /** Ragged CSV records holding a line feed: lone LFs in a file whose records end with CRLF. */
  raggedWithLineFeed = 0;
  /** CSV records whose last field ends with CR: CRLF lines in a file whose records end with LF. */
  readonly carriageReturns = new Examples();
  /** Whether the header and every record so far are blank (whitespace only). */
  blank = true;
  /** Line numbers of the first well-formed rows (for a column that appears later). */
  private readonly firstLines: number[] = [];
  private readonly index = new Map<string, number>();
  /** The time column's values, when the splits go by time. */
  readonly time: TimeScan | null;
  /** Its position in the header (-1: not seen yet). */
  private timeIndex = -1;
  /** Set when the file went past settings.maxColumns: the readers stop and the checks report it. */
  columnLimit: ColumnLimitHit | undefined;

  constructor(private readonly settings: TableSettings) {
    this.time = settings.timeColumn !== undefined ? new TimeScan() : null;
  }

  private column(name: string): ColumnScan {
    const s = this.settings;
    const mode: ReadMode = s.givenTypes.get(name) ?? 'infer';
    const isTarget = name === s.targetName;
    return new ColumnScan(
      name,
      mode,
      s.inferTask && isTarget && mode === 'infer',
      isTarget ? s.knownClasses : null,
      s.domains.get(name) ?? null,
      s.dateFormats?.get(name),
      s.maxCategoryLength,
    );
  }

  setHeader(names: string[], line: number): void {
    if (names.length > this.settings.maxColumns) {
      // No accumulator is made for any of them: the header alone is what the file costs.
      this.columnLimit = { columns: names.length, line };
      this.blank = false;
      this.header = [];
      this.headerLine = line;
      this.columns = [];
      return;
    }
    this.blank = names.every(isBlank);
    this.header = names;
    this.headerLine = line;
    this.columns = names.map((name) => this.column(name));
    this.timeIndex = this.settings.timeColumn !== undefined ? names.indexOf(this.settings.timeColumn) : -1;
  }

  /** A CSV record: its fields by position; a record of another length is ragged. */
  record(record: string[], line: number): void {
    this.rows++;
    if (this.blank) this.blank = record.every(isBlank);
    const columns = this.columns;
    if (record.length !== columns.length) {
      this.ragged.note(line);
      if (record.some((field) => field.includes('\n'))) this.raggedWithLineFeed++;
      return;
    }
    this.wellFormedRows++;
    const last = record[record.length - 1];
    if (last.charCodeAt(last.length - 1) === 13) this.carriageReturns.note(line);
    for (let i = 0; i < columns.length; i++) columns[i].add(record[i], line);
    if (this.timeIndex >= 0) (this.time as TimeScan).add(record[this.timeIndex], line);
  }

  /**
   * A CSV record as the tokenizer hands it over: what record() does with its fields, reading each
   * cell from the record's text (a string only where one is kept; see ColumnScan.addCsvField).
   */
  csvRecord(record: CsvRecord): void {
    const columns = this.columns;
    // Blank rows so far, or a ragged record: the general path (rare).
    if (this.blank || record.count !== columns.length) {
      this.record(record.fields(), record.line);
      return;
    }
    const line = record.line;
    this.rows++;
    this.wellFormedRows++;
    if (record.lastCharCode() === 13) this.carriageReturns.note(line);
    for (let i = 0; i < columns.length; i++) columns[i].addCsvField(record, i, line);
    if (this.timeIndex >= 0) (this.time as TimeScan).add(record.field(this.timeIndex), line);
  }

  /** A row of cells in header order (Parquet, JSON Lines); NESTED marks a value with no cell. */
  cells(cells: (string | typeof NESTED)[], line: number): void {
    this.rows++;
    this.wellFormedRows++;
    this.blank = false;
    if (this.firstLines.length < MAX_EXAMPLE_ROWS) this.firstLines.push(line);
    const columns = this.columns;
    for (let i = 0; i < columns.length; i++) {
      const cell = cells[i];
      if (cell === NESTED) columns[i].nested.note(line);
      else columns[i].add(cell ?? '', line);
    }
    if (this.timeIndex >= 0) (this.time as TimeScan).add(cells[this.timeIndex] ?? '', line);
  }

  /** A JSON object: its values by key. */
  object(value: Record<string, unknown>, line: number): void {
    if (this.header === null) this.setHeader([], line);
    const cells = new Array<string | typeof NESTED>(this.columns.length).fill('');
    for (const key of Object.keys(value)) {
      let i = this.index.get(key);
      if (i === undefined) i = this.addColumn(key, line);
      if (i < 0) return; // past the column limit: the row is not counted, the reader stops
      cells[i] = cellOf(value[key]);
    }
    this.cells(cells, line);
  }

  toJSON(): TableScanState {
    return {
      header: this.header === null ? null : [...this.header],
      headerLine: this.headerLine,
      columns: this.columns.map((c) => c.toJSON()),
      rows: this.rows,
      wellFormedRows: this.wellFormedRows,
      ragged: this.ragged.toJSON(),
      raggedWithLineFeed: this.raggedWithLineFeed,
      carriageReturns: this.carriageReturns.toJSON(),
      blank: this.blank,
      firstLines: [...this.firstLines],
      ...(this.time !== null ? { time: this.time.toJSON() } : {}),
      ...(this.columnLimit !== undefined ? { columnLimit: this.columnLimit } : {}),
    };
  }

  /**
   * Add a later part of the same file, its line numbers shifted by the lines before it. CSV parts
   * share the header, so columns match by position; JSON Lines columns match by name, and a column
   * one side never saw is missing in all of that side's rows, as in a single pass.
   */
  merge(part: TableScanState, lineOffset: number, byName: boolean): void {
    if (this.header === null) {
      if (part.header !== null) this.setHeader(byName ? [] : [...part.header], part.headerLine + lineOffset);
    }
    if (part.columnLimit !== undefined) {
      this.columnLimit ??= { columns: part.columnLimit.columns, line: part.columnLimit.line + lineOffset };
    }
    const matched = new Set<number>();
    part.columns.forEach((state, position) => {
      let i = byName ? this.index.get(state.name) : position;
      if (i === undefined) i = this.addColumn(state.name, 0);
      if (i < 0 || i >= this.columns.length) return;
      matched.add(i);
      this.columns[i].merge(state, lineOffset);
    });
    const noteAllMissing = (missing: Examples): void => {
      for (let r = 0; r < Math.min(part.wellFormedRows, part.firstLines.length); r++) missing.note(part.firstLines[r] + lineOffset);
      missing.count += Math.max(0, part.wellFormedRows - part.firstLines.length);
    };
    if (byName) {
      // Columns this part never saw: missing in every one of its rows.
      for (let i = 0; i < this.columns.length; i++) if (!matched.has(i)) noteAllMissing(this.columns[i].missing);
    }
    if (this.time !== null) {
      if (part.time !== undefined && part.columns.some((c) => c.name === this.settings.timeColumn)) this.time.merge(part.time, lineOffset);
      else if (byName) noteAllMissing(this.time.missing);
    }
    this.rows += part.rows;
    this.wellFormedRows += part.wellFormedRows;
    this.ragged.merge(part.ragged, lineOffset);
    this.raggedWithLineFeed += part.raggedWithLineFeed;
    this.carriageReturns.merge(part.carriageReturns, lineOffset);
    this.blank &&= part.blank;
    for (const line of part.firstLines) if (this.firstLines.length < MAX_EXAMPLE_ROWS) this.firstLines.push(line + lineOffset);
  }

  /** A column first seen after `wellFormedRows` rows, which are missing it; -1 past the column limit. */
  private addColumn(name: string, line: number): number {
    if (this.columns.length >= this.settings.maxColumns) {
      this.columnLimit ??= { columns: this.columns.length + 1, line };
      return -1;
    }
    const column = this.column(name);
    const before = this.wellFormedRows;
    for (let r = 0; r < Math.min(before, this.firstLines.length); r++) column.missing.note(this.firstLines[r]);
    column.missing.count += Math.max(0, before - this.firstLines.length);
    const i = this.columns.length;
    this.columns.push(column);
    (this.header as string[]).push(name);
    this.index.set(name, i);
    if (name === this.settings.timeColumn) {
      // The rows before were missing the time too.
      this.timeIndex = i;
      (this.time as TimeScan).missing.merge(column.missing.toJSON(), 0);
    }
    return i;
  }
}
