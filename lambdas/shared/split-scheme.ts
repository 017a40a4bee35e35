/**
 * How ingestion hashes a row into its train, validation or test split (lambdas/data/splits.ts).
 * A model keeps one scheme for all its dataset versions: a row that two versions share then lands
 * in the same split in both, so a candidate's test rows were never the champion's training rows
 * and the two are compared on data neither learned from. The scheme is recorded on the model's
 * registry item by its first accepted dataset, and on each dataset version and its report.
 */

/**
 * - `murmur3-csv`: MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of the row's line as the
 *   splits write it (RFC 4180, comma-separated, without its line feed), whatever format was read.
 *   For a CSV line without quotes that is the line's own bytes, hashed as they stand. The default.
 * - `sha1-json`: SHA-1 of the UTF-8 of the JSON array of the row's cells: the scheme of the models
 *   whose first dataset was accepted before schemes were recorded (about 3x the CPU per row).
 */
export const SPLIT_HASHES = ['murmur3-csv', 'sha1-json'] as const;
export type SplitHash = (typeof SPLIT_HASHES)[number];

/** The scheme of a new model. */
export const DEFAULT_SPLIT_HASH: SplitHash = 'murmur3-csv';

/** The scheme of a model that accepted datasets before schemes were recorded. */
export const LEGACY_SPLIT_HASH: SplitHash = 'sha1-json';

/**
 * The scheme a model's next dataset is split with: the one its registry item names; for a model
 * that accepted a dataset before schemes were recorded (it has a latest dataset but no scheme),
 * the scheme of then; for a model with no accepted dataset yet, the default.
 */
export function splitHashFor(model: { readonly splitHash?: SplitHash; readonly latestDataset?: number } | undefined): SplitHash {
  if (model?.splitHash !== undefined) return model.splitHash;
  return model?.latestDataset !== undefined ? LEGACY_SPLIT_HASH : DEFAULT_SPLIT_HASH;
}
