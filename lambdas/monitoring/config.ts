/**
 * The drift monitor's configuration: which test each feature gets and at what threshold, the
 * dataset's drift share, the null-share rise, the quality margin. One JSON document (the drift
 * function's DRIFT_CONFIG variable, set from the CDK prop `monitoring.driftConfig`): its top level
 * applies to every model, `models.<name>` overrides it for one model, and `features.<name>`
 * overrides it for one feature.
 *
 * {
 *   "thresholds": { "ks": 0.01 },                      // per-test thresholds (p-value or distance)
 *   "driftShare": 0.5, "nullShareThreshold": 0.1,
 *   "features": { "age": { "test": "psi", "threshold": 0.25 }, "id": { "enabled": false } },
 *   "quality": { "margin": 0.05, "minRows": 30 },
 *   "models": { "churn": { "test": "wasserstein", "features": { "plan": { "test": "chisquare" } } } }
 * }
 */
import { z } from 'zod';
import { InvalidInput } from '../shared/errors';
import { getOwn, setOwn } from '../shared/own-record';

/** The tests, by Evidently's names. */
export const DRIFT_TEST_NAMES = ['ks', 'chisquare', 'z', 'wasserstein', 'jensenshannon', 'psi', 'kl_div', 'hellinger'] as const;
export type DriftTestName = (typeof DRIFT_TEST_NAMES)[number];

export interface DriftTestSpec {
  /** 'p_value': drifted when the p-value is below the threshold; 'distance': when the statistic reaches it. */
  readonly kind: 'p_value' | 'distance';
  readonly defaultThreshold: number;
  readonly description: string;
}

export const DRIFT_TESTS: Record<DriftTestName, DriftTestSpec> = {
  ks: { kind: 'p_value', defaultThreshold: 0.05, description: 'two-sample Kolmogorov-Smirnov test' },
  chisquare: { kind: 'p_value', defaultThreshold: 0.05, description: 'chi-squared goodness of fit to the reference shares' },
  z: { kind: 'p_value', defaultThreshold: 0.05, description: 'two-proportion z-test' },
  wasserstein: { kind: 'distance', defaultThreshold: 0.1, description: 'Wasserstein distance / reference standard deviation' },
  jensenshannon: { kind: 'distance', defaultThreshold: 0.1, description: 'Jensen-Shannon distance' },
  // Evidently's default is 0.1; mloop keeps 0.2, the common "significant shift" rule of thumb and
  // its earlier default (the DRIFT_THRESHOLD variable, CDK prop driftThreshold).
  psi: { kind: 'distance', defaultThreshold: 0.2, description: 'population stability index' },
  kl_div: { kind: 'distance', defaultThreshold: 0.1, description: 'Kullback-Leibler divergence KL(reference || current)' },
  hellinger: { kind: 'distance', defaultThreshold: 0.1, description: 'Hellinger distance' },
};

/** Reference rows up to which Evidently's default selection uses statistical tests (p-values). */
export const SMALL_REFERENCE_ROWS = 1000;
export const DEFAULT_DRIFT_SHARE = 0.5;
export const DEFAULT_NULL_SHARE_THRESHOLD = 0.1;
export const DEFAULT_QUALITY_MARGIN = 0.05;
export const DEFAULT_QUALITY_MIN_ROWS = 30;

const testName = z.enum(DRIFT_TEST_NAMES);
const threshold = z.number().positive().finite();

const featureSchema = z
  .object({
    test: z.union([testName, z.literal('auto')]).optional(),
    threshold: threshold.optional(),
    nullShareThreshold: z.number().min(0).max(1).optional(),
    /** false: the feature is left out of the drift share (still summarized). */
    enabled: z.boolean().optional(),
  })
  .strict();

const qualitySchema = z
  .object({
    /** Relative drop of the primary metric from its evaluation value that counts as a quality drop. */
    margin: z.number().min(0).optional(),
    /** Labelled rows a window needs before its quality is judged. */
    minRows: z.number().int().positive().optional(),
  })
  .strict();

const modelSchema = z
  .object({
    /** The test of every feature ('auto': Evidently's default selection). */
    test: z.union([testName, z.literal('auto')]).optional(),
    /** A threshold for every feature; only with `test`, since p-values and distances differ. */
    threshold: threshold.optional(),
    /** Thresholds by test. */
    thresholds: z.partialRecord(testName, threshold).optional(),
    driftShare: z.number().gt(0).max(1).optional(),
    nullShareThreshold: z.number().min(0).max(1).optional(),
    features: z.record(z.string(), featureSchema).optional(),
    quality: qualitySchema.optional(),
  })
  .strict();

