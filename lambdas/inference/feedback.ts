/**
 * Ground-truth feedback: labels for earlier predictions, named by the request id the prediction
 * answered with and the instance's index in that request, for model-quality monitoring.
 *
 *   POST /v1/models/{name}/feedback
 *   {"feedback": [{"requestId": "<from the prediction>", "index": 0, "label": "1"}]}
 *
 * `index` defaults to 0. `label` is one of the model's classes (classification; a number or a
 * boolean is read as its text, so 1 is the class "1") or a finite number (regression). Every
 * problem is reported by entry index and field, like prediction requests. Accepted entries are
 * written as one JSON Lines object per request under feedback/<model>/<yyyy>/<mm>/<dd>/<hh>/, one
 * line per entry, to be joined with the captured predictions on (requestId, index).
 */
import type { PredictEnv } from '../shared/env';
import { RequestInvalid } from '../shared/errors';
import type { FeedbackEntry, FeedbackRecord } from '../shared/feedback-record';
import { s3Keys } from '../shared/layout';
import { putBytes } from '../shared/storage';
import type { ModelCard } from '../shared/types';
import type { ModelServer } from './serving';
import type { Problem } from './validate';

const FIELDS = new Set(['requestId', 'index', 'label']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_PROBLEMS = 100;

const describe = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/** Check `{"feedback": [...]}` against the model's task and classes; return the entries or throw RequestInvalid. */
export function validateFeedback(payload: unknown, card: Pick<ModelCard, 'task' | 'classes'>, maxEntries: number): FeedbackEntry[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || !('feedback' in payload)) {
    throw new RequestInvalid('The request body must be a JSON object with a "feedback" array.');
  }
  const unknownTop = Object.keys(payload).filter((k) => k !== 'feedback');
  const entries = (payload as { feedback: unknown }).feedback;
  if (!Array.isArray(entries)) throw new RequestInvalid('"feedback" must be an array of objects.');
  if (entries.length === 0) throw new RequestInvalid('"feedback" is empty: send at least one entry.');
  if (entries.length > maxEntries) {
    throw new RequestInvalid(`"feedback" has ${entries.length} items; at most ${maxEntries} are accepted per request.`);
  }
  const problems: Problem[] = [];
  const add = (p: Problem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  for (const field of unknownTop) add({ field, message: `The request body has unknown field '${field}': expected only "feedback".` });
  const classes = card.classes ?? [];
  const seen = new Map<string, number>();
  const out: FeedbackEntry[] = [];
  entries.forEach((entry, index) => {
    const at = `feedback[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      add({ index, message: `${at} must be an object with "requestId" and "label".` });
      return;
    }
    const values = entry as Record<string, unknown>;
    let valid = true;
    const fail = (field: string, message: string) => {
      valid = false;
      add({ index, field, message });
    };
    for (const name of Object.keys(values)) {
      if (!FIELDS.has(name)) fail(name, `${at} has unknown field '${name}': expected requestId, index and label.`);
    }
    const requestId = values.requestId;
    if (!Object.hasOwn(values, 'requestId')) fail('requestId', `${at} is missing "requestId" (the id a prediction answered with).`);
    else if (typeof requestId !== 'string') fail('requestId', `${at}.requestId must be a string, got ${describe(requestId)}.`);
    else if (!REQUEST_ID.test(requestId)) fail('requestId', `${at}.requestId must be 1 to 128 letters, digits or . _ : -.`);

    const rawIndex = Object.hasOwn(values, 'index') ? values.index : 0;
    if (typeof rawIndex !== 'number' || !Number.isInteger(rawIndex) || rawIndex < 0 || rawIndex >= maxEntries) {
      fail(
        'index',
        `${at}.index must be an integer from 0 to ${maxEntries - 1} (the instance's position in its request), got ${JSON.stringify(rawIndex) ?? describe(rawIndex)}.`,
      );
    }

    let label: string | number | undefined;
    const rawLabel = values.label;
    if (!Object.hasOwn(values, 'label')) {
      fail('label', `${at} is missing "label" (the true ${card.task === 'classification' ? 'class' : 'value'}).`);
    } else if (card.task === 'classification') {
      const text =
        typeof rawLabel === 'string' || typeof rawLabel === 'number' || typeof rawLabel === 'boolean' ? String(rawLabel) : undefined;
      if (text === undefined) fail('label', `${at}.label must be a class (a string), got ${describe(rawLabel)}.`);
      else if (!classes.includes(text)) {
        const shown =
          classes.length > 20
            ? `${classes
                .slice(0, 20)
                .map((c) => `'${c}'`)
                .join(', ')}, ...`
            : classes.map((c) => `'${c}'`).join(', ');
        fail(
          'label',
          `${at}.label '${text.length > 60 ? `${text.slice(0, 60)}...` : text}' is not a class of this model: expected one of ${shown}.`,
        );
      } else label = text;
    } else if (typeof rawLabel !== 'number') {
      fail('label', `${at}.label must be a number, got ${describe(rawLabel)}.`);
    } else if (!Number.isFinite(rawLabel)) {
      fail('label', `${at}.label must be a finite number.`);
    } else label = rawLabel;

    if (!valid) return;
    const key = `${requestId as string}#${rawIndex as number}`;
    const first = seen.get(key);
    if (first !== undefined) {
      add({ index, field: 'requestId', message: `${at} repeats feedback[${first}] (the same requestId and index).` });
      return;
    }
    seen.set(key, index);
    out.push({ requestId: requestId as string, index: rawIndex as number, label: label! });
  });
  if (problems.length > 0) {
    throw new RequestInvalid(`The feedback has ${problems.length}${problems.length === MAX_PROBLEMS ? '+' : ''} problem(s).`, problems);
  }
  return out;
}

export interface FeedbackResponse {
  readonly accepted: number;
  readonly model: string;
  readonly requestId: string;
}

/** Check the entries of `payload` against the champion of `name` and store them, one line each. */
export async function acceptFeedback(
  server: ModelServer,
  env: Pick<PredictEnv, 'DATA_BUCKET' | 'MAX_BATCH'>,
  name: string,
  payload: unknown,
  requestId: string,
): Promise<FeedbackResponse> {
  // Labels are checked against the champion's task and classes (fixed by the model's schema).
  const served = await server.get(name);
  const entries = validateFeedback(payload, served.runtime.card, env.MAX_BATCH);
  const at = new Date();
  const lines = entries.map((entry) =>
    JSON.stringify({ ...entry, model: name, at: at.toISOString(), feedbackRequestId: requestId } satisfies FeedbackRecord),
  );
  await putBytes(env.DATA_BUCKET, s3Keys.feedback(name, at, requestId), lines.join('\n') + '\n', 'application/x-ndjson');
  return { accepted: entries.length, model: name, requestId };
}
