/**
 * EventBridge schedule expressions as the local runtime fires them (local/schedules.ts): rate and
 * cron, the next run after a moment, and the expressions EventBridge refuses.
 */
import { InvalidSchedule, nextRun, parseSchedule } from '../local/schedules';

const next = (expression: string, after: string): string | undefined => nextRun(parseSchedule(expression), new Date(after))?.toISOString();

describe('rate expressions', () => {
  it('fire one period after the moment given', () => {
    expect(next('rate(1 hour)', '2025-03-01T10:15:00Z')).toBe('2025-03-01T11:15:00.000Z');
    expect(next('rate(5 minutes)', '2025-03-01T10:15:00Z')).toBe('2025-03-01T10:20:00.000Z');
    expect(next('rate(2 days)', '2025-03-01T10:15:00Z')).toBe('2025-03-03T10:15:00.000Z');
  });

  it('refuse a plural for 1, a singular otherwise, zero and unknown units', () => {
    expect(() => parseSchedule('rate(1 hours)')).toThrow(InvalidSchedule);
    expect(() => parseSchedule('rate(2 hour)')).toThrow('use "hour" for 1 and the plural otherwise');
    expect(() => parseSchedule('rate(0 minutes)')).toThrow('the rate value must be a positive integer');
    expect(() => parseSchedule('rate(1 week)')).toThrow('a rate is "rate(value unit)"');
  });
});

describe('cron expressions', () => {
  it('fire at the next matching minute, in UTC', () => {
    expect(next('cron(0 12 * * ? *)', '2025-03-01T10:15:00Z')).toBe('2025-03-01T12:00:00.000Z');
    expect(next('cron(0 12 * * ? *)', '2025-03-01T12:00:00Z')).toBe('2025-03-02T12:00:00.000Z');
    expect(next('cron(0/15 * * * ? *)', '2025-03-01T10:16:30Z')).toBe('2025-03-01T10:30:00.000Z');
  });

  it('read days of the week by name and number (Sunday is 1), and ranges', () => {
    // 2025-03-01 is a Saturday.
    expect(next('cron(0 8 ? * MON-FRI *)', '2025-03-01T00:00:00Z')).toBe('2025-03-03T08:00:00.000Z');
    expect(next('cron(30 6 ? * 1 *)', '2025-03-01T00:00:00Z')).toBe('2025-03-02T06:30:00.000Z');
  });

  it('read L, W and # as EventBridge does', () => {
    expect(next('cron(0 0 L * ? *)', '2025-02-03T00:00:00Z')).toBe('2025-02-28T00:00:00.000Z');
    // The 15th of March 2025 is a Saturday: the nearest weekday is Friday the 14th.
    expect(next('cron(0 0 15W * ? *)', '2025-03-01T00:00:00Z')).toBe('2025-03-14T00:00:00.000Z');
    // The second Tuesday of March 2025 is the 11th; the last Friday is the 28th.
    expect(next('cron(0 9 ? * 3#2 *)', '2025-03-01T00:00:00Z')).toBe('2025-03-11T09:00:00.000Z');
    expect(next('cron(0 9 ? * 6L *)', '2025-03-01T00:00:00Z')).toBe('2025-03-28T09:00:00.000Z');
  });

  it('read months by name and stop after the last year', () => {
    expect(next('cron(0 0 1 JAN ? *)', '2025-03-01T00:00:00Z')).toBe('2026-01-01T00:00:00.000Z');
    expect(next('cron(0 0 1 1 ? 2025)', '2025-03-01T00:00:00Z')).toBeUndefined();
  });

  it('refuse six fields without exactly one "?", and values out of range', () => {
    expect(() => parseSchedule('cron(0 12 * * *)')).toThrow('a cron expression has six fields');
    expect(() => parseSchedule('cron(0 12 * * * *)')).toThrow("exactly one of day-of-month and day-of-week must be '?'");
    expect(() => parseSchedule('cron(0 25 * * ? *)')).toThrow("'25' is out of 0-23");
    expect(() => parseSchedule('every hour')).toThrow('it is neither rate(...) nor cron(...)');
  });
});
