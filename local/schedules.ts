/**
 * EventBridge schedule expressions, as EventBridge defines them for scheduled rules, in UTC:
 *
 *   rate(value unit)   value a positive integer; unit minute|minutes|hour|hours|day|days
 *                      (the singular for 1, the plural otherwise); the first run comes one period
 *                      after the rule starts.
 *   cron(minutes hours day-of-month month day-of-week year)
 *                      six fields; `,` lists, `-` ranges, `*` all, `/` increments, `?` in one of
 *                      day-of-month or day-of-week (exactly one of them), `L` (last day of the
 *                      month; `nL` the last weekday n of the month), `W` (the weekday nearest
 *                      day n), `n#k` (the k-th weekday n of the month); months JAN-DEC and days
 *                      SUN-SAT (1-7, Sunday is 1).
 *
 * `nextRun` gives the next time a rule fires after a moment; `startSchedule` fires it on a timer.
 */

const MINUTE_MS = 60_000;

/** A schedule expression that EventBridge would refuse, with the reason. */
export class InvalidSchedule extends Error {
  constructor(expression: string, reason: string) {
    super(`The schedule expression '${expression}' is not valid: ${reason}.`);
    this.name = 'InvalidSchedule';
  }
}

export type Schedule = { readonly kind: 'rate'; readonly periodMs: number } | { readonly kind: 'cron'; readonly cron: CronFields };

interface CronFields {
  readonly minutes: Set<number>;
  readonly hours: Set<number>;
  readonly months: Set<number>;
  readonly years: Set<number> | 'any';
  /** Whether a UTC day matches the day-of-month and day-of-week fields. */
  readonly day: (date: Date) => boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const RATE_UNITS: Record<string, number> = { minute: MINUTE_MS, hour: 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS };

/** Parse a `rate(...)` or `cron(...)` expression. */
export function parseSchedule(expression: string): Schedule {
  const rate = /^rate\((.*)\)$/.exec(expression.trim());
  if (rate) {
    const m = /^\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*$/.exec(rate[1]);
    if (!m) throw new InvalidSchedule(expression, 'a rate is "rate(value unit)" with unit minute(s), hour(s) or day(s)');
    const value = Number(m[1]);
    if (value < 1) throw new InvalidSchedule(expression, 'the rate value must be a positive integer');
    const plural = m[2].endsWith('s');
    if (plural === (value === 1)) throw new InvalidSchedule(expression, `use "${m[2].replace(/s$/, '')}" for 1 and the plural otherwise`);
    return { kind: 'rate', periodMs: value * RATE_UNITS[m[2].replace(/s$/, '')] };
  }
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  if (cron) return { kind: 'cron', cron: parseCron(expression, cron[1].trim().split(/\s+/)) };
  throw new InvalidSchedule(expression, 'it is neither rate(...) nor cron(...)');
}

/** The values of one cron field: lists of `*`, `a`, `a-b`, each with an optional `/step`. */
function values(expression: string, field: string, min: number, max: number, names: string[] = [], nameBase = 0): Set<number> {
  const out = new Set<number>();
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase());
    const n = named >= 0 ? named + nameBase : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(n >= min && n <= max)) throw new InvalidSchedule(expression, `'${text}' is out of ${min}-${max} in '${field}'`);
    return n;
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!(Number.isInteger(step) && step > 0)) throw new InvalidSchedule(expression, `'${part}' has no valid increment`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [min, max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-');
      [from, to] = [value(a), value(b)];
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    if (from > to) throw new InvalidSchedule(expression, `the range '${range}' runs backwards`);
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

function parseCron(expression: string, fields: string[]): CronFields {
  if (fields.length !== 6)
    throw new InvalidSchedule(expression, 'a cron expression has six fields: minutes hours day-of-month month day-of-week year');
  const [min, hour, dom, month, dow, year] = fields;
  if ((dom === '?') === (dow === '?')) throw new InvalidSchedule(expression, "exactly one of day-of-month and day-of-week must be '?'");
  let day: (date: Date) => boolean;
  if (dom !== '?') {
    if (dom === 'L') day = (d) => d.getUTCDate() === daysInMonth(d.getUTCFullYear(), d.getUTCMonth() + 1);
    else if (/^\d+W$/.test(dom)) {
      const target = Number(dom.slice(0, -1));
      if (target < 1 || target > 31) throw new InvalidSchedule(expression, `'${dom}' is out of 1-31`);
      day = (d) => {
        // The weekday nearest `target` in the same month (Saturday moves back, Sunday forward).
        const last = daysInMonth(d.getUTCFullYear(), d.getUTCMonth() + 1);
        const t = Math.min(target, last);
        const weekday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), t)).getUTCDay();
        let nearest = t;
        if (weekday === 6) nearest = t === 1 ? 3 : t - 1;
        else if (weekday === 0) nearest = t === last ? t - 2 : t + 1;
        return d.getUTCDate() === nearest;
      };
    } else {
      const days = values(expression, dom, 1, 31);
      day = (d) => days.has(d.getUTCDate());
    }
  } else if (/^[1-7A-Za-z]+L$/.test(dow)) {
    const weekday = values(expression, dow.slice(0, -1), 1, 7, DAYS, 1);
    day = (d) => weekday.has(d.getUTCDay() + 1) && d.getUTCDate() + 7 > daysInMonth(d.getUTCFullYear(), d.getUTCMonth() + 1);
  } else if (dow === 'L') {
    day = (d) => d.getUTCDay() === 6; // L alone in day-of-week: the last day of the week, Saturday
  } else if (dow.includes('#')) {
    const [w, k] = dow.split('#');
    const weekday = values(expression, w, 1, 7, DAYS, 1);
    const nth = Number(k);
    if (!(nth >= 1 && nth <= 5)) throw new InvalidSchedule(expression, `'${dow}' asks for week ${k} of the month`);
    day = (d) => weekday.has(d.getUTCDay() + 1) && Math.ceil(d.getUTCDate() / 7) === nth;
  } else {
    const weekdays = values(expression, dow, 1, 7, DAYS, 1);
    day = (d) => weekdays.has(d.getUTCDay() + 1);
  }
  return {
    minutes: values(expression, min, 0, 59),
    hours: values(expression, hour, 0, 23),
    months: values(expression, month, 1, 12, MONTHS, 1),
    years: year === '*' ? 'any' : values(expression, year, 1970, 2199),
    day,
  };
}

