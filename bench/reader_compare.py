#!/usr/bin/env python3
"""train.py's channel reader against the one it replaced (test/fixtures/training-reader/
reference_reader.py, kept verbatim): the time to build the Dataset (reading the CSV channels and
encoding them: what bench/training.ts's "reading the CSV" column measures, less Python's start)
and the process's peak resident memory, each in a fresh process, alternating, median of the
repeats. Data like bench/training.ts's: 8 numeric features (2% missing), 2 categorical ones and a
binary label, as train.csv (80% of the rows) and validation.csv (10%).

  python3 bench/reader_compare.py [--rows 100000 1000000] [--repeats 3]

Prints one JSON line per size. Run it with the interpreter that has torch (/usr/bin/python3 on
Debian): both readers import train.py, so the memory figures include torch's.
"""

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write_channels(directory, rows, seed):
    rng = random.Random(seed)
    colors, sizes = ['red', 'green', 'blue', 'black'], ['s', 'm', 'l']
    for channel, count in (('train', round(rows * 0.8)), ('validation', round(rows * 0.1))):
        os.makedirs(os.path.join(directory, channel))
        with open(os.path.join(directory, channel, f'{channel}.csv'), 'w', encoding='utf-8') as f:
            f.write('n0,n1,n2,n3,n4,n5,n6,n7,color,size,label\n')
            lines = []
            for _ in range(count):
                x = [rng.random() * 2 - 1 for _ in range(8)]
                color, size = rng.randrange(4), rng.randrange(3)
                score = (x[0] + 0.5 * x[1] - 0.7 * x[2] * x[3] + (0.6 if color == 2 else 0)
                         - (0.4 if size == 0 else 0) + (rng.random() - 0.5) * 0.4)
                cells = ['' if rng.random() < 0.02 else f'{v:.4f}' for v in x]
                lines.append(f'{",".join(cells)},{colors[color]},{sizes[size]},{int(score > 0)}\n')
                if len(lines) == 10000:
                    f.write(''.join(lines))
                    lines = []
            f.write(''.join(lines))


def measure_one(which, directory):
    """In the child process: build the Dataset with one reader and print the figures."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(ROOT, 'training'))
    sys.path.insert(0, os.path.join(ROOT, 'test', 'fixtures', 'training-reader'))
    import train
    module = train if which == 'new' else __import__('reference_reader')
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    class Paths:
        train = os.path.join(directory, 'train')
        validation = os.path.join(directory, 'validation')

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = module.Dataset({'target': 'label', 'task': 'auto', 'seed': 42}, Paths())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({'seconds': seconds, 'baseline_mb': baseline / 1024, 'peak_mb': peak / 1024,
                      'rows': dataset.train_rows + dataset.validation_rows}))


def compare(rows, repeats):
    directory = tempfile.mkdtemp(prefix=f'mloop-reader-{rows}-')
    try:
        write_channels(directory, rows, rows)
        runs = {'old': [], 'new': []}
        for _ in range(repeats):
            for which in runs:
                out = subprocess.run([sys.executable, __file__, 'one', which, directory],
                                     capture_output=True, text=True, check=True).stdout
                runs[which].append(json.loads(out.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result = {'rows': rows, 'repeats': repeats}
    for which, figures in runs.items():
        result[which] = {
            'seconds': round(statistics.median(f['seconds'] for f in figures), 3),
            'peak_mb': round(statistics.median(f['peak_mb'] for f in figures), 1),
            'baseline_mb': round(statistics.median(f['baseline_mb'] for f in figures), 1),
        }
    old, new = result['old'], result['new']
    result['speedup'] = round(old['seconds'] / new['seconds'], 2)
    result['peak_ratio'] = round(old['peak_mb'] / new['peak_mb'], 2)
    result['data_memory_ratio'] = round((old['peak_mb'] - old['baseline_mb']) / (new['peak_mb'] - new['baseline_mb']), 2)
    return result


def main(argv):
    if argv[:1] == ['one']:
        measure_one(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', type=int, nargs='+', default=[100_000, 1_000_000])
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args(argv)
    for rows in args.rows:
        print(json.dumps(compare(rows, args.repeats)), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
