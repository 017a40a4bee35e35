#!/usr/bin/env python3
"""mloop's gradient-boosted trees trainer: XGBoost on a tabular CSV, under train.py's contract.

It runs as `train.py` with the hyperparameter `trainer=xgboost` (or as this file directly) and
shares everything but the model with the MLP: the channels, schema.json, the features (derived
date parts, booleans, excluded columns, categories with their unknown bucket), the task and class
order (train.Dataset), the metrics, the failure file and the model card. model.onnx has the MLP's
raw-feature inputs and outputs (onnx_trees.py), so serving, drift and batch scoring need nothing
new; the booster itself is kept beside it as xgboost-model.json.

The booster sees numeric features as they are (NaN = missing) and each categorical feature as its
category index (1 + position in the card's categories) with unknown and missing as NaN, so that
XGBoost learns a default direction for them at every split; booster_features() is that layout,
and the ONNX graph computes the same from raw strings.
"""

import json
import math
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_trees  # noqa: E402  (standard library only)
import train  # noqa: E402  (the shared reading, features, metrics and failure handling)
from train import TrainingError, log  # noqa: E402

# name -> (type, default), in XGBoost's own names so that none means something else to the MLP
# (its learning_rate, epochs and patience stay the MLP's). A default of None means required.
HYPERPARAMETERS = {
    'target': (str, None),
    'task': (str, 'auto'),
    'trainer': (str, 'xgboost'),
    'num_round': (int, 1000),
    'eta': (float, 0.1),
    'max_depth': (int, 0),
    'min_child_weight': (float, 1.0),
    'subsample': (float, 1.0),
    'colsample_bytree': (float, 1.0),
    'reg_lambda': (float, 1.0),
    'reg_alpha': (float, 0.0),
    'early_stopping_rounds': (int, 50),
    'seed': (int, 42),
    'device': (str, 'auto'),
    'max_rows': (int, train.DEFAULT_MAX_ROWS),
}


def check_hyperparameters(hp):
    require = train.require_hyperparameter
    train.check_shared_hyperparameters(hp, 'xgboost', ' here')
    require(hp['num_round'] >= 1, f"num_round must be at least 1, got {hp['num_round']}")
    require(hp['eta'] > 0, f"eta must be positive, got {hp['eta']}")
    require(hp['max_depth'] >= 0, f"max_depth must be 0 (chosen from the data size) or more, got {hp['max_depth']}")
    require(hp['min_child_weight'] >= 0, f"min_child_weight must be 0 or more, got {hp['min_child_weight']}")
    require(0 < hp['subsample'] <= 1, f"subsample must be in (0, 1], got {hp['subsample']}")
    require(0 < hp['colsample_bytree'] <= 1, f"colsample_bytree must be in (0, 1], got {hp['colsample_bytree']}")
    require(hp['reg_lambda'] >= 0, f"reg_lambda must be 0 or more, got {hp['reg_lambda']}")
    require(hp['reg_alpha'] >= 0, f"reg_alpha must be 0 or more, got {hp['reg_alpha']}")
    require(hp['early_stopping_rounds'] >= 0,
            f"early_stopping_rounds must be 0 (no early stopping) or more, got {hp['early_stopping_rounds']}")


def import_xgboost():
    try:
        import xgboost
    except ImportError as error:
        raise TrainingError(
            f'trainer xgboost needs the xgboost package, which this Python cannot import ({error}); locally '
            f'`apt-get install python3-xgboost`, on SageMaker training/requirements.txt pins it (the job needs a route to the package index)')
    return xgboost


def booster_features(numeric, categorical):
    """The booster's input: the numeric features, then each category index as a float with 0
    (unknown or missing) as NaN, float32 as XGBoost stores it."""
    codes = categorical.astype(np.float32)
    codes[categorical <= 0] = np.nan
    return np.hstack([numeric.astype(np.float32), codes])


def choose_device(requested):
    if requested == 'cpu':
        return 'cpu'
    available = train.torch.cuda.is_available()  # torch is there anyway (train.py imports it)
    if requested == 'cuda' and not available:
        raise TrainingError('hyperparameter device is cuda, but no CUDA device is found')
    return 'cuda' if available else 'cpu'


