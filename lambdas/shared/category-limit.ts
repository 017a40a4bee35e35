/**
 * The longest a category value may be, shared by ingestion (a longer value in a categorical column
 * is a `category_too_long` violation, lambdas/data/checks.ts) and the prediction API (a longer value
 * of a categorical feature is a 400, lambdas/inference/validate.ts), and how a value that is not a
 * feature (a free-text column sent along) is shortened before it is captured: a 5 MB value was once
 * copied whole into the captures and the drift report.
 */
export const DEFAULT_MAX_CATEGORY_LENGTH = 1000;

/**
 * The instance as it is captured: strings longer than `max` characters are cut to their head and a
 * note of their length, so a capture line stays small whatever a field not checked as a category holds.
 */
export function boundedInstance(instance: Record<string, unknown>, max: number): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(instance)) {
    if (typeof value === 'string' && value.length > max) {
      copy ??= { ...instance };
      // defineProperty: a field named __proto__ stays a field.
      Object.defineProperty(copy, name, {
        value: `${value.slice(0, max)}\u2026(${value.length} characters)`,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return copy ?? instance;
}
