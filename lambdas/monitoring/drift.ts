/**
 * Data drift: live feature values against the training profile, feature by feature. This file holds
 * the accumulator that reads the window row by row and gathers the features into the report
 * (drift-report.ts); each feature's counts are kept by drift-window.ts and tested by
 * feature-drift.ts, with the statistics of lambdas/shared/stats/.
 *
 * The test of each feature is chosen as Evidently chooses it by default (`selectTest`): with up to
 * 1,000 reference values, Kolmogorov-Smirnov for numeric columns with more than 5 distinct values,
 * chi-squared for categorical ones and numeric ones with 3 to 5 values, a two-proportion z-test for
 * columns of at most 2 values, drift at p < 0.05; with more reference values, the Wasserstein
 * distance over the reference's standard deviation (numeric) and the Jensen-Shannon distance
 * (categorical, and numeric with at most 5 values), drift at >= 0.1. PSI, KL divergence and
 * Hellinger are available by configuration (config.ts), with per-model and per-feature overrides.
 *
 * Only the profile is used (histograms on fixed edges, the numeric sketches, category frequencies,
 * counts): a monitor never rescans the training data, and the window is kept as counts per bin or
 * per value, so its memory does not grow with the number of rows. What binning costs:
 * - KS and Wasserstein are exact when the profile lists every distinct value ('points' sketches:
 *   columns of at most 1,024 values, which covers every column KS is chosen for by default), up to
 *   the Wasserstein distance inside a gap between two reference values that the window's CDF
 *   crosses;
 * - on 'bins' sketches (about 100 bins of about equal counts) and on profiles without a sketch
 *   (their 10-bin histogram), both are bounded: the report gives `bounds`. The KS statistic reported
 *   is the lower bound (the CDFs compared at the bin edges), so its p-value errs on the side of no
 *   drift; the upper bound exceeds it by at most the largest reference bin share plus the window's
 *   share in that bin (about 1% + the window's share with 100 equal-count bins). The Wasserstein
 *   distance is exact outside the reference's range and, inside, assumes the reference spread
 *   evenly in each bin; its error is at most sum over bins of width x (reference share + window
 *   share), the bounds say how much for the data at hand.
 * - bucket tests (chi-squared, z, Jensen-Shannon, PSI, KL, Hellinger) on numeric columns with more
 *   than 5 values use the profile's histogram (10 equal-width bins by default); categorical ones use
 *   the profile's top categories with the rest summed under OTHER_CATEGORY (a value outside the
 *   reference's top list counts there).
 */
import { getOwn } from '../shared/own-record';
import type { DatasetProfile, FeatureType } from '../shared/types';
import { DEFAULT_DRIFT_SHARE, DEFAULT_NULL_SHARE_THRESHOLD, DRIFT_TEST_NAMES, DRIFT_TESTS, type DriftTestName } from './config';
import type { DriftOptions, DriftReport } from './drift-report';
import { addValue, featureState, type FeatureState } from './drift-window';
import { assessFeatureDrift } from './feature-drift';

export const DEFAULT_PSI_THRESHOLD = DRIFT_TESTS.psi.defaultThreshold;
export const DEFAULT_DRIFT_SHARE_THRESHOLD = DEFAULT_DRIFT_SHARE;

/**
 * Accumulates the current window row by row (O(features x log bins) per row, fixed memory), then
 * reports.
 */
export class DriftAccumulator {
  /** Rows added so far. */
  rows = 0;
  private readonly states: FeatureState[];

  constructor(features: { name: string; type: FeatureType }[], profile: DatasetProfile) {
    const seen = new Set<string>();
    this.states = features.map((feature) => {
      if (seen.has(feature.name)) throw new Error(`Feature '${feature.name}' is listed twice for the drift monitor.`);
      seen.add(feature.name);
      return featureState(feature, profile);
    });
  }

  /**
   * One captured input row. Missing: null, undefined, '' (and, for a numeric feature, anything
   * that is not a finite number or a string holding one).
   */
  add(instance: Record<string, unknown>): void {
    this.rows++;
    for (const state of this.states) addValue(state, instance[state.name]);
  }

  report(options: DriftOptions = {}): DriftReport {
    const driftShareThreshold = options.driftShareThreshold ?? DEFAULT_DRIFT_SHARE_THRESHOLD;
    if (!Number.isFinite(driftShareThreshold) || driftShareThreshold <= 0 || driftShareThreshold > 1) {
      throw new Error(`The drift share threshold must be in (0, 1], got ${driftShareThreshold}.`);
    }
    if (options.threshold !== undefined && (options.test === undefined || options.test === 'auto')) {
      throw new Error('A threshold for every feature needs a test for every feature (p-values and distances differ): give `test` too.');
    }
    const thresholds = Object.fromEntries(DRIFT_TEST_NAMES.map((t) => [t, DRIFT_TESTS[t].defaultThreshold])) as Record<
      DriftTestName,
      number
    >;
    Object.assign(thresholds, options.thresholds ?? {});
    if (options.threshold !== undefined && options.test !== undefined && options.test !== 'auto')
      thresholds[options.test] = options.threshold;
    for (const [test, value] of Object.entries(thresholds)) {
      if (!Number.isFinite(value) || value <= 0) throw new Error(`The ${test} threshold must be a finite number > 0, got ${value}.`);
    }
    const nullShareDefault = options.nullShareThreshold ?? DEFAULT_NULL_SHARE_THRESHOLD;
    let tested = 0;
    let drifted = 0;
    // Own properties only: a feature called `constructor` must not find Object.prototype's.
    const featureOptions = (name: string) => (options.features ? getOwn(options.features, name) : undefined);
    const features = this.states.map((state) => {
      const feature = assessFeatureDrift(state, this.rows, {
        test: featureOptions(state.name)?.test ?? options.test ?? 'auto',
        configured: featureOptions(state.name)?.test !== undefined || (options.test !== undefined && options.test !== 'auto'),
        thresholds,
        threshold: featureOptions(state.name)?.threshold,
        nullShareThreshold: featureOptions(state.name)?.nullShareThreshold ?? nullShareDefault,
        enabled: featureOptions(state.name)?.enabled ?? true,
      });
      if (feature.enabled && feature.statistic !== null) {
        tested++;
        if (feature.drifted) drifted++;
      }
      return feature;
    });
    const driftShare = tested === 0 ? 0 : drifted / tested;
    return {
      datasetDrift: tested > 0 && driftShare >= driftShareThreshold,
      driftShare,
      driftShareThreshold,
      tested,
      drifted,
      nullShareDrift: features.some((f) => f.nullShare.drifted),
      rows: this.rows,
      features,
      generatedAt: (options.now ?? new Date()).toISOString(),
    };
  }
}
