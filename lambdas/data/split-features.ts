/**
 * What the splits add to the rows for training (SplitFeatures): the features derived from each
 * date-time column, appended to every row as numeric columns (`date.hour`, ...: the trainer, ours
 * or a user's own, reads them like any column), and each categorical feature's vocabulary, counted
 * over the train split's rows only. The splits' schema.json (trainingSchema) says which columns are
 * derived and holds those vocabularies, so that a value met only in validation, test or serving
 * falls in the model's trained unknown bucket instead of an embedding row that never trained.
 */
import { datePart, datePartsFor, derivedCell, derivedName, parseDateTime, type DatePart } from '../shared/datetime';
import type { ColumnSchema, DatasetSchema } from '../shared/types';
import { isBlank } from './cells';
import { CellInterner } from './cell-interner';
import { nameList, quote } from './messages';
import { CategoryCounter, compareStrings, type CategoryCounterState } from './profile';
import type { RowFeatures, SplitName } from './splits';

/** Read once, not at every train row: see the same in ./column-scan.ts. */
const blank = isBlank;

/** Categories kept in a feature's vocabulary, the most frequent in the train split. */
export const MAX_VOCABULARY = 1000;

/** The train split's category counts per categorical feature, as JSON (a part's share, see parts.ts). */
export type VocabularyState = Record<string, CategoryCounterState>;

/** A CSV line as the tokenizer hands it over whole: its text between two offsets. */
export interface PlainLine {
  readonly text: string;
  readonly textStart: number;
  /** The end of its content (before the line end). */
  readonly textEnd: number;
  /** The offsets of its commas, where already found (split-hash.ts lineCommas): no walk over the line then. */
  readonly commas?: { readonly at: Int32Array; readonly count: number };
}

/** A date-time column's place in the header and the parts derived from it. */
interface DateColumn {
  readonly index: number;
  readonly format: string | undefined;
  readonly parts: DatePart[];
}

/** The schema's date-time columns, each with its parts (ColumnSchema.parts, else all of them). */
function partsOf(column: ColumnSchema): DatePart[] {
  return column.parts ?? datePartsFor(true);
}

/** Whether a column is a categorical feature (not the target, not excluded). */
function isCategoricalFeature(column: ColumnSchema, target: string): boolean {
  return column.type === 'categorical' && column.excluded === undefined && column.name !== target;
}

export class SplitFeatures implements RowFeatures {
  private dates: DateColumn[] = [];
  private categorical: { index: number; counter: CategoryCounter }[] = [];
  private readonly counters = new Map<string, CategoryCounter>();

  /**
   * @param schema the dataset's schema (ScanResult.schema)
   * @param declaredDomain whether its categories are a declared domain (a strict schema.json or
   *   CDK props schema): the vocabulary then keeps to them
   */
  constructor(
    private readonly schema: DatasetSchema,
    private readonly declaredDomain = false,
  ) {
    for (const column of schema.columns)
      if (isCategoricalFeature(column, schema.target)) this.counters.set(column.name, new CategoryCounter());
  }

  /** The header as written: the file's, then the derived columns. Throws when a derived name is taken. */
  header(header: readonly string[]): string[] {
    const names = new Set(header);
    const derived: string[] = [];
    this.dates = [];
    for (const column of this.schema.columns) {
      if (column.type !== 'datetime') continue;
      const index = header.indexOf(column.name);
      if (index < 0) throw new Error(`The datetime column ${quote(column.name)} is not among the columns ${nameList([...header])}.`);
      const parts = partsOf(column);
      for (const part of parts) {
        const name = derivedName(column.name, part);
        if (names.has(name))
          throw new Error(
            `The column ${quote(name)} is both in the file and a feature derived from the datetime column ${quote(column.name)}; rename it.`,
          );
        derived.push(name);
      }
      this.dates.push({ index, format: column.format, parts });
    }
    this.categorical = [];
    for (const [name, counter] of this.counters) {
      const index = header.indexOf(name);
      if (index >= 0) this.categorical.push({ index, counter });
    }
    this.dateFields = [...new Set(this.dates.map((d) => d.index))].sort((a, b) => a - b);
    this.interners = new Map(this.categorical.map((c) => [c.index, new CellInterner()]));
    this.lineFields = [...new Set([...this.dateFields, ...this.categorical.map((c) => c.index)])].sort((a, b) => a - b);
    return derived.length === 0 ? [...header] : [...header, ...derived];
  }

  /** A data row as written (its derived cells appended), counting the train split's categories. */
  row(record: string[], split: SplitName): string[] {
    if (split === 'train') this.countTrain(record);
    if (this.dates.length === 0) return record;
    const out = record.slice();
    this.derive(record, (cell) => out.push(cell));
    return out;
  }

