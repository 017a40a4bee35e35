#!/usr/bin/env python3
"""trainer=auto: one training job trains both of mloop's trainers and keeps the better one.

The channels are read once (train.Dataset), then the MLP (train.py) and the gradient-boosted
trees (train_xgboost.py) each train on them and write their model into a temporary folder of
their own. Both are scored on the validation split by their own cards' metrics, and the one with
the better selection metric (SELECTION_METRIC: log loss for classification, RMSE for regression;
IMBALANCED_SELECTION_METRIC, macro-F1, for imbalanced classes; the MLP on a tie) is copied into the model folder as the job's model.onnx and model-card.json.
The card adds `trainer` (the winner), `selectedBy` (the metric) and `candidates` (each trainer's
validation metrics, or why it did not produce a model).

One job rather than two: one container start and one data download instead of two, and nothing
for the state machine to merge; the two trainers run one after the other on the same host.

A trainer that fails (the SageMaker PyTorch image has no xgboost; a model that diverges) is
recorded under `candidates` with its reason and the other one is kept; the job fails only when
both do. Each trainer reads its own hyperparameters (the MLP's `epochs` and `learning_rate`, the
trees' `num_round` and `eta`), so a name one of them does not know is not an error for it.

Metric lines: the candidates' are logged as `candidate trainer=NAME accuracy=...`, which
SageMaker's `validation_*=` metric definitions do not match; the winner's `validation_*` lines
are the last ones printed.
"""

import copy
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp_model  # noqa: E402
import numpy as np  # noqa: E402
import train  # noqa: E402
import train_xgboost  # noqa: E402  (imports xgboost itself only when it trains)
from train import TrainingError, log  # noqa: E402

# The order the trainers run in; on a tie of the selection metric the first one wins.
TRAINERS = ('mlp', 'xgboost')
# The validation metric that picks the winner, lower is better: the loss both trainers minimize.
SELECTION_METRIC = {'classification': 'log_loss', 'regression': 'rmse'}
# With imbalanced classes (the majority class holds more than mlp_model.MAJORITY_SHARE of the train
# rows, where the MLP turns class weights on), the winner is the higher validation macro-F1: log
# loss rewards a model that predicts the majority well and the rest never (birdstrikes: the trees
# won on log loss with macro-F1 .27 against the weighted MLP's .33), and the gate that follows
# compares macro-F1 too.
IMBALANCED_SELECTION_METRIC = 'macro_f1'


def read_hyperparameters(argv, paths):
    """Each trainer's own hyperparameters (its `trainer` fixed to its name); a name that neither
    trainer knows is logged once, as each trainer alone would."""
    tables = {'mlp': (train.HYPERPARAMETERS, train.check_hyperparameters),
              'xgboost': (train_xgboost.HYPERPARAMETERS, train_xgboost.check_hyperparameters)}
    known = set().union(*(table for table, _ in tables.values()))
    raw = train.raw_hyperparameters(argv, paths, sorted(known))
    ignored = sorted(k for k in raw if k not in known)
    if ignored:
        log(f'ignoring unknown hyperparameters: {", ".join(ignored)}')
    return {name: train.read_hyperparameters(argv, paths, table, check, fixed={'trainer': name}, quiet=True)
            for name, (table, check) in tables.items()}


def selection_metric(dataset):
    """(metric, higher_is_better): what picks the winner for this dataset (see SELECTION_METRIC)."""
    if dataset.task == 'classification':
        counts = np.bincount(dataset.train_target, minlength=len(dataset.classes))
        if counts.max() > mlp_model.MAJORITY_SHARE * counts.sum():
            return IMBALANCED_SELECTION_METRIC, True
    return SELECTION_METRIC[dataset.task], False


def choose(metric, higher_is_better, cards):
    """The winning trainer's name: the best `metric` among the trainers that produced a model
    (`cards`: name -> card, in TRAINERS order); the first one on a tie."""
    best = None
    for name, card in cards.items():
        value = card['validationMetrics'].get(metric, math.nan)
        if not math.isfinite(value):
            continue
        kept = None if best is None else cards[best]['validationMetrics'][metric]
        if kept is None or (value > kept if higher_is_better else value < kept):
            best = name
    return best


def candidate_entry(card):
    return {
        'framework': card['framework'],
        'validationMetrics': card['validationMetrics'],
        'trainingSeconds': card['trainingSeconds'],
        'epochs': card['epochs'],
    }


def run_candidate(name, hp, paths, dataset, folder):
    """Trains one trainer into `folder`; returns (card, None), or (None, reason) when it failed."""
    own = copy.copy(paths)
    own.model = folder
    trainer = train if name == 'mlp' else train_xgboost
    log(f'auto: training candidate {name}')
    try:
        return trainer.train_model(hp, own, time.time(), dataset=dataset, report=False), None
    except TrainingError as error:
        reason = str(error)
    except Exception as error:  # a bug or an environment problem: the other trainer may still do
        traceback.print_exc()
        reason = f'unexpected error: {type(error).__name__}: {error}'
    log(f'auto: candidate {name} produced no model: {reason}')
    return None, reason


def train_model(hps, paths, started):
    dataset = train.Dataset(hps['mlp'], paths)
    for hp in hps.values():
        hp['target'] = dataset.target
    metric, higher_is_better = selection_metric(dataset)

    cards, candidates = {}, {}
    scratch = tempfile.mkdtemp(prefix='mloop-auto-')
    try:
        for name in TRAINERS:
            folder = os.path.join(scratch, name)
            card, reason = run_candidate(name, hps[name], paths, dataset, folder)
            if card is None:
                candidates[name] = {'error': reason}
                continue
            cards[name] = card
            candidates[name] = candidate_entry(card)
            log(f'candidate trainer={name} ' + ' '.join(f'{k}={v:.6f}' for k, v in card['validationMetrics'].items()))

        winner = choose(metric, higher_is_better, cards)
        if winner is None:
            raise TrainingError('trainer auto: no trainer produced a model (' + '; '.join(
                f'{name}: {entry.get("error", f"validation {metric} is not finite")}' for name, entry in candidates.items()) + ')')
        log(f'auto: kept {winner} (validation {metric} ' + ', '.join(
            f'{name} {card["validationMetrics"][metric]:.6f}' for name, card in cards.items()) + ')')

        os.makedirs(paths.model, exist_ok=True)
        folder = os.path.join(scratch, winner)
        for entry in sorted(os.listdir(folder)):
            if entry != 'model-card.json':
                shutil.copyfile(os.path.join(folder, entry), os.path.join(paths.model, entry))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    card = dict(cards[winner])
    card['hyperparameters'] = {**card['hyperparameters'], 'trainer': 'auto'}
    card['trainingSeconds'] = round(time.time() - started, 3)
    card['trainer'] = winner
    card['selectedBy'] = metric
    card['candidates'] = candidates
    with open(os.path.join(paths.model, 'model-card.json'), 'w', encoding='utf-8') as f:
        json.dump(card, f, indent=2, allow_nan=False)
        f.write('\n')

    train.log_metrics(card['validationMetrics'])  # the winner's, last: SageMaker keeps the last value
    log(f'wrote model.onnx and model-card.json ({winner}) to {paths.model} in {card["trainingSeconds"]}s')
    return card


def main(argv, started=None):
    started = time.time() if started is None else started
    paths = train.Paths()
    return train.run_job(paths, lambda: train_model(read_hyperparameters(argv, paths), paths, started))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