export const driftConfigSchema = modelSchema.extend({ models: z.record(z.string(), modelSchema).optional() }).strict();

export type FeatureDriftConfig = z.infer<typeof featureSchema>;
export type ModelDriftConfig = z.infer<typeof modelSchema>;
export type DriftConfig = z.infer<typeof driftConfigSchema>;

/** One model's configuration with every default filled in. */
export interface ResolvedDriftConfig {
  readonly test: DriftTestName | 'auto';
  readonly thresholds: Record<DriftTestName, number>;
  readonly driftShare: number;
  readonly nullShareThreshold: number;
  readonly features: Record<string, FeatureDriftConfig>;
  readonly quality: { readonly margin: number; readonly minRows: number };
}

/** Parse a DRIFT_CONFIG document (JSON text or an object); '' or undefined is {}. */
export function parseDriftConfig(source: string | unknown | undefined): DriftConfig {
  let value: unknown = source;
  if (source === undefined || source === '') return {};
  if (typeof source === 'string') {
    try {
      value = JSON.parse(source);
    } catch (error) {
      throw new InvalidInput(`The drift configuration is not valid JSON: ${(error as Error).message}`);
    }
  }
  const parsed = driftConfigSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new InvalidInput(`The drift configuration is not valid: ${problems}.`);
  }
  checkThreshold(parsed.data, 'the top level');
  for (const [name, model] of Object.entries(parsed.data.models ?? {})) checkThreshold(model, `models.${name}`);
  return parsed.data;
}

function checkThreshold(config: ModelDriftConfig, where: string): void {
  if (config.threshold !== undefined && (config.test === undefined || config.test === 'auto')) {
    throw new InvalidInput(
      `The drift configuration sets a threshold at ${where} without a test: set "test" too, or use "thresholds" by test.`,
    );
  }
}

export interface ResolveDefaults {
  /** The PSI threshold of the DRIFT_THRESHOLD variable (CDK prop driftThreshold). */
  readonly psiThreshold?: number;
  /** DRIFT_SHARE_THRESHOLD (CDK prop driftShareThreshold). */
  readonly driftShare?: number;
}

/** The configuration of one model: defaults, then the top level, then `models.<model>`. */
export function resolveDriftConfig(config: DriftConfig, model: string, defaults: ResolveDefaults = {}): ResolvedDriftConfig {
  const own = config.models?.[model] ?? {};
  const thresholds = Object.fromEntries(DRIFT_TEST_NAMES.map((t) => [t, DRIFT_TESTS[t].defaultThreshold])) as Record<DriftTestName, number>;
  if (defaults.psiThreshold !== undefined) thresholds.psi = defaults.psiThreshold;
  for (const level of [config, own]) {
    Object.assign(thresholds, level.thresholds ?? {});
    if (level.threshold !== undefined && level.test !== undefined && level.test !== 'auto') thresholds[level.test] = level.threshold;
  }
  // Keyed by feature names, which may be `__proto__` or `constructor`: own properties only.
  const features: Record<string, FeatureDriftConfig> = {};
  for (const level of [config.features ?? {}, own.features ?? {}]) {
    for (const [name, feature] of Object.entries(level)) setOwn(features, name, { ...getOwn(features, name), ...feature });
  }
  return {
    test: own.test ?? config.test ?? 'auto',
    thresholds,
    driftShare: own.driftShare ?? config.driftShare ?? defaults.driftShare ?? DEFAULT_DRIFT_SHARE,
    nullShareThreshold: own.nullShareThreshold ?? config.nullShareThreshold ?? DEFAULT_NULL_SHARE_THRESHOLD,
    features,
    quality: {
      margin: own.quality?.margin ?? config.quality?.margin ?? DEFAULT_QUALITY_MARGIN,
      minRows: own.quality?.minRows ?? config.quality?.minRows ?? DEFAULT_QUALITY_MIN_ROWS,
    },
  };
}

/**
 * A window length: "30m", "24h", "7d", "90s" (or a number of seconds). Returns seconds.
 */
export function parseWindow(text: string | number): number {
  if (typeof text === 'number') {
    if (!(text > 0) || !Number.isFinite(text)) throw new InvalidInput(`A window must be a positive number of seconds, got ${text}.`);
    return text;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$/i.exec(text);
  if (!m) throw new InvalidInput(`'${text}' is not a window: expected a number and a unit, such as 30m, 24h or 7d.`);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2].toLowerCase() as 's' | 'm' | 'h' | 'd' | 'w'];
  if (!(seconds > 0)) throw new InvalidInput(`A window must be longer than 0, got '${text}'.`);
  return seconds;
}
