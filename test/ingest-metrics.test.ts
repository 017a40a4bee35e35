/**
 * The metrics ingestion publishes for each new dataset version (lambdas/data/ingest-metrics.ts),
 * read back from the Embedded Metric Format document Powertools would write.
 */
import { ingestMetrics, INGEST_METRICS_SERVICE } from '../lambdas/data/ingest-metrics';

function emf(namespace: string, scan: { rows: number; accepted: boolean }) {
  const doc = ingestMetrics(namespace, scan).serializeMetrics() as unknown as Record<string, unknown> & {
    _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  };
  const directive = doc._aws.CloudWatchMetrics[0];
  const values = Object.fromEntries(directive.Metrics.map((m) => [m.Name, doc[m.Name]]));
  return { namespace: directive.Namespace, dimensions: directive.Dimensions, service: doc.service, values };
}

describe('ingestion metrics', () => {
  test('an accepted version counts its rows and one accepted version, no rejection', () => {
    expect(emf('mloop', { rows: 1234, accepted: true })).toEqual({
      namespace: 'mloop',
      dimensions: [['service']],
      service: INGEST_METRICS_SERVICE,
      values: { DatasetRows: 1234, DatasetsAccepted: 1, DatasetsRejected: 0, RejectedRows: 0 },
    });
  });

  test('a rejected version counts one rejection and its rows as rejected rows, in the namespace given', () => {
    expect(emf('team-ml', { rows: 7, accepted: false })).toMatchObject({
      namespace: 'team-ml',
      service: 'mloop-ingest',
      values: { DatasetRows: 7, DatasetsAccepted: 0, DatasetsRejected: 1, RejectedRows: 7 },
    });
  });
});