# max_depth=0 (the default) chooses the depth from the train rows: shallow trees under
# SMALL_TABLE_ROWS, where deep ones fit the noise of a few thousand rows, XGBoost's usual 6 above.
# Measured on vega's tables, 5 seeded splits each (bench/README.md, "Tree depth"): depth 3 against 6,
# test RMSE on cars (318 train rows) 2.60 against 2.66 and on movies (2,390) 0.783 against 0.790,
# accuracy on birdstrikes (7,988) 0.900 against 0.896, seattle-weather (1,168) 0.888 against 0.895
# (within its spread, 0.02), and on the split `mloop run` makes of seattle-weather 0.878 against
# 0.835; on 160k flights deeper trees are better (R² 0.196 at 3, 0.290 at 6).
SMALL_TABLE_ROWS = 10_000
SMALL_TABLE_DEPTH = 3
DEFAULT_DEPTH = 6


def default_max_depth(train_rows):
    return SMALL_TABLE_DEPTH if train_rows < SMALL_TABLE_ROWS else DEFAULT_DEPTH


def booster_params(hp, dataset, xgboost, device, target_mean):
    params = {
        'eta': hp['eta'],
        'max_depth': hp['max_depth'],
        'min_child_weight': hp['min_child_weight'],
        'subsample': hp['subsample'],
        'colsample_bytree': hp['colsample_bytree'],
        'lambda': hp['reg_lambda'],
        'alpha': hp['reg_alpha'],
        'seed': hp['seed'],
        'tree_method': 'hist',
    }
    # XGBoost 2 chooses the GPU with `device`; 1.x (Debian's 1.7) with tree_method gpu_hist.
    if int(xgboost.__version__.split('.')[0]) >= 2:
        params['device'] = device
    elif device == 'cuda':
        params['tree_method'] = 'gpu_hist'
    if dataset.task == 'regression':
        # Start from the train mean (XGBoost 1.x starts from 0.5 whatever the target's units).
        params.update(objective='reg:squarederror', eval_metric='rmse', base_score=target_mean)
    elif len(dataset.classes) == 2:
        params.update(objective='binary:logistic', eval_metric='logloss')
    else:
        params.update(objective='multi:softprob', eval_metric='mlogloss', num_class=len(dataset.classes))
    return params


