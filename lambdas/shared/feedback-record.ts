/**
 * The stored feedback record: one JSON line per ground-truth label the inference API accepted
 * (lambdas/inference/feedback.ts), read by model-quality monitoring (lambdas/monitoring), which
 * joins it with the captured predictions on (requestId, index). Its field names are a stored
 * contract.
 */

/** A label for an earlier prediction: the request id it answered with and the instance's index. */
export interface FeedbackEntry {
  readonly requestId: string;
  readonly index: number;
  /** A class label (classification) or a number (regression). */
  readonly label: string | number;
}

/** One stored line per entry. */
export interface FeedbackRecord extends FeedbackEntry {
  readonly model: string;
  /** When the feedback arrived. */
  readonly at: string;
  /** The id of the feedback request itself. */
  readonly feedbackRequestId: string;
}
