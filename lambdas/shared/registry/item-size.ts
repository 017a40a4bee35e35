/**
 * DynamoDB's item size limit (400 KB, names and values together) and the size of an item as
 * DynamoDB counts it, so that a record that can grow with the data (a model's schema with 1,000
 * columns of 1,000 categories) is kept in S3 before a write would fail with a ValidationException.
 * Pure.
 *
 * The count follows DynamoDB's documented rules: a string is its UTF-8 bytes, a number about one
 * byte per two significant digits plus one, a boolean or null one byte, a list or map three bytes
 * plus one per element plus its elements (a map's names counted like strings), and each attribute
 * name its UTF-8 bytes. Numbers are counted at their 21-byte maximum, so the result never falls
 * short of DynamoDB's.
 */

/** The largest item DynamoDB stores: 400 KB, attribute names included. */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** The bytes DynamoDB counts for one attribute value (an upper bound for numbers). */
export function valueBytes(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') return 21;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + valueBytes(v), 0);
  if (typeof value === 'object') {
    return 3 + Object.entries(value as Record<string, unknown>).reduce((sum, [k, v]) => sum + 1 + utf8(k) + valueBytes(v), 0);
  }
  return utf8(String(value));
}

/** The bytes DynamoDB counts for an item: each attribute's name and value. */
export function itemBytes(item: Record<string, unknown>): number {
  return Object.entries(item).reduce((sum, [name, value]) => (value === undefined ? sum : sum + utf8(name) + valueBytes(value)), 0);
}