  /**
   * The same for a CSV line the splits copy as it stands (comma-separated, no quotes, ASCII): the
   * derived cells, each after a comma. Only the fields needed are cut out of the line.
   */
  lineSuffix(line: PlainLine, split: SplitName): string {
    const wanted = split === 'train' ? this.lineFields : this.dateFields;
    if (wanted.length === 0) return '';
    const { text, textStart, textEnd, commas } = line;
    const cells = this.lineCells;
    if (commas !== undefined) {
      // Field i lies between comma i - 1 (or the line's start) and comma i (or its end).
      const at = commas.at;
      const count = commas.count;
      for (const target of wanted) {
        if (target > count) {
          cells[target] = '';
          continue;
        }
        const start = target === 0 ? textStart : at[target - 1] + 1;
        const end = target === count ? textEnd : at[target];
        this.cut(text, target, start, end);
      }
      return this.finishLine(cells, split);
    }
    // One walk over the line's characters, up to the end of the last field wanted (a short line:
    // a loop of charCodeAt is cheaper here than a native indexOf per field).
    let start = textStart;
    let index = 0;
    let at = textStart;
    for (const target of wanted) {
      for (; index < target && at <= textEnd; at++) {
        if (at === textEnd || text.charCodeAt(at) === 0x2c) {
          index++;
          start = at + 1;
        }
      }
      if (index < target || start > textEnd) {
        cells[target] = '';
        continue;
      }
      let end = start;
      while (end < textEnd && text.charCodeAt(end) !== 0x2c) end++;
      this.cut(text, target, start, end);
    }
    return this.finishLine(cells, split);
  }

  /** lineSuffix's end, its wanted fields cut out: count a train row's categories, derive the dates. */
  private finishLine(cells: readonly string[], split: SplitName): string {
    if (split === 'train') this.countTrain(cells, true);
    if (this.dates.length === 0) return '';
    // Derived cells are numbers or empty: nothing to quote.
    let suffix = '';
    this.derive(cells, (cell) => (suffix += `,${cell}`));
    return suffix;
  }

  /** Field indices a plain line is cut at: for a train row (categories and dates), for any other (dates). */
  private lineFields: number[] = [];
  private dateFields: number[] = [];
  /** The fields cut out of the current plain line, by column index (only the wanted ones are current). */
  private readonly lineCells: string[] = [];
  /** The interner's slot of each cut-out categorical field (CellInterner.slot). */
  private readonly lineSlots: number[] = [];

  /** Field `target` of a plain line, text[start, end), into lineCells. */
  private cut(text: string, target: number, start: number, end: number): void {
    const interner = this.interners.get(target);
    if (interner === undefined) {
      this.lineCells[target] = text.slice(start, end);
      return;
    }
    // A category repeats: its interned string, whose hash the counting map has seen before.
    this.lineCells[target] = interner.get(text, start, end);
    this.lineSlots[target] = interner.slot;
  }
  private interners = new Map<number, CellInterner>();

  /** Count a train row's categorical cells (the row's cells, or a line's cut-out fields, by column index). */
  private countTrain(cells: readonly (string | undefined)[], interned = false): void {
    for (const { index, counter } of this.categorical) {
      const cell = cells[index];
      if (cell === undefined || blank(cell)) continue;
      // A cut-out field: the slot its interner returned it from (CategoryCounter.addInSlot).
      const slot = interned ? this.lineSlots[index] : -1;
      counter.addInSlot(cell, slot);
    }
  }

  /** Each date-time column's derived cells, in order, handed to `emit`. */
  private derive(cells: readonly (string | undefined)[], emit: (cell: string) => void): void {
    for (const { index, format, parts } of this.dates) {
      const cell = cells[index];
      const time = cell === undefined || isBlank(cell) ? undefined : parseDateTime(cell, format);
      for (const part of parts) emit(derivedCell(time === undefined ? undefined : datePart(time, part)));
    }
  }

  /** The train split's counts, for a part's JSON. */
  vocabularyState(): VocabularyState {
    const state: VocabularyState = {};
    for (const [name, counter] of this.counters) Object.defineProperty(state, name, { value: counter.toJSON(), enumerable: true });
    return state;
  }

  /** Add a part's counts (any order: the counts of the whole train split are a sum). */
  mergeVocabulary(state: VocabularyState): void {
    for (const [name, counter] of this.counters) {
      const other = Object.hasOwn(state, name) ? state[name] : undefined;
      if (other !== undefined) counter.merge(CategoryCounter.fromJSON(other));
    }
  }

  /**
   * A categorical feature's vocabulary: its most frequent train values, up to MAX_VOCABULARY, in
   * sorted order; past the limit, values met once are left to the unknown bucket (they would
   * train an embedding row on a single example, and a tie among them has no order to pick by).
   * A declared domain (schema.json's categories) keeps only what the train split holds.
   */
  vocabulary(column: ColumnSchema): string[] {
    const counter = this.counters.get(column.name);
    if (counter === undefined) return column.categories ?? [];
    const crowded = counter.distinct > MAX_VOCABULARY;
    let values = counter
      .top(MAX_VOCABULARY)
      .filter(([, count]) => !crowded || count > 1)
      .map(([value]) => value);
    if (column.categories !== undefined && column.categories.length > 0 && this.declaredDomain) {
      const domain = new Set(column.categories);
      values = values.filter((value) => domain.has(value));
    }
    return values.sort(compareStrings);
  }

  /**
   * The splits' schema.json: the dataset's schema with each date-time column followed by its
   * derived numeric columns, and each categorical feature's categories the train vocabulary.
   */
  trainingSchema(): DatasetSchema {
    const columns: ColumnSchema[] = [];
    for (const column of this.schema.columns) {
      if (column.type === 'datetime') {
        const parts = partsOf(column);
        columns.push({ ...column, parts });
        for (const part of parts) {
          columns.push({
            name: derivedName(column.name, part),
            type: 'numeric',
            nullable: column.nullable,
            derivedFrom: { column: column.name, part, ...(column.format !== undefined ? { format: column.format } : {}) },
          });
        }
      } else if (isCategoricalFeature(column, this.schema.target)) {
        columns.push({ ...column, categories: this.vocabulary(column) });
      } else {
        columns.push(column);
      }
    }
    return { ...this.schema, columns };
  }
}
