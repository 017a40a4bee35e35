/**
 * Which of mloop's built-in trainers a training job runs: the training script's `trainer`
 * hyperparameter (training/train.py). The stack sets it for every job (ModelTrainingOptions
 * `trainers`, default `auto`); a model's hyperparameters.json (`"trainer"`) is merged over it, and
 * one run can choose its own: the dropped object's `mloop-trainer` metadata (`mloop run
 * --trainer`) or a TrainRequest's `trainer` (`mloop train --trainer`), which win over both.
 */
import { InvalidInput } from './errors';

/**
 * `mlp`: the PyTorch MLP. `xgboost`: gradient-boosted trees. `auto`: one job trains both and keeps
 * the one with the better validation loss (log loss, or RMSE for regression; training/train_auto.py).
 */
export const TRAINERS = ['mlp', 'xgboost', 'auto'] as const;
export type TrainerChoice = (typeof TRAINERS)[number];

/** The hyperparameter that carries the choice. */
export const TRAINER_HYPERPARAMETER = 'trainer';
/** Object metadata on a dropped dataset choosing the trainer for the run it starts (x-amz-meta-mloop-trainer). */
export const TRAINER_METADATA_KEY = 'mloop-trainer';

export function isTrainerChoice(value: unknown): value is TrainerChoice {
  return typeof value === 'string' && (TRAINERS as readonly string[]).includes(value);
}

/** Why `value` is not a trainer mloop runs, naming where it came from; undefined when it is one. */
export function trainerViolation(value: unknown, source: string): string | undefined {
  if (isTrainerChoice(value)) return undefined;
  return `${source} must be one of ${TRAINERS.join(', ')}, got ${JSON.stringify(value)}.`;
}

/**
 * The job's hyperparameters with one run's trainer choice over them (it wins over
 * hyperparameters.json and the stack's setting); unchanged when the run chose none. Throws
 * InvalidInput naming `source` for a value that is not a trainer.
 */
export function withTrainerChoice(
  hyperparameters: Record<string, string>,
  choice: string | undefined,
  source: string,
): Record<string, string> {
  if (choice === undefined || choice === '') return hyperparameters;
  const trainer = choice.trim().toLowerCase();
  const violation = trainerViolation(trainer, source);
  if (violation) throw new InvalidInput(violation);
  return { ...hyperparameters, [TRAINER_HYPERPARAMETER]: trainer };
}