def round_logger(xgboost, metric, scale, history):
    """Logs each round as the MLP logs an epoch (`epoch=K train_loss=X validation_loss=Y`), which
    the local progress display and the pipeline read. Losses are the MLP's: cross-entropy, or the
    mean squared error on the standardized target (rmse / std, squared)."""

    class RoundLog(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            losses = [evals_log[name][metric][-1] for name in ('train', 'validation')]
            if scale is not None:
                losses = [(loss / scale) ** 2 for loss in losses]
            if not all(math.isfinite(loss) for loss in losses):
                raise TrainingError(f'training diverged at round {epoch + 1} (losses {losses}); try a lower eta')
            log(f'epoch={epoch + 1} train_loss={losses[0]:.6f} validation_loss={losses[1]:.6f}')
            history.append([epoch + 1, losses[0], losses[1]])
            return False

    return RoundLog()


def predict(booster, xgboost, features, dataset):
    """The booster's output laid out as the ONNX graph's: probabilities [N, classes] or values [N, 1]."""
    output = booster.predict(xgboost.DMatrix(features, missing=np.nan)).astype(np.float32)
    if dataset.task == 'regression':
        return output.reshape(-1, 1)
    if output.ndim == 1:  # binary:logistic gives p(positive class)
        return np.stack([np.float32(1) - output, output], axis=1)
    return output


def train_model(hp, paths, started, dataset=None, report=True):
    """Trains the booster and writes model.onnx, xgboost-model.json and model-card.json to
    paths.model; returns the card. `dataset` and `report` as for train.train_model."""
    xgboost = import_xgboost()
    device = choose_device(hp['device'])
    hp['device'] = device
    dataset = train.Dataset(hp, paths) if dataset is None else dataset
    hp['task'] = dataset.task
    log(f'task={dataset.task} target={dataset.target} train_rows={dataset.train_rows} '
        f'validation_rows={dataset.validation_rows} numeric_features={len(dataset.numeric_features)} '
        f'categorical_features={len(dataset.categorical_features)} device={device} trainer=xgboost '
        f'xgboost={xgboost.__version__} max_epochs={hp["num_round"]}')
    if dataset.classes:
        log(f'classes={json.dumps(dataset.classes)}')

    x_train = booster_features(dataset.train_numeric, dataset.train_categorical)
    x_validation = booster_features(dataset.validation_numeric, dataset.validation_categorical)
    target_mean = float(dataset.train_target.mean()) if dataset.task == 'regression' else None
    scale = (float(dataset.train_target.std()) or 1.0) if dataset.task == 'regression' else None
    if hp['max_depth'] == 0:
        hp['max_depth'] = default_max_depth(len(dataset.train_target))
    params = booster_params(hp, dataset, xgboost, device, target_mean)
    history = []  # [round, train_loss, validation_loss]: the card's lossCurve
    matrices = {name: xgboost.DMatrix(x, label=y, missing=np.nan) for name, x, y in (
        ('train', x_train, dataset.train_target), ('validation', x_validation, dataset.validation_target))}
    booster = xgboost.train(
        params, matrices['train'], num_boost_round=hp['num_round'],
        evals=[(matrices['train'], 'train'), (matrices['validation'], 'validation')],
        early_stopping_rounds=hp['early_stopping_rounds'] or None, verbose_eval=False,
        callbacks=[round_logger(xgboost, params['eval_metric'], scale, history)])
    rounds = booster.num_boosted_rounds()
    best = getattr(booster, 'best_iteration', rounds - 1) if hp['early_stopping_rounds'] else rounds - 1
    if rounds < hp['num_round']:
        log(f'early stopping: validation loss has not improved for {hp["early_stopping_rounds"]} rounds')
    if best + 1 < rounds:
        booster = booster[:best + 1]  # only the trees up to the best round are kept and exported
    log(f'best_epoch={best + 1}')

    # Metrics come from the kept trees, in float32, as the ONNX graph computes them.
    output = predict(booster, xgboost, x_validation, dataset).astype(np.float64)
    if dataset.task == 'classification':
        metrics = train.classification_metrics(output, dataset.validation_target)
    else:
        metrics = train.regression_metrics(output, dataset.validation_target)

    os.makedirs(paths.model, exist_ok=True)
    model = json.loads(bytes(booster.save_raw('json')).decode('utf-8'))
    try:
        onnx, format_version = onnx_trees.tree_model(
            model, len(dataset.numeric_features),
            [(f.name, f.categories) for f in dataset.categorical_features], dataset.classes)
    except onnx_trees.TreeExportError as error:
        raise TrainingError(f'the XGBoost model cannot be exported to ONNX: {error}')
    if format_version == train.INDEX_FORMAT_VERSION:
        log(f'the category lookup stays outside the graph (model card formatVersion {format_version}): a categorical '
            f'feature is named like one of the graph\'s own tensors {onnx_trees.RESERVED} or has no categories')
    with open(os.path.join(paths.model, 'model.onnx'), 'wb') as f:
        f.write(onnx)
    booster.save_model(os.path.join(paths.model, 'xgboost-model.json'))
    card = {
        'formatVersion': format_version,
        'task': dataset.task,
        'target': dataset.target,
        'features': [feature.card() for feature in dataset.features],
        **({'classes': dataset.classes} if dataset.classes else {}),
        'hyperparameters': hp,
        'validationMetrics': metrics,
        'trainingSeconds': round(time.time() - started, 3),
        'epochs': best + 1,
        'lossCurve': train.loss_curve(history),
        'xgboostVersion': xgboost.__version__,
        'device': device,
        'framework': 'xgboost',
        **({'ignoredColumns': dataset.ignored_columns} if dataset.ignored_columns else {}),
    }
    with open(os.path.join(paths.model, 'model-card.json'), 'w', encoding='utf-8') as f:
        json.dump(card, f, indent=2, allow_nan=False)
        f.write('\n')

    if report:
        train.log_metrics(metrics)
    log(f'wrote model.onnx and model-card.json to {paths.model} in {card["trainingSeconds"]}s')
    return card


def main(argv, started=None):
    started = time.time() if started is None else started
    paths = train.Paths()
    return train.run_job(paths, lambda: train_model(train.read_hyperparameters(argv, paths, HYPERPARAMETERS, check_hyperparameters), paths, started))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
