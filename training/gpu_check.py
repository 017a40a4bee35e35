#!/usr/bin/env python3
"""GPU check for the default trainer: `npm run gpu-check` (or `python3 training/gpu_check.py`).

On a CUDA machine with torch 2.x it generates a tabular dataset (1,000,000 rows and 50 features by
default: numeric ones with gaps, and a few categorical ones), trains train.py's model on it with
train.py's own fit() on the GPU and then on the CPU, checks that the exported ONNX graph computes
what PyTorch computes (with onnxruntime, when it can be imported), and prints samples per second
on each device and their ratio. It then times the trees trainer (train_xgboost.py's booster
parameters and features) on the same data for --xgboost-rounds rounds, with XGBoost's CUDA device
(2.x's device=cuda, 1.x's gpu_hist) and on the CPU, in the same run. The last line of output is
one JSON document with the figures.

The epochs are bounded (--epochs on the GPU, --cpu-epochs on the CPU; early stopping off) so
that the whole check fits in a few minutes on one H100. Without CUDA it runs on the CPU only and
says so (no GPU figures for either trainer); without xgboost the trees part is skipped and noted;
`--rows 2000 --features 10` makes a smoke test of a few seconds. It needs nothing but
this folder, numpy and torch (and onnxruntime for the ONNX comparison): no network, no data.

Exit status: 0 when the check passed (or the ONNX comparison was skipped), 1 when the ONNX outputs
differ from PyTorch's beyond --tolerance, 2 on bad arguments.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep training/ free of __pycache__ (it is the code SageMaker gets)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mlp_model  # noqa: E402
import train  # noqa: E402  (the default trainer, imported as a module: main() does not run)
import train_xgboost  # noqa: E402  (the trees trainer; imports xgboost only when asked to)

CATEGORIES = 8  # distinct values of each categorical feature


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Train the default model on a generated dataset on the GPU and the CPU.')
    parser.add_argument('--rows', type=int, default=1_000_000, help='rows in all (80%% train, 20%% validation)')
    parser.add_argument('--features', type=int, default=50, help='feature columns (a tenth of them categorical)')
    parser.add_argument('--epochs', type=int, default=3, help='epochs on the GPU')
    parser.add_argument('--cpu-epochs', type=int, default=1, help='epochs on the CPU')
    parser.add_argument('--batch-size', type=int, default=None, help="batch size (default: train.py's)")
    parser.add_argument('--gpu-large-batch', type=int, default=4096,
                        help='also time one GPU epoch at this batch size (small batches leave a GPU waiting on kernel launches); 0: skip')
    parser.add_argument('--xgboost-rounds', type=int, default=50,
                        help='boosting rounds timed for the trees trainer on each device (0: skip it)')
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--tolerance', type=float, default=1e-4, help='largest absolute difference allowed between ONNX and PyTorch probabilities')
    parser.add_argument('--onnx-rows', type=int, default=20_000, help='validation rows compared through ONNX')
    parser.add_argument('--save', default=None, help='also write model.onnx and check.json (inputs and PyTorch outputs) to this folder')
    args = parser.parse_args(argv)
    if args.rows < 100 or args.features < 2 or args.epochs < 1 or args.cpu_epochs < 0:
        parser.error('need --rows >= 100, --features >= 2, --epochs >= 1 and --cpu-epochs >= 0')
    return args


def generate(rows, features, seed):
    """A binary classification dataset in train.py's array layout (float32 with NaN gaps, int64 category indices)."""
    rng = np.random.default_rng(seed)
    n_categorical = max(1, features // 10)
    n_numeric = features - n_categorical
    numeric = rng.standard_normal((rows, n_numeric), dtype=np.float32)
    categorical = rng.integers(1, CATEGORIES + 1, size=(rows, n_categorical), dtype=np.int64)
    weights = rng.standard_normal(n_numeric).astype(np.float32) / np.sqrt(n_numeric)
    effects = rng.standard_normal((n_categorical, CATEGORIES + 1)).astype(np.float32)
    score = numeric @ weights + 0.5 * np.sin(3 * numeric[:, 0]) + effects[np.arange(n_categorical), categorical].sum(axis=1) / np.sqrt(n_categorical)
    target = (score + 0.3 * rng.standard_normal(rows, dtype=np.float32) > 0).astype(np.int64)
    numeric[rng.random((rows, n_numeric)) < 0.01] = np.nan  # gaps, imputed inside the model

    cut = int(rows * 0.8)
    dataset = train.Dataset.__new__(train.Dataset)  # the arrays train.Dataset would hold, without CSV
    dataset.target = 'label'
    dataset.task = 'classification'
    dataset.classes = ['0', '1']
    dataset.features = ([train.Feature(f'x{j}', 'numeric') for j in range(n_numeric)]
                        + [train.Feature(f'c{j}', 'categorical', [f'v{k}' for k in range(CATEGORIES)]) for j in range(n_categorical)])
    dataset.train_numeric, dataset.validation_numeric = numeric[:cut], numeric[cut:]
    dataset.train_categorical, dataset.validation_categorical = categorical[:cut], categorical[cut:]
    dataset.train_target, dataset.validation_target = target[:cut], target[cut:]
    dataset.train_rows, dataset.validation_rows = cut, rows - cut
    return dataset


def hyperparameters(args, epochs, device):
    hp = {name: default for name, (_, default) in train.HYPERPARAMETERS.items()}
    hp.update(target='label', task='classification', epochs=epochs, patience=0, seed=args.seed, device=device)
    # The same batch on both devices (train.py's batch_size 0 would choose a larger one on the CPU
    # for a large dataset), so that samples per second compare.
    hp['batch_size'] = args.batch_size or mlp_model.DEFAULT_BATCH
    train.check_hyperparameters(hp)
    return hp


def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def train_on(device, dataset, args, epochs):
    """train.py's fit() on `device`: a short warm-up (CUDA context, kernels), then the timed run."""
    hp = hyperparameters(args, epochs, device.type)
    torch.use_deterministic_algorithms(False)
    warmup = generate(min(dataset.train_rows, 20_000), len(dataset.features), args.seed + 1)
    train.seed_everything(hp['seed'], device)
    train.fit(train.TabularMLP(warmup, hp).to(device), warmup, dict(hp, epochs=1), device)

    train.seed_everything(hp['seed'], device)
    model = train.TabularMLP(dataset, hp).to(device)
    synchronize(device)
    started = time.perf_counter()
    train.fit(model, dataset, hp, device)
    synchronize(device)
    seconds = time.perf_counter() - started
    model = model.cpu().eval()
    probabilities = train.predict(model, dataset.validation_numeric, dataset.validation_categorical)
    metrics = train.classification_metrics(probabilities, dataset.validation_target)
    return model, {
        'device': device.type,
        'epochs': epochs,
        'batch_size': hp['batch_size'],
        'seconds': round(seconds, 3),
        'samples_per_second': round(dataset.train_rows * epochs / seconds, 1),
        'validation_accuracy': round(metrics['accuracy'], 6),
    }


def xgboost_on(device, dataset, args, xgboost):
    """train_xgboost's booster on `device` ('cuda' or 'cpu'): its own features and parameters
    (XGBoost 2's device=cuda, 1.x's gpu_hist), --xgboost-rounds rounds without early stopping,
    after a 2-round warm-up (the CUDA context, the data copied to the device)."""
    hp = {name: default for name, (_, default) in train_xgboost.HYPERPARAMETERS.items()}
    hp.update(target='label', task='classification', num_round=args.xgboost_rounds, early_stopping_rounds=0,
              seed=args.seed, device=device)
    train_xgboost.check_hyperparameters(hp)
    params = train_xgboost.booster_params(hp, dataset, xgboost, device, None)
    matrix = xgboost.DMatrix(train_xgboost.booster_features(dataset.train_numeric, dataset.train_categorical),
                             label=dataset.train_target, missing=np.nan)
    xgboost.train(params, matrix, num_boost_round=2)
    started = time.perf_counter()
    booster = xgboost.train(params, matrix, num_boost_round=args.xgboost_rounds)
    seconds = time.perf_counter() - started
    validation = xgboost.DMatrix(train_xgboost.booster_features(dataset.validation_numeric, dataset.validation_categorical),
                                 missing=np.nan)
    p = booster.predict(validation)
    accuracy = float(np.mean((p > 0.5).astype(np.int64) == dataset.validation_target))
    return {
        'device': device,
        'rounds': args.xgboost_rounds,
        'tree_method': params['tree_method'],
        'seconds': round(seconds, 3),
        'samples_per_second': round(dataset.train_rows * args.xgboost_rounds / seconds, 1),
        'validation_accuracy': round(accuracy, 6),
    }


def xgboost_check(dataset, args, cuda, notes):
    """The trees trainer's figures: {'cpu', 'gpu', 'gpu_cpu_speedup'}, or None when skipped (noted)."""
    if not args.xgboost_rounds:
        return None
    try:
        import xgboost
    except ImportError as error:
        notes.append(f'XGBoost skipped: the xgboost package cannot be imported ({error})')
        return None
    gpu = xgboost_on('cuda', dataset, args, xgboost) if cuda else None
    if gpu:
        train.log(f'gpu_check: XGBoost {xgboost.__version__} GPU {gpu["samples_per_second"]:.0f} samples/s')
    cpu = xgboost_on('cpu', dataset, args, xgboost)
    train.log(f'gpu_check: XGBoost {xgboost.__version__} CPU {cpu["samples_per_second"]:.0f} samples/s')
    return {'version': xgboost.__version__, 'gpu': gpu, 'cpu': cpu,
            'gpu_cpu_speedup': round(gpu['samples_per_second'] / cpu['samples_per_second'], 2) if gpu else None}


def onnx_check(model, dataset, args):
    """Export the model and compare onnxruntime's probabilities with PyTorch's on raw inputs
    (category strings, missing and unseen ones included, and numeric gaps)."""
    rows = min(args.onnx_rows, dataset.validation_rows)
    numeric = dataset.validation_numeric[:rows].copy()
    categorical = dataset.validation_categorical[:rows].copy()
    categorical[::7, 0] = 0  # missing: '' in the graph's string input
    categorical[::11, -1] = CATEGORIES + 5  # an unseen category ('v12'): the same unknown bucket
    numeric[::5, 0] = np.nan
    expected = train.predict(model, numeric, categorical).astype(np.float32)

    directory = args.save or tempfile.mkdtemp(prefix='mloop-gpu-check-')
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'model.onnx')
    categorical_features = [f for f in dataset.features if f.kind == 'categorical']
    format_version = train.export_onnx(model, path, categorical_features)
    if format_version != train.FORMAT_VERSION:
        return {'status': 'mismatch', 'reason': f'the export kept the index contract (formatVersion {format_version})', 'rows': rows}
    # The raw values the graph is fed: one string input per categorical feature (its own name).
    strings = np.where(categorical == 0, '', np.char.add('v', (categorical - 1).astype(str))).astype(object)
    if args.save:
        sample = slice(0, min(rows, 64))
        with open(os.path.join(directory, 'check.json'), 'w', encoding='utf-8') as f:
            json.dump({'numeric': [[None if np.isnan(v) else float(v) for v in row] for row in numeric[sample]],
                       'categorical_features': [f.name for f in categorical_features],
                       'categorical': strings[sample].tolist(),
                       'probabilities': expected[sample].tolist()}, f)
    try:
        import onnxruntime
    except ImportError:
        return {'status': 'skipped', 'reason': 'onnxruntime cannot be imported (pip install onnxruntime)', 'rows': rows}
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    feeds = {'numeric': numeric}
    for j, feature in enumerate(categorical_features):
        feeds[feature.name] = strings[:, j:j + 1]
    got = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]
    difference = float(np.max(np.abs(got - expected)))
    return {'status': 'ok' if difference <= args.tolerance else 'mismatch', 'max_abs_difference': difference,
            'tolerance': args.tolerance, 'rows': rows, 'onnxruntime': onnxruntime.__version__}