/** The first minute after `after` that a cron schedule fires, or undefined when it never fires again. */
function nextCron(cron: CronFields, after: Date): Date | undefined {
  const start = new Date(Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  for (let i = 0; i < 366 * 250; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    if (cron.years !== 'any' && !cron.years.has(day.getUTCFullYear())) {
      if (day.getUTCFullYear() > Math.max(...cron.years)) return undefined;
      continue;
    }
    if (!cron.months.has(day.getUTCMonth() + 1) || !cron.day(day)) continue;
    for (const hour of [...cron.hours].sort((a, b) => a - b)) {
      for (const minute of [...cron.minutes].sort((a, b) => a - b)) {
        const at = new Date(day.getTime() + hour * 60 * MINUTE_MS + minute * MINUTE_MS);
        if (at >= start) return at;
      }
    }
  }
  return undefined;
}

/** When a schedule fires next after `after` (a rate: one period after `after`). */
export function nextRun(schedule: Schedule, after: Date): Date | undefined {
  return schedule.kind === 'rate' ? new Date(after.getTime() + schedule.periodMs) : nextCron(schedule.cron, after);
}

/** Fire `run` on `expression`'s schedule until the returned stop is called. */
export function startSchedule(expression: string, run: (at: Date) => void): () => void {
  const schedule = parseSchedule(expression);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (after: Date) => {
    const at = nextRun(schedule, after);
    if (!at || stopped) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days): a later run is armed in steps.
    const wait = Math.min(at.getTime() - Date.now(), 2 ** 31 - 1);
    timer = setTimeout(
      () => {
        if (Date.now() < at.getTime()) return arm(after);
        run(at);
        arm(at);
      },
      Math.max(0, wait),
    );
  };
  arm(new Date());
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
