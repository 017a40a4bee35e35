#!/usr/bin/env python3
"""Measurements for bench/training.ts, kept out of the trainer's hot path.

  training_helper.py measure -- PYTHON SCRIPT ARGS...
      runs the command (train.py under the script-mode environment it inherits), timestamps its
      output lines, and prints one JSON line: wall seconds, seconds to the dataset line (reading
      and encoding the CSV), mean seconds per epoch, and the child's peak resident memory.

  training_helper.py epoch --rows N --features F [--repeats R]
      times one epoch of train.py's fit() against a bare PyTorch loop over the same tensors (same
      model, optimizer, batch size and shuffling, nothing else), alternating R times, and prints
      one JSON line with the medians and their ratio: the trainer's overhead per epoch.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.join(os.path.dirname(HERE), 'training')


def measure(command):
    started = time.perf_counter()
    stamps = {'dataset': None, 'epochs': []}
    lines = []
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in child.stdout:
        now = time.perf_counter() - started
        lines.append(line.rstrip('\n'))
        if line.startswith('task=') and stamps['dataset'] is None:
            stamps['dataset'] = now
        elif re.match(r'^epoch=\d+ ', line):
            stamps['epochs'].append(now)
    code = child.wait()
    seconds = time.perf_counter() - started
    # ru_maxrss of the children that have been waited for: kilobytes on Linux.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    epochs = stamps['epochs']
    per_epoch = (epochs[-1] - epochs[0]) / (len(epochs) - 1) if len(epochs) > 1 else None
    print(json.dumps({
        'exit_code': code,
        'seconds': round(seconds, 3),
        'read_seconds': round(stamps['dataset'], 3) if stamps['dataset'] is not None else None,
        'epochs': len(epochs),
        'epoch_seconds': round(per_epoch, 4) if per_epoch is not None else None,
        'peak_rss_mb': round(peak / 1024, 1),
        'tail': lines[-3:] if code != 0 else [],
    }), flush=True)
    return 0


def epoch(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, required=True)
    parser.add_argument('--features', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=42)
    args = parser.parse_args(argv)

    sys.dont_write_bytecode = True
    sys.path.insert(0, TRAINING)
    import contextlib
    import io
    import torch
    import torch.nn.functional as F
    import gpu_check
    import train

    device = torch.device('cpu')
    # rows in all; fit() trains on the 80% train part, the bare loop on the same train tensors.
    dataset = gpu_check.generate(args.rows, args.features, args.seed)
    hp = gpu_check.hyperparameters(argparse.Namespace(seed=args.seed, batch_size=None), 1, 'cpu')

    def trainer_epoch():
        train.seed_everything(hp['seed'], device)
        model = train.TabularMLP(dataset, hp)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # its per-epoch log line
            train.fit(model, dataset, hp, device)
        return time.perf_counter() - started

    numeric = torch.from_numpy(dataset.train_numeric)
    categorical = torch.from_numpy(dataset.train_categorical)
    target = torch.from_numpy(dataset.train_target)

    def bare_epoch():
        train.seed_everything(hp['seed'], device)
        model = train.TabularMLP(dataset, hp)
        optimizer = torch.optim.AdamW(model.parameters(), lr=hp['learning_rate'], weight_decay=hp['weight_decay'])
        model.train()
        started = time.perf_counter()
        order = torch.randperm(numeric.shape[0])
        for start in range(0, numeric.shape[0], hp['batch_size']):
            batch = order[start:start + hp['batch_size']]
            loss = F.cross_entropy(model.logits(numeric[batch], categorical[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    trainer, bare = [], []
    for _ in range(args.repeats):
        trainer.append(trainer_epoch())
        bare.append(bare_epoch())
    fit_median, bare_median = statistics.median(trainer), statistics.median(bare)
    print(json.dumps({
        'rows': args.rows,
        'train_rows': dataset.train_rows,
        'features': args.features,
        'batch_size': hp['batch_size'],
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'trainer_epoch_seconds': round(fit_median, 4),
        'bare_epoch_seconds': round(bare_median, 4),
        'overhead_ratio': round(fit_median / bare_median, 3),
    }), flush=True)
    return 0


def main(argv):
    if argv[:1] == ['measure'] and '--' in argv:
        return measure(argv[argv.index('--') + 1:])
    if argv[:1] == ['epoch']:
        return epoch(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
