/**
 * Issue 18, output hygiene: CSV outputs a person may open (batch predictions,
 * lambdas/batch/score-part.ts) neutralize formula prefixes. The batch output itself is asserted in
 * test/batch-scoring.test.ts ("cells that a spreadsheet would run as formulas ...").
 */
import { spreadsheetSafe } from '../../lambdas/shared/spreadsheet-safe';

test.each([
  ['=1+2', "'=1+2"],
  ['+cmd|calc', "'+cmd|calc"],
  ['-2+3', "'-2+3"],
  ['@SUM(A1)', "'@SUM(A1)"],
  ['\t=1', "'\t=1"],
  ['\r=1', "'\r=1"],
])('%j, which a spreadsheet would run, is written as %j', (cell, written) => {
  expect(spreadsheetSafe(cell)).toBe(written);
});

test.each(['-1.5', '+3', '-2e-5', '1.25', '0', 'churned', '', 'a=b', ' =1'])('%j is data and is written as it is', (cell) => {
  expect(spreadsheetSafe(cell)).toBe(cell);
});