def main(argv):
    args = parse_args(argv)
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    notes = []
    if not cuda:
        notes.append('CUDA is not available: trained on the CPU only, no GPU figures')
    elif not torch.__version__.startswith('2.'):
        notes.append(f'torch {torch.__version__}: the check is meant for torch 2.x')
    dataset = generate(args.rows, args.features, args.seed)
    train.log(f'gpu_check: {args.rows} rows ({dataset.train_rows} train), {args.features} features, torch {torch.__version__}, '
              f'CUDA {"yes: " + torch.cuda.get_device_name(0) if cuda else "no"}, {torch.get_num_threads()} CPU threads')

    gpu = cpu = large = None
    checked = None
    if cuda:
        checked, gpu = train_on(torch.device('cuda'), dataset, args, args.epochs)
        train.log(f'gpu_check: GPU {gpu["samples_per_second"]:.0f} samples/s')
        if args.gpu_large_batch:
            _, large = train_on(torch.device('cuda'), dataset, argparse.Namespace(**dict(vars(args), batch_size=args.gpu_large_batch)), 1)
            train.log(f'gpu_check: GPU at batch size {args.gpu_large_batch}: {large["samples_per_second"]:.0f} samples/s')
    cpu_epochs = args.cpu_epochs if cuda else max(args.cpu_epochs, 1)
    if cpu_epochs:
        model, cpu = train_on(torch.device('cpu'), dataset, args, cpu_epochs)
        checked = checked or model
        train.log(f'gpu_check: CPU {cpu["samples_per_second"]:.0f} samples/s')
    trees = xgboost_check(dataset, args, cuda, notes)
    onnx = onnx_check(checked, dataset, args)
    if onnx['status'] == 'skipped':
        notes.append(f'ONNX comparison skipped: {onnx["reason"]}')

    result = {
        'check': 'mloop-gpu-check',
        'rows': args.rows,
        'train_rows': dataset.train_rows,
        'features': args.features,
        'torch': torch.__version__,
        'cuda': cuda,
        'gpu_name': torch.cuda.get_device_name(0) if cuda else None,
        'cpu_threads': torch.get_num_threads(),
        'gpu': gpu,
        'gpu_large_batch': large,
        'cpu': cpu,
        'gpu_cpu_speedup': round(gpu['samples_per_second'] / cpu['samples_per_second'], 2) if gpu and cpu else None,
        'onnx': onnx,
        'xgboost': trees,
        'seconds': round(time.perf_counter() - started, 1),
        'notes': notes,
    }
    print(json.dumps(result), flush=True)
    return 1 if onnx['status'] == 'mismatch' else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
