/**
 * The drift report's shape: for each feature, the test run, its statistic, threshold and verdict,
 * the null-share rise and a summary of both sides (the reference from the training profile, the
 * current window); for the dataset, the share of drifted features. And the options a report is
 * made with (tests and thresholds, from config.ts).
 */
import type { FeatureType } from '../shared/types';
import type { DriftTestName, FeatureDriftConfig } from './config';

export interface Distribution {
  kind: FeatureType;
  /** Bin label (numeric) or category (categorical) -> share of the non-missing values. */
  distribution: Record<string, number>;
}

/** One side of a feature's comparison. */
export interface ColumnSummary extends Distribution {
  /** Non-missing values. */
  count: number;
  missing: number;
  /** missing / (count + missing); 0 when there are no rows. */
  nullShare: number;
  mean?: number;
  std?: number;
  min?: number;
  max?: number;
  /** Distinct values, when known (null: more than the monitor tracks). */
  distinct?: number | null;
  /** Values of a categorical window that the reference does not list (the first few). */
  unseen?: string[];
}

export interface NullShareDrift {
  reference: number;
  current: number;
  /** The rise (current - reference) above which the null share has drifted. */
  threshold: number;
  drifted: boolean;
}

export interface FeatureDrift {
  name: string;
  type: FeatureType;
  /** The test run (or that would have run: see `warning`). */
  test: DriftTestName;
  /** 'auto': Evidently's default selection; 'config': set by the drift configuration. */
  selection: 'auto' | 'config';
  /** Why this test, in words. */
  reason: string;
  /** The test's statistic (KS D, chi-squared, z, or the distance); null when not tested. */
  statistic: number | null;
  /** p-value tests only; null for distances and untested features. */
  pValue: number | null;
  /** p-value tests: drift when pValue < threshold; distances: when statistic >= threshold. */
  threshold: number;
  drifted: boolean;
  /** Bounds of the statistic where binned counts leave it inexact (KS, Wasserstein). */
  bounds?: { lower: number; upper: number };
  /** Whether the feature counts in the drift share (config `enabled`, default true). */
  enabled: boolean;
  /** Rows in the current window. */
  rows: number;
  /** Rows of the current window where the feature is missing. */
  missing: number;
  nullShare: NullShareDrift;
  reference: ColumnSummary;
  current: ColumnSummary;
  warning?: string;
}

export interface DriftReport {
  /** driftShare >= driftShareThreshold, with at least one tested feature. */
  datasetDrift: boolean;
  /** Drifted features / tested features (0 when none was tested). */
  driftShare: number;
  driftShareThreshold: number;
  /** Features tested (enabled, with values on both sides) and, of them, drifted. */
  tested: number;
  drifted: number;
  /** Whether some feature's null share rose by more than its threshold. */
  nullShareDrift: boolean;
  rows: number;
  features: FeatureDrift[];
  generatedAt: string;
}

export interface DriftOptions {
  /** The test of every feature without its own; default 'auto' (Evidently's selection). */
  test?: DriftTestName | 'auto';
  /** The threshold of every feature without its own; only with `test`. */
  threshold?: number;
  /** Thresholds by test (defaults: config.DRIFT_TESTS). */
  thresholds?: Partial<Record<DriftTestName, number>>;
  /** Per-feature test, threshold, null-share threshold, enabled. */
  features?: Record<string, FeatureDriftConfig>;
  /** Share of drifted features at or above which the dataset has drifted; default 0.5. */
  driftShareThreshold?: number;
  /** Rise of a feature's null share above which it has drifted; default 0.1. */
  nullShareThreshold?: number;
  now?: Date;
}
