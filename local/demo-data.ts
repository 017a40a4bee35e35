/**
 * The demo dataset `npm start` trains on: customer churn, generated from a fixed seed so that the
 * same bytes come out on every machine (a second `npm start` is then a duplicate drop, by design).
 */

import { prng } from '../lambdas/shared/prng';

export { prng };

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export const DEMO_FEATURES = ['tenure_months', 'monthly_charges', 'support_calls', 'contract', 'payment'] as const;
export const DEMO_TARGET = 'churned';

export interface ChurnOptions {
  readonly rows: number;
  readonly seed: number;
  /** Shift the numeric inputs (in standard deviations), to exercise the drift monitor. */
  readonly shift?: number;
}

export interface ChurnRow {
  tenure_months: number;
  monthly_charges: number;
  support_calls: number;
  contract: string;
  payment: string;
  churned: number;
}

export function churnRows({ rows, seed, shift = 0 }: ChurnOptions): ChurnRow[] {
  const rand = prng(seed);
  const contracts = ['month-to-month', 'one-year', 'two-year'];
  const payments = ['card', 'bank-transfer', 'invoice'];
  const out: ChurnRow[] = [];
  for (let i = 0; i < rows; i++) {
    const contract = contracts[Math.min(2, Math.floor(rand() * rand() * 3 * 1.4))];
    const payment = payments[Math.floor(rand() * 3)];
    const tenure = Math.max(0, Math.round(24 + 18 * (normal(rand) + shift)));
    const charges = Math.round((65 + 25 * (normal(rand) + shift)) * 100) / 100;
    const calls = Math.max(0, Math.round(2 + 1.5 * (normal(rand) + shift)));
    const logit =
      -0.5 -
      0.06 * (tenure - 24) +
      0.03 * (charges - 65) +
      0.55 * (calls - 2) +
      (contract === 'month-to-month' ? 1.2 : contract === 'one-year' ? -0.3 : -1.4) +
      (payment === 'invoice' ? 0.4 : 0);
    const churned = rand() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    out.push({ tenure_months: tenure, monthly_charges: charges, support_calls: calls, contract, payment, churned });
  }
  return out;
}

export function toCsv(rows: ChurnRow[]): string {
  const header = [...DEMO_FEATURES, DEMO_TARGET];
  return [header.join(','), ...rows.map((r) => header.map((h) => String(r[h as keyof ChurnRow])).join(','))].join('\n') + '\n';
}
