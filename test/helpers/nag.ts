/**
 * cdk-nag in the tests: synthesize an app and read what its AwsSolutions pack reported during
 * that synthesis (the findings no acknowledgement covers, by level), and the acknowledgements in
 * the construct tree with their reasons. A test that asserts on the report fails when the pack
 * did not run at all, which a bare "synthesis does not throw" would not notice.
 */
import { Validations, type App, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** What the AwsSolutions pack reported while an app was synthesized. */
export interface NagSynthesis {
  /** How many times the pack validated the app (0: it was not applied). */
  readonly runs: number;
  /** Unacknowledged findings of level error, as `<rule> <construct path>`. */
  readonly errors: string[];
  /** Unacknowledged findings of level warning (they fail synthesis too). */
  readonly warnings: string[];
  /** The message synthesis failed with, if it did. */
  readonly synthError?: string;
}

/** Synthesize `app` (quietly: CDK prints a failed report) and return what cdk-nag reported. */
export function synthWithNag(app: App): NagSynthesis {
  const validate = jest.spyOn(AwsSolutionsChecks.prototype, 'validate');
  const quiet = (['error', 'warn', 'log'] as const).map((level) => jest.spyOn(console, level).mockImplementation(() => {}));
  let synthError: string | undefined;
  try {
    app.synth();
  } catch (error) {
    synthError = (error as Error).message;
  } finally {
    for (const spy of quiet) spy.mockRestore();
  }
  const reports = validate.mock.results.filter((r) => r.type === 'return').map((r) => r.value as PolicyValidationPluginReport);
  validate.mockRestore();
  const findings = (severity: string) =>
    reports.flatMap((report) =>
      report.violations
        .filter((v) => v.severity === severity)
        .flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath ?? r.resourceLogicalId}`)),
    );
  return { runs: reports.length, errors: findings('error'), warnings: findings('warning'), ...(synthError ? { synthError } : {}) };
}

export interface NagAcknowledgement {
  /** The construct the acknowledgement sits on. */
  readonly path: string;
  /** The finding, without CDK's 'Annotation::' namespace. */
  readonly rule: string;
  readonly reason: string;
}

/** Every acknowledgement in a construct tree: where, which rule, why. */
export function acknowledgements(root: IConstruct): NagAcknowledgement[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY && m.data)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          rule: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/** The acknowledgements whose reason a reviewer would not accept (under 40 characters, or a TODO). */
export function acknowledgementsWithoutReason(root: IConstruct): NagAcknowledgement[] {
  return acknowledgements(root).filter(({ reason }) => !(typeof reason === 'string' && reason.length >= 40 && !/TODO/i.test(reason)));
}
