#!/usr/bin/env python3
"""mloop's default training script: an MLP on a tabular CSV, exported to ONNX with its model card.

It follows SageMaker's script-mode contract, so the same file runs in the SageMaker PyTorch
container (torch 2.x, CUDA) and locally (Debian's torch 1.13, CPU):

- data comes from the channel directories in SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION;
- hyperparameters come as command-line arguments, with SM_HPS and hyperparameters.json as
  fallbacks;
- model.onnx and model-card.json go to SM_MODEL_DIR;
- a failure writes its reason to $SM_OUTPUT_DIR/failure, which SageMaker shows as the job's
  FailureReason, and exits 1.

The exported graph carries all preprocessing (category lookup with an unknown bucket, imputation,
standardization, category embeddings, softmax or target de-standardization), so inference only has
to lay raw values out as the model card says: numbers in card order and each categorical value as
a string (onnx_strings.py puts the category lookup into the graph). See training/README.md and ModelCard in lambdas/shared/types.ts.

Only the standard library, numpy and torch are used: the container has nothing else we can rely
on, and the TorchScript ONNX exporter needs no onnx package.
"""

import argparse
import bisect
import copy
import csv
import gc
import glob
import hashlib
import inspect
import itertools
import json
import math
import os
import random
import re
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.dont_write_bytecode = True  # keep the code folder free of __pycache__ (it is what SageMaker gets)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_strings  # noqa: E402  (standard library only)
import mlp_model  # noqa: E402  (numpy and torch only)
from mlp_model import OnnxGraph, TabularMLP  # noqa: E402,F401  (train.TabularMLP: gpu_check and bench use it)

# The model card's contract: 2 = one string input per categorical feature (the graph looks the
# category up); 1 = the int64 `categorical` input of category indices (see ModelCard).
FORMAT_VERSION = 2
INDEX_FORMAT_VERSION = 1
# Opset 14 loads in every onnxruntime we target; torch 1.13 exports at most 17, and 18 is refused.
ONNX_OPSET = 14
# Above this many distinct integer values a numeric target is treated as a regression target.
MAX_INFERRED_CLASSES = 20
# The share of training rows held out when no validation channel is given.
HOLDOUT_FRACTION = 0.2
# During training, this share of category indices is replaced with 0 (unknown), so the unknown
# embedding learns an "average" category instead of keeping its random initial value.
UNKNOWN_CATEGORY_RATE = 0.02
# Validation and scoring run in chunks so a large validation split does not need one huge batch.
EVAL_CHUNK = 65536
# Where SageMaker syncs checkpoints with S3 when the job has a CheckpointConfig.
DEFAULT_CHECKPOINT_DIR = '/opt/ml/checkpoints'
CHECKPOINT_FILE = 'checkpoint.pt'
CHECKPOINT_FORMAT = 1

# The most rows a channel may hold (the hyperparameter max_rows; issue 18). The channels are held
# in memory: 10M rows of a dozen columns take about 1 GB, well within the default ml.g5.xlarge's
# 16 GiB with room for the model's tensors; a gzip bomb of plausible rows stops here with a reason
# instead of exhausting the instance.
DEFAULT_MAX_ROWS = 10_000_000

# name -> (type, default). A default of None means required (target may come from schema.json).
HYPERPARAMETERS = {
    'target': (str, None),
    'trainer': (str, 'mlp'),
    'task': (str, 'auto'),
    'epochs': (int, 200),
    'batch_size': (int, 0),
    'learning_rate': (float, 0.003),
    'hidden': (int, 64),
    'layers': (int, 2),
    'dropout': (float, 0.0),
    'weight_decay': (float, 1e-4),
    'patience': (int, 10),
    'seed': (int, 42),
    'embedding_dim': (int, 8),
    'device': (str, 'auto'),
    'robust_numeric': (str, 'auto'),
    'class_weights': (str, 'auto'),
    'max_rows': (int, DEFAULT_MAX_ROWS),
}

# The trainers this script runs: the MLP here, gradient-boosted trees in train_xgboost.py, and
# both in one job with the better one kept (train_auto.py).
TRAINERS = ('mlp', 'xgboost', 'auto')

# A number as it may appear in a CSV cell. Stricter than float(), which also accepts '1_000',
# 'nan' and 'infinity': the same cell must read as a number here and in the TypeScript side.
NUMBER = re.compile(r'^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')
# The channels are read in chunks of about this many cells (and at least this many rows): only one
# chunk's cells exist as Python strings at a time, each column keeps them compacted (see Column).
READ_CHUNK_CELLS = 1 << 15
READ_CHUNK_MIN_ROWS = 1024


class TrainingError(Exception):
    """A problem with the data, schema or hyperparameters; its message becomes the failure reason."""


def log(message):
    # Flushed at once: SageMaker streams stdout to CloudWatch and the local runtime to its logs.
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# Environment and hyperparameters
# ---------------------------------------------------------------------------------------------


class Paths:
    def __init__(self):
        env = os.environ
        self.train = env.get('SM_CHANNEL_TRAIN', '/opt/ml/input/data/train')
        self.validation = env.get('SM_CHANNEL_VALIDATION', '/opt/ml/input/data/validation')
        self.model = env.get('SM_MODEL_DIR', '/opt/ml/model')
        self.output = env.get('SM_OUTPUT_DIR', '/opt/ml/output')
        self.hyperparameters = env.get('SM_INPUT_CONFIG_DIR', '/opt/ml/input/config') + '/hyperparameters.json'
        # Checkpoints (spot training): SM_CHECKPOINT_DIR, else SageMaker's folder when the job has one.
        self.checkpoints = env.get('SM_CHECKPOINT_DIR') or (
            DEFAULT_CHECKPOINT_DIR if os.path.isdir(DEFAULT_CHECKPOINT_DIR) else None)


def decode_value(value):
    """SageMaker's SDK JSON-encodes hyperparameter values, so a string may arrive as '"y"'."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def raw_hyperparameters(argv, paths, names, quiet=False):
    """The hyperparameters as given: hyperparameters.json, then SM_HPS, then the command line
    (`--name value` for the given names), each over the one before. Values are not cast yet."""
    raw = {}
    if os.path.isfile(paths.hyperparameters):
        try:
            with open(paths.hyperparameters, encoding='utf-8') as f:
                raw.update(json.load(f))
        except ValueError as error:
            raise TrainingError(f'{paths.hyperparameters} is not valid JSON: {error}')
    if os.environ.get('SM_HPS'):
        try:
            raw.update(json.loads(os.environ['SM_HPS']))
        except ValueError as error:
            raise TrainingError(f'environment variable SM_HPS is not valid JSON: {error}')

    parser = argparse.ArgumentParser(description='Train a model on a tabular CSV and export ONNX.')
    for name in names:
        # Accept both --batch_size and --batch-size; everything arrives as a string and is cast below.
        parser.add_argument('--' + name, '--' + name.replace('_', '-'), dest=name, default=None)
    known, unknown = parser.parse_known_args(argv)
    if unknown and not quiet:
        log(f'ignoring unknown arguments: {" ".join(unknown)}')
    for name, value in vars(known).items():
        if value is not None:
            raw[name] = value
    return raw


def read_hyperparameters(argv, paths, table=None, check=None, fixed=None, quiet=False):
    """Resolves the hyperparameters of `table` (name -> (type, default); the MLP's by default):
    command line first, then SM_HPS, then hyperparameters.json; `fixed` values replace what was
    given (trainer=auto sets each trainer's own `trainer`); `check` validates the result. `quiet`
    leaves the logging of unknown names to the caller (auto knows both trainers' names)."""
    table = HYPERPARAMETERS if table is None else table
    raw = raw_hyperparameters(argv, paths, table, quiet=quiet)
    raw.update(fixed or {})
    ignored = sorted(k for k in raw if k not in table)
    if ignored and not quiet:
        log(f'ignoring unknown hyperparameters: {", ".join(ignored)}')

    resolved = {}
    for name, (kind, default) in table.items():
        value = decode_value(raw.get(name, default))
        resolved[name] = None if value is None else cast(name, kind, value)
    (check or check_hyperparameters)(resolved)
    return resolved


def requested_trainer(argv, paths):
    """The `trainer` hyperparameter (mlp or xgboost), read before the trainer's own ones."""
    raw = raw_hyperparameters(argv, paths, ['trainer'], quiet=True)
    trainer = str(decode_value(raw.get('trainer', 'mlp'))).strip()
    if trainer not in TRAINERS:
        raise TrainingError(f'hyperparameter trainer must be one of {", ".join(TRAINERS)}, got {trainer!r}')
    return trainer


def cast(name, kind, value):
    text = str(value).strip()
    try:
        if kind is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError()
            return int(number)
        if kind is float:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError()
            return number
        return text
    except ValueError:
        raise TrainingError(
            f'hyperparameter {name} must be {"an integer" if kind is int else "a number"}, got {value!r}')


def require_hyperparameter(condition, message):
    """A hyperparameter rule: a TrainingError naming the hyperparameter unless `condition` holds."""
    if not condition:
        raise TrainingError(f'hyperparameter {message}')


def check_shared_hyperparameters(hp, trainer, which):
    """The rules every trainer's hyperparameters follow: its own trainer name, the task, the device, the target."""
    require_hyperparameter(hp['trainer'] == trainer, f"trainer must be {trainer}{which}, got {hp['trainer']!r}")
    require_hyperparameter(hp['task'] in ('auto', 'classification', 'regression'),
                           f"task must be auto, classification or regression, got {hp['task']!r}")
    require_hyperparameter(hp['device'] in ('auto', 'cpu', 'cuda'), f"device must be auto, cpu or cuda, got {hp['device']!r}")
    require_hyperparameter(hp['target'] is None or hp['target'] != '', 'target must not be empty')
    require_hyperparameter(hp.get('max_rows', DEFAULT_MAX_ROWS) >= 1, f"max_rows must be at least 1, got {hp.get('max_rows')}")


def check_hyperparameters(hp):
    require = require_hyperparameter
    check_shared_hyperparameters(hp, 'mlp', ' for the MLP')
    require(hp['epochs'] >= 1, f"epochs must be at least 1, got {hp['epochs']}")
    require(hp['batch_size'] >= 0, f"batch_size must be 0 (chosen for the data size) or more, got {hp['batch_size']}")
    require(hp['learning_rate'] > 0, f"learning_rate must be positive, got {hp['learning_rate']}")
    require(hp['hidden'] >= 1, f"hidden must be at least 1, got {hp['hidden']}")
    require(hp['layers'] >= 0, f"layers must be 0 or more, got {hp['layers']}")
    require(0 <= hp['dropout'] < 1, f"dropout must be in [0, 1), got {hp['dropout']}")
    require(hp['weight_decay'] >= 0, f"weight_decay must be 0 or more, got {hp['weight_decay']}")
    require(hp['patience'] >= 0, f"patience must be 0 (no early stopping) or more, got {hp['patience']}")
    require(hp['embedding_dim'] >= 1, f"embedding_dim must be at least 1, got {hp['embedding_dim']}")
    require(hp['robust_numeric'] in ('auto', 'off', 'all'),
            f"robust_numeric must be auto, off or all, got {hp['robust_numeric']!r}")
    require(hp['class_weights'] in ('auto', 'balanced', 'none'),
            f"class_weights must be auto, balanced or none, got {hp['class_weights']!r}")


# ---------------------------------------------------------------------------------------------
# Reading the channels
# ---------------------------------------------------------------------------------------------


class Table:
    """The rows of one channel: its columns as read, and which of their rows this table holds.

    `take` makes a table of some of the rows (dropping rows, holding out a split) without copying
    the columns; row i of a table is row `rows[i]` of its columns."""

    def __init__(self, channel, header, columns, files, lines, rows=None):
        self.channel = channel
        self.header = header
        self.columns = columns  # name -> Column, every row read from the channel
        self.files = files  # (file name, index of its first row), in reading order
        self.lines = lines  # per row read: its line number in its file (int64)
        self.rows = rows  # sorted indices into the columns' rows; None for all of them

    def __len__(self):
        return len(self.lines) if self.rows is None else len(self.rows)

    def row(self, i):
        return i if self.rows is None else int(self.rows[i])

    def where(self, i):
        row = self.row(i)
        name, _ = self.files[bisect.bisect_right([first for _, first in self.files], row) - 1]
        return f'{name} line {int(self.lines[row])}'

    def take(self, rows, channel=None):
        rows = np.asarray(rows, dtype=np.int64)
        return Table(channel or self.channel, self.header, self.columns, self.files, self.lines,
                     rows if self.rows is None else self.rows[rows])

    def cell(self, name, i):
        return self.columns[name].cell(self.row(i))

    def numbers(self, name):
        """The column's cells as float64 (NaN where missing or not a number) and a mask of the
        cells that are neither (None when there is none)."""
        return self.columns[name].numbers(self.rows)

    def first_non_number(self, name, missing_too=False):
        """The first row whose cell is not a number (and not missing, unless `missing_too`), or None.
        Chunk by chunk: a text column is told after its first chunk."""
        offset = 0
        for chunk, positions in self.columns[name].parts(self.rows):
            values, bad = chunk.numbers(positions)
            wrong = np.isnan(values) if missing_too else bad
            if wrong is not None and wrong.any():
                return offset + int(np.argmax(wrong))
            offset += len(values)
        return None

    def distinct(self, name):
        """The distinct cells of the column in this table's rows, and each row's index into them."""
        cells, codes = self.columns[name].encoded()
        if self.rows is not None:
            codes = codes[self.rows]
        present = np.flatnonzero(np.bincount(codes, minlength=len(cells)))
        if len(present) == len(cells):
            return cells, codes
        renumber = np.zeros(len(cells), dtype=np.int64)
        renumber[present] = np.arange(len(present))
        return [cells[k] for k in present.tolist()], renumber[codes]

    def lookup(self, name, index):
        """index(cell) for each row's cell, as int64 (None becomes -1)."""
        cells, codes = self.distinct(name)
        found = [index(cell) for cell in cells]
        return np.array([-1 if k is None else k for k in found], dtype=np.int64)[codes]


class CodedChunk:
    """Rows of one column with few distinct cells: the distinct cells and each row's code."""

    def __init__(self, cells, codes):
        self.cells = cells
        self.codes = codes
        self._numbers = None

    def __len__(self):
        return len(self.codes)

    def cell(self, i):
        return self.cells[self.codes[i]]

    def numbers(self, positions):
        if self._numbers is None:
            self._numbers = strict_numbers(self.cells)
        values, bad = self._numbers
        codes = self.codes if positions is None else self.codes[positions]
        return values[codes], None if bad is None else bad[codes]


class TextChunk:
    """Rows of one column with many distinct cells: the cells joined into one string, and their
    numbers, parsed at once when every cell is a plain number or empty."""

    SEPARATOR = '\x00'

    def __init__(self, cells):
        self.size = len(cells)
        text = self.SEPARATOR.join(cells)
        if text.count(self.SEPARATOR) == len(cells) - 1:
            self.text, self.ends = text, None  # split() gives the cells back
        else:  # a cell holds the separator: keep where each cell ends
            self.text = ''.join(cells)
            self.ends = np.cumsum(np.fromiter(map(len, cells), dtype=np.int64, count=len(cells)))
        values = quick_numbers(cells, self.text)
        self._numbers = None if values is None else (values, None)

    def __len__(self):
        return self.size

    def all_cells(self):
        if self.ends is None:
            return self.text.split(self.SEPARATOR)
        ends = self.ends.tolist()
        return [self.text[start:end] for start, end in zip([0] + ends[:-1], ends)]

    def cell(self, i):
        return self.all_cells()[i]  # for a message: the cost does not matter

    def numbers(self, positions):
        if self._numbers is None:
            self._numbers = strict_numbers(self.all_cells())
        values, bad = self._numbers
        if positions is None:
            return values, bad
        return values[positions], None if bad is None else bad[positions]


def compact(cells):
    """A chunk for the column's cells of some rows (a tuple of strings)."""
    sample = cells[:256]
    if len(set(sample)) * 10 > len(sample) * 9:  # nearly all distinct: not worth counting
        return TextChunk(cells)
    distinct = dict.fromkeys(cells)
    if len(distinct) * 4 > len(cells):
        return TextChunk(cells)
    for code, cell in enumerate(distinct):
        distinct[cell] = code
    dtype = np.uint8 if len(distinct) <= 256 else np.uint16 if len(distinct) <= 65536 else np.int32
    return CodedChunk(list(distinct), np.fromiter(map(distinct.__getitem__, cells), dtype=dtype, count=len(cells)))


class Column:
    """One column of a channel, compacted chunk by chunk as it is read (see compact)."""

    def __init__(self):
        self.chunks = []
        self.starts = [0]  # the first row of each chunk, then the number of rows
        self._encoded = None

    def add(self, cells):
        self.chunks.append(compact(cells))
        self.starts.append(self.starts[-1] + len(cells))

    def cell(self, row):
        k = bisect.bisect_right(self.starts, row) - 1
        return self.chunks[k].cell(row - self.starts[k])

    def parts(self, rows):
        """(chunk, positions in it) for the chunks holding `rows` (sorted), in order; None = all."""
        if rows is None:
            return [(chunk, None) for chunk in self.chunks]
        bounds = np.searchsorted(rows, self.starts).tolist()
        return [(chunk, rows[bounds[k]:bounds[k + 1]] - self.starts[k])
                for k, chunk in enumerate(self.chunks) if bounds[k + 1] > bounds[k]]

    def numbers(self, rows):
        parts = [chunk.numbers(positions) for chunk, positions in self.parts(rows)]
        if not parts:
            return np.zeros(0), None
        values = np.concatenate([v for v, _ in parts])
        if all(bad is None for _, bad in parts):
            return values, None
        return values, np.concatenate([np.zeros(len(v), dtype=bool) if bad is None else bad for v, bad in parts])

    def encoded(self):
        """(distinct cells, each row's index into them), built once."""
        if self._encoded is None:
            index, codes = {}, []
            for chunk in self.chunks:
                if isinstance(chunk, CodedChunk):
                    renumber = np.array([index.setdefault(cell, len(index)) for cell in chunk.cells], dtype=np.int64)
                    codes.append(renumber[chunk.codes])
                else:
                    codes.append(np.array([index.setdefault(cell, len(index)) for cell in chunk.all_cells()],
                                          dtype=np.int64))
            self._encoded = list(index), np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
        return self._encoded


def csv_files(directory, preferred):
    if not os.path.isdir(directory):
        return []
    files = sorted(glob.glob(os.path.join(directory, '*.csv')))
    # The named file first, so its header sets the column order; any other CSV adds rows.
    files.sort(key=lambda path: os.path.basename(path) != preferred)
    return files


def read_channel(channel, directory, files, max_rows=DEFAULT_MAX_ROWS):
    # Reading creates no reference cycles, but it creates containers (the rows of a chunk) faster
    # than the garbage collector likes: its full collections, over every object torch made, would
    # cost a third of the reading time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return read_files(channel, directory, files, max_rows)
    finally:
        if collecting:
            gc.enable()


def read_files(channel, directory, files, max_rows=DEFAULT_MAX_ROWS):
    header, columns, read, lines, count = None, None, [], [], 0
    for path in files:
        name = os.path.basename(path)
        read.append((name, count))
        with open(path, newline='', encoding='utf-8-sig') as f:  # utf-8-sig drops a BOM
            reader = csv.reader(f)
            try:
                file_header = next(reader, None)
                if file_header is None:
                    raise TrainingError(f'{channel} file {name} is empty: expected a header row')
                check_header(channel, name, file_header)
                if header is None:
                    header = file_header
                    columns = {column: Column() for column in header}
                elif set(file_header) != set(header):
                    raise TrainingError(
                        f'{channel} file {name} has columns {file_header}, but {os.path.basename(files[0])} '
                        f'has {header}; every CSV in a channel must have the same columns')
                targets = [columns[column] for column in file_header]
                width = len(file_header)
                chunk_rows = max(READ_CHUNK_MIN_ROWS, READ_CHUNK_CELLS // max(1, width))
                while True:
                    before = reader.line_num
                    rows, numbers = [], []
                    for cells in itertools.islice(reader, chunk_rows):
                        if not cells:
                            continue  # csv yields [] for a blank line
                        if len(cells) != width:
                            raise TrainingError(
                                f'{channel} file {name} line {reader.line_num} has {len(cells)} cells but the '
                                f'header has {width} columns')
                        rows.append(cells)
                        numbers.append(reader.line_num)
                    if count + len(rows) > max_rows:
                        # Checked per chunk, before the chunk is kept: memory stays one chunk over the limit.
                        raise TrainingError(
                            f'the {channel} channel has more than {max_rows} rows (the limit was passed in {name} by '
                            f'line {reader.line_num}); raise the hyperparameter max_rows to train on more, or sample the data')
                    if rows:
                        lines.append(np.array(numbers, dtype=np.int64))
                        count += len(rows)
                        by_column = list(zip(*rows))
                        del rows
                        for k, target in enumerate(targets):
                            target.add(by_column[k])
                            by_column[k] = None
                    if reader.line_num == before:
                        break
            except csv.Error as error:
                raise TrainingError(f'{channel} file {name} line {reader.line_num} is not valid CSV: {error}')
            except UnicodeDecodeError as error:
                raise TrainingError(f'{channel} file {name} is not UTF-8 text: {error}')
    if header is None:
        raise TrainingError(f'{channel} channel {directory} holds no CSV file')
    return Table(channel, header, columns, read, np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64))


def check_header(channel, name, header):
    seen = set()
    for column in header:
        if column.strip() == '':
            raise TrainingError(f'{channel} file {name} has an empty column name in its header')
        if column in seen:
            raise TrainingError(f'{channel} file {name} has the column {column!r} twice in its header')
        seen.add(column)


def read_schema(directory):
    path = os.path.join(directory, 'schema.json')
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            schema = json.load(f)
    except ValueError as error:
        raise TrainingError(f'schema.json in the train channel is not valid JSON: {error}')
    if not isinstance(schema, dict) or not isinstance(schema.get('columns'), list):
        raise TrainingError('schema.json in the train channel has no "columns" list (expected a DatasetSchema)')
    for column in schema['columns']:
        if not isinstance(column, dict) or not isinstance(column.get('name'), str) \
                or column.get('type') not in ('numeric', 'categorical', 'datetime'):
            raise TrainingError(f'schema.json column {column!r} needs a name and a type numeric, categorical or datetime')
    if schema.get('task') not in (None, 'classification', 'regression'):
        raise TrainingError(f"schema.json task must be classification or regression, got {schema.get('task')!r}")
    return schema


def is_missing(cell):
    return cell.strip() == ''


def parse_number(cell):
    """The cell as a finite float, or None when it is not a number."""
    text = cell.strip()
    if not NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def strict_numbers(cells):
    """The cells as float64 (NaN where missing or not a number) and a mask of the cells that are
    neither missing nor a number (None when there is none), cell by cell."""
    values, bad = [], []
    for i, cell in enumerate(cells):
        value = None if is_missing(cell) else parse_number(cell)
        if value is None:
            value = math.nan
            if not is_missing(cell):
                bad.append(i)
        values.append(value)
    values = np.array(values, dtype=np.float64)
    if not bad:
        return values, None
    mask = np.zeros(len(values), dtype=bool)
    mask[bad] = True
    return values, mask


def quick_numbers(cells, text):
    """strict_numbers' values when every cell is '' or a finite number without '_', at C speed; else
    None (`text` holds all the cells). float() accepts what NUMBER accepts (it strips whitespace as
    strip() does), and more: '_' between digits and the spellings of nan and infinity. Those are
    ruled out here, so a cell float() reads here is one parse_number reads as the same number."""
    if '_' in text:
        return None
    try:
        values = np.fromiter(map(float, [cell or 'nan' for cell in cells] if '' in cells else cells),
                             dtype=np.float64, count=len(cells))
    except ValueError:  # text, or a blank cell that is not '': the strict path decides
        return None
    if np.isinf(values).any():
        return None
    for i in np.flatnonzero(np.isnan(values)).tolist():
        if cells[i]:  # nan written out, not an empty cell
            return None
    return values


def canonical_label(cell):
    """A class label: integer-valued numbers as '1' (not '1.0'), other numbers as repr, text as is."""
    value = parse_number(cell)
    if value is None:
        return cell
    return str(int(value)) if value.is_integer() else repr(value)


# ---------------------------------------------------------------------------------------------
# The dataset: which features, which task, and the arrays the model trains on
# ---------------------------------------------------------------------------------------------


class Feature:
    def __init__(self, name, kind, categories=None, extra=None):
        self.name = name
        self.kind = kind  # 'numeric' or 'categorical'
        self.categories = categories
        # What the card passes on to inference: derivedFrom (a feature ingestion derived from a
        # date-time column, which a request sends raw) and boolean (its [false, true] spellings).
        self.extra = extra or {}

    def card(self):
        entry = {'name': self.name, 'type': self.kind}
        if self.kind == 'categorical':
            entry['categories'] = self.categories
        entry.update(self.extra)
        return entry


# Keys of a schema.json column that the model card carries over to its feature.
CARD_KEYS = ('derivedFrom', 'boolean')


def ignored_columns(schema):
    """The columns schema.json keeps out of the features (identifiers, free text), for the card."""
    if schema is None:
        return []
    return [{'name': c['name'], 'reason': c['excluded']} for c in schema['columns'] if c.get('excluded')]


def drop_missing_targets(table, target):
    values, bad = table.numbers(target)
    missing = np.isnan(values) if bad is None else np.isnan(values) & ~bad
    if missing.any():
        keep = np.flatnonzero(~missing)
        log(f'{table.channel}: dropping {len(table) - len(keep)} rows with no {target!r} value')
        table = table.take(keep)
    if len(table) == 0:
        raise TrainingError(f'the {table.channel} channel has no rows with a value in the target column {target!r}')
    return table


def categories_of(table, name):
    """The sorted distinct non-missing cells of a column."""
    cells, _ = table.distinct(name)
    return sorted(cell for cell in cells if not is_missing(cell))


def describe_features(schema, train, validation, target):
    """The model's features in card order: schema.json's when given, else inferred from the data."""
    if schema is not None:
        features = []
        for column in schema['columns']:
            name = column['name']
            # A date-time column is the source of its derived numeric columns (listed after it),
            # not a feature itself; an excluded one (an identifier, free text) is no feature.
            if name == target or column['type'] == 'datetime' or column.get('excluded'):
                continue
            for table in (train, validation):
                if name not in table.columns:
                    raise TrainingError(f'schema.json column {name!r} is missing from the {table.channel} CSV')
            categories = None
            if column['type'] == 'categorical':
                categories = column['categories'] if 'categories' in column else categories_of(train, name)
                categories = [str(category) for category in categories]
            features.append(Feature(name, column['type'], categories,
                                    {key: column[key] for key in CARD_KEYS if key in column}))
        listed = {c['name'] for c in schema['columns']}
        extra = [name for name in train.header if name != target and name not in listed]
        if extra:
            log(f'ignoring columns not in schema.json: {", ".join(extra)}')
        left_out = [c['name'] for c in schema['columns'] if c['name'] != target and (c['type'] == 'datetime' or c.get('excluded'))]
        if left_out:
            log(f'not features (date-times are read through their derived columns; identifiers and free text are left out): '
                f'{", ".join(left_out)}')
        return features

    features = []
    for name in train.header:
        if name == target:
            continue
        if name not in validation.columns:
            raise TrainingError(f'column {name!r} is in the train CSV but missing from the validation CSV')
        # Types are inferred on both splits, so a value that only appears in validation cannot
        # turn out unreadable later; the statistics and categories come from train alone.
        if train.first_non_number(name) is None and validation.first_non_number(name) is None:
            features.append(Feature(name, 'numeric'))
        else:
            features.append(Feature(name, 'categorical', categories_of(train, name)))
    return features


def resolve_task(hp, schema, train, validation, target):
    if hp['task'] != 'auto':
        return hp['task']
    if schema is not None and schema.get('task'):
        return schema['task']
    values = np.concatenate([table.numbers(target)[0] for table in (train, validation)])
    if np.isnan(values).any():  # a cell that is not a number
        return 'classification'
    distinct = np.unique(values).tolist()
    if len(distinct) <= MAX_INFERRED_CLASSES and all(value.is_integer() for value in distinct):
        return 'classification'
    return 'regression'


def resolve_classes(schema, train, validation, target):
    if schema is not None and schema.get('classes'):
        return [str(label) for label in schema['classes']]
    labels = {canonical_label(cell) for table in (train, validation) for cell in table.distinct(target)[0]}
    if all(parse_number(label) is not None for label in labels):
        return sorted(labels, key=float)  # 2 before 10
    return sorted(labels)


def encode_features(table, features):
    """Raw feature arrays in the ONNX layout: float32 with NaN for missing, int64 category indices."""
    numeric = [f for f in features if f.kind == 'numeric']
    categorical = [f for f in features if f.kind == 'categorical']
    x_numeric = np.full((len(table), len(numeric)), np.nan, dtype=np.float32)
    for j, feature in enumerate(numeric):
        i = table.first_non_number(feature.name)
        if i is not None:
            raise TrainingError(
                f'column {feature.name!r} is numeric but {table.channel} {table.where(i)} has '
                f'{table.cell(feature.name, i)!r}')
        x_numeric[:, j] = table.numbers(feature.name)[0]
    x_categorical = np.zeros((len(table), len(categorical)), dtype=np.int64)
    for j, feature in enumerate(categorical):
        index = {category: k + 1 for k, category in enumerate(feature.categories)}
        x_categorical[:, j] = table.lookup(feature.name, lambda cell: index.get(cell, 0))
    return x_numeric, x_categorical


def encode_target(table, target, task, classes):
    if task == 'regression':
        i = table.first_non_number(target, missing_too=True)
        if i is not None:
            raise TrainingError(
                f'target {target!r} must be numeric for regression, but {table.channel} '
                f'{table.where(i)} has {table.cell(target, i)!r}')
        return table.numbers(target)[0]
    index = {label: k for k, label in enumerate(classes)}
    labels = table.lookup(target, lambda cell: index.get(cell, index.get(canonical_label(cell))))
    unknown = np.flatnonzero(labels < 0)
    if len(unknown):
        i = int(unknown[0])
        raise TrainingError(
            f'target {target!r} value {table.cell(target, i)!r} at {table.channel} {table.where(i)} is not one '
            f'of the classes {classes} in schema.json')
    return labels


class Dataset:
    def __init__(self, hp, paths):
        schema = read_schema(paths.train)
        target = hp['target'] or (schema or {}).get('target')
        if not target:
            raise TrainingError('no target column: pass the hyperparameter target (or give schema.json a target)')
        hp['target'] = target

        train_files = csv_files(paths.train, 'train.csv')
        if not train_files:
            raise TrainingError(f'the train channel {paths.train} holds no CSV file')
        max_rows = hp.get('max_rows', DEFAULT_MAX_ROWS)
        train = read_channel('train', paths.train, train_files, max_rows)
        if target not in train.columns:
            raise TrainingError(
                f'target column {target!r} is not in the train CSV {os.path.basename(train_files[0])}, '
                f'whose columns are {train.header}')
        train = drop_missing_targets(train, target)

        validation_files = csv_files(paths.validation, 'validation.csv')
        if validation_files:
            validation = read_channel('validation', paths.validation, validation_files, max_rows)
            if target not in validation.columns:
                raise TrainingError(
                    f'target column {target!r} is not in the validation CSV '
                    f'{os.path.basename(validation_files[0])}, whose columns are {validation.header}')
            validation = drop_missing_targets(validation, target)
        else:
            train, validation = hold_out(train, hp['seed'], paths.validation)

        self.target = target
        self.features = describe_features(schema, train, validation, target)
        self.ignored_columns = ignored_columns(schema)
        if not self.features:
            raise TrainingError(f'the train CSV has no feature columns besides the target {target!r}')
        self.task = resolve_task(hp, schema, train, validation, target)
        self.classes = resolve_classes(schema, train, validation, target) if self.task == 'classification' else None

        self.train_numeric, self.train_categorical = encode_features(train, self.features)
        self.validation_numeric, self.validation_categorical = encode_features(validation, self.features)
        self.train_target = encode_target(train, target, self.task, self.classes)
        self.validation_target = encode_target(validation, target, self.task, self.classes)
        if self.task == 'classification':
            if len(self.classes) < 2 or len(np.unique(self.train_target)) < 2:
                present = sorted({self.classes[k] for k in np.unique(self.train_target)})
                raise TrainingError(
                    f'target {target!r} has a single class {present} in the train split; '
                    f'classification needs at least two')
        self.train_rows = len(train)
        self.validation_rows = len(validation)

    @property
    def numeric_features(self):
        return [f for f in self.features if f.kind == 'numeric']

    @property
    def categorical_features(self):
        return [f for f in self.features if f.kind == 'categorical']


def hold_out(train, seed, directory):
    if len(train) < 2:
        raise TrainingError(
            f'the validation channel {directory} holds no CSV, and the train split has too few rows to hold some out')
    order = np.random.RandomState(seed).permutation(len(train))
    cut = max(1, int(round(len(train) * HOLDOUT_FRACTION)))
    log(f'validation channel {directory} holds no CSV: holding out {cut} of {len(train)} training rows')
    return train.take(np.sort(order[cut:])), train.take(np.sort(order[:cut]), channel='validation')


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def seed_everything(seed, device):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too
    if device.type == 'cpu':
        # Same data and hyperparameters give the same model on CPU. On CUDA the embedding's
        # backward pass has no deterministic kernel, so there results may vary in the last bits.
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def choose_device(requested):
    if requested == 'cuda' and not torch.cuda.is_available():
        raise TrainingError('hyperparameter device is cuda, but torch finds no CUDA device')
    if requested == 'cpu' or not torch.cuda.is_available():
        return torch.device('cpu')
    return torch.device('cuda')


def loss_of(model, task, numeric, categorical, target):
    out = model.logits(numeric, categorical)
    if task == 'classification':
        # Weighted (mlp_model.class_weight_plan) when the classes are imbalanced; the validation
        # loss that picks the best epoch is weighted the same way.
        return F.cross_entropy(out.float(), target, weight=model.loss_weights)
    return F.mse_loss(out.float().squeeze(1), target)


def evaluate_loss(model, task, numeric, categorical, target):
    model.eval()
    total, rows = 0.0, target.shape[0]
    with torch.no_grad():
        for start in range(0, rows, EVAL_CHUNK):
            chunk = slice(start, start + EVAL_CHUNK)
            part = loss_of(model, task, numeric[chunk] if numeric is not None else None,
                           categorical[chunk] if categorical is not None else None, target[chunk])
            total += part.item() * (min(rows, start + EVAL_CHUNK) - start)
    return total / rows


def grad_scaler(enabled):
    # torch.amp.GradScaler arrived in 2.3 and torch.cuda.amp.GradScaler is deprecated since.
    if hasattr(torch.amp, 'GradScaler'):
        return torch.amp.GradScaler('cuda', enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def checkpoint_fingerprint(dataset, hp):
    """What a checkpoint must have been trained on to be resumed: the same data and hyperparameters
    (but `epochs`, so a job may be resumed with more of them, and `device`)."""
    digest = hashlib.sha256()
    settings = {name: hp[name] for name in sorted(hp) if name not in ('epochs', 'device')}
    digest.update(json.dumps({
        'format': CHECKPOINT_FORMAT, 'hyperparameters': settings, 'task': dataset.task, 'classes': dataset.classes,
        'features': [feature.card() for feature in dataset.features],
        'rows': [dataset.train_rows, dataset.validation_rows],
    }, sort_keys=True).encode('utf-8'))
    for array in (dataset.train_target, dataset.validation_target):
        digest.update(np.ascontiguousarray(array).tobytes())
    # Column sums stand in for the feature values (hashing them all would cost a pass over the data).
    digest.update(np.nansum(dataset.train_numeric.astype(np.float64), axis=0).tobytes())
    digest.update(dataset.train_categorical.sum(axis=0).tobytes())
    return digest.hexdigest()


def torch_load(path):
    # weights_only refuses anything but tensors and plain containers: a checkpoint is data, never
    # code. Torch 1.13's version of it cannot read floats yet, so there the file (which this job
    # wrote to its own checkpoint prefix) is read as it is.
    if int(torch.__version__.split('.')[0]) >= 2:
        return torch.load(path, map_location='cpu', weights_only=True)
    return torch.load(path, map_location='cpu')


class Checkpoints:
    """The training state after each epoch in <dir>/checkpoint.pt, so that a job restarted after a
    spot interruption (SageMaker restores the folder from S3) goes on from its last epoch. On CPU a
    resumed run ends with the same model as an uninterrupted one."""

    def __init__(self, directory, fingerprint, device):
        self.path = os.path.join(directory, CHECKPOINT_FILE) if directory else None
        self.fingerprint = fingerprint
        self.device = device

    def load(self):
        if not self.path or not os.path.isfile(self.path):
            return None
        try:
            state = torch_load(self.path)
        except Exception as error:  # a truncated upload, a file of another torch: start over
            log(f'ignoring checkpoint {self.path}: it cannot be read ({type(error).__name__}: {error})')
            return None
        if not isinstance(state, dict) or state.get('fingerprint') != self.fingerprint:
            log(f'ignoring checkpoint {self.path}: it was written for other data or hyperparameters')
            return None
        return state

    def save(self, state):
        if not self.path:
            return
        state = dict(state, fingerprint=self.fingerprint, torch_rng=torch.get_rng_state())
        if self.device.type == 'cuda':
            state['cuda_rng'] = torch.cuda.get_rng_state()
        partial = self.path + '.partial'
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            torch.save(state, partial)
            os.replace(partial, self.path)  # never a half-written checkpoint under the real name
        except OSError as error:
            log(f'could not write checkpoint {self.path}: {error}; training goes on without it')

    def restore_rng(self, state):
        torch.set_rng_state(state['torch_rng'])
        if self.device.type == 'cuda' and state.get('cuda_rng') is not None:
            torch.cuda.set_rng_state(state['cuda_rng'])


def fit(model, dataset, hp, device, checkpoint_dir=None, curve=None):
    """Trains with AdamW and early stopping; leaves the best epoch's weights in the model.

    With `checkpoint_dir`, the state after each epoch is saved there and a matching checkpoint
    found there at the start is resumed."""
    task = dataset.task

    def tensors(numeric, categorical, target):
        # The whole split lives on the device: the data is small next to the cost of copying batches.
        return (torch.from_numpy(numeric).to(device) if model.n_numeric else None,
                torch.from_numpy(categorical).to(device) if model.n_categorical else None,
                torch.from_numpy(target).to(device))

    train_target = dataset.train_target
    validation_target = dataset.validation_target
    if task == 'regression':
        mean, std = model.target_mean.item(), model.target_std.item()
        train_target = ((train_target - mean) / std).astype(np.float32)
        validation_target = ((validation_target - mean) / std).astype(np.float32)
    train = tensors(dataset.train_numeric, dataset.train_categorical, train_target)
    validation = tensors(dataset.validation_numeric, dataset.validation_categorical, validation_target)

    # batch_size 0 (gpu_check, bench) is chosen here as train_model would have (mlp_model.batch_plan).
    batch_size, learning_rate = mlp_model.batch_plan(dataset.train_rows, hp, device.type)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=hp['weight_decay'])
    amp = device.type == 'cuda'  # mixed precision pays off on GPUs only
    scaler = grad_scaler(amp)
    rows = dataset.train_rows
    best_loss, best_epoch, best_state = math.inf, 0, None
    history = []  # [epoch, train_loss, validation_loss]: the card's lossCurve
    epoch, first_epoch, stopped = 0, 1, False
    checkpoints = Checkpoints(checkpoint_dir, checkpoint_fingerprint(dataset, hp) if checkpoint_dir else None, device)
    resumed = checkpoints.load()
    if resumed is not None:
        model.load_state_dict(resumed['model'])
        optimizer.load_state_dict(resumed['optimizer'])
        if amp and resumed['scaler']:  # a CPU checkpoint has no scaler state; a CUDA one's is unused on CPU
            scaler.load_state_dict(resumed['scaler'])
        checkpoints.restore_rng(resumed)
        epoch, stopped = resumed['epoch'], resumed['stopped']
        best_loss, best_epoch, best_state = resumed['best_loss'], resumed['best_epoch'], resumed['best_state']
        history = resumed.get('history', [])
        first_epoch = epoch + 1
        log(f'resuming from checkpoint {checkpoints.path}: {epoch} epochs done, best epoch {best_epoch}')
    for epoch in range(first_epoch, 0 if stopped else hp['epochs'] + 1):
        model.train()
        order = torch.randperm(rows, device=device)
        # Summed on the device: one synchronization per epoch instead of one per batch.
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, rows, batch_size):
            batch = order[start:start + batch_size]
            numeric = train[0][batch] if train[0] is not None else None
            categorical = train[1][batch] if train[1] is not None else None
            if categorical is not None:
                unknown = torch.rand(categorical.shape, device=device) < UNKNOWN_CATEGORY_RATE
                categorical = torch.where(unknown, torch.zeros_like(categorical), categorical)
            with torch.autocast(device_type='cuda', dtype=torch.float16, enabled=amp):
                loss = loss_of(model, task, numeric, categorical, train[2][batch])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * batch.shape[0]
        train_loss = total.item() / rows
        if not math.isfinite(train_loss):
            raise TrainingError(
                f'training diverged at epoch {epoch} (train loss {train_loss}); try a lower learning_rate '
                f'than {hp["learning_rate"]}')
        validation_loss = evaluate_loss(model, task, *validation)
        log(f'epoch={epoch} train_loss={train_loss:.6f} validation_loss={validation_loss:.6f}')
        history.append([epoch, train_loss, validation_loss])

        if validation_loss < best_loss:
            best_loss, best_epoch = validation_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif hp['patience'] and epoch - best_epoch >= hp['patience']:
            stopped = True
        checkpoints.save({'epoch': epoch, 'stopped': stopped, 'model': model.state_dict(),
                          'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                          'best_loss': best_loss, 'best_epoch': best_epoch, 'best_state': best_state,
                          'history': history})
        if stopped:
            log(f'early stopping: validation loss has not improved for {hp["patience"]} epochs')
            break
    model.load_state_dict(best_state)
    log(f'best_epoch={best_epoch} best_validation_loss={best_loss:.6f}')
    if curve is not None:
        curve[:] = history
    return epoch


# ---------------------------------------------------------------------------------------------
# Metrics and export
# ---------------------------------------------------------------------------------------------


def predict(model, numeric, categorical):
    """The exported graph's output, computed by torch on CPU in float32, as onnxruntime will."""
    model.eval()
    outputs = []
    rows = numeric.shape[0]
    with torch.no_grad():
        for start in range(0, rows, EVAL_CHUNK):
            chunk = slice(start, start + EVAL_CHUNK)
            outputs.append(model(torch.from_numpy(numeric[chunk]) if model.n_numeric else None,
                                 torch.from_numpy(categorical[chunk]) if model.n_categorical else None).numpy())
    return np.concatenate(outputs).astype(np.float64)


def classification_metrics(probabilities, labels):
    predicted = probabilities.argmax(axis=1)
    true_probability = np.clip(probabilities[np.arange(len(labels)), labels], 1e-15, 1.0)
    f1s = []
    # Macro F1 over the classes that occur in the truth or the predictions (as scikit-learn does).
    for k in np.union1d(labels, predicted):
        tp = np.sum((predicted == k) & (labels == k))
        fp = np.sum((predicted == k) & (labels != k))
        fn = np.sum((predicted != k) & (labels == k))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        'accuracy': float(np.mean(predicted == labels)),
        'log_loss': float(-np.mean(np.log(true_probability))),
        'macro_f1': float(np.mean(f1s)),
    }


def regression_metrics(values, target):
    error = values[:, 0] - target
    total = np.sum((target - target.mean()) ** 2)
    return {
        'rmse': float(np.sqrt(np.mean(error ** 2))),
        'mae': float(np.mean(np.abs(error))),
        # r2 is undefined for a constant target; 0 says "no better than the mean".
        'r2': float(1 - np.sum(error ** 2) / total) if total > 0 else 0.0,
    }


def export_onnx(model, path, categorical_features=None):
    """Export `model` to `path` and return the card's formatVersion. With `categorical_features`
    (the Feature objects of the model's categorical columns, in order) the category lookup is put
    into the graph (formatVersion 2); without them, or when the rewrite is impossible (a feature
    name the graph already uses), the graph keeps the int64 `categorical` input (formatVersion 1)."""
    graph = OnnxGraph(model).eval()
    names, dummies = [], []
    if model.n_numeric:
        names.append('numeric')
        dummies.append(torch.zeros(2, model.n_numeric, dtype=torch.float32))
    if model.n_categorical:
        names.append('categorical')
        dummies.append(torch.zeros(2, model.n_categorical, dtype=torch.int64))
    output = 'probabilities' if model.task == 'classification' else 'value'
    options = dict(
        input_names=names,
        output_names=[output],
        dynamic_axes={name: {0: 'batch'} for name in names + [output]},
        opset_version=ONNX_OPSET,
        do_constant_folding=True,
    )
    # torch 2.x defaults (from 2.9) to the dynamo exporter, which needs the onnx package; the
    # TorchScript exporter needs nothing beyond torch.
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        options['dynamo'] = False
    with torch.no_grad():
        torch.onnx.export(graph, tuple(dummies), path, **options)
    if not model.n_categorical:
        return FORMAT_VERSION
    if categorical_features is None:
        return INDEX_FORMAT_VERSION
    try:
        onnx_strings.add_string_inputs(path, [(f.name, f.categories) for f in categorical_features])
    except onnx_strings.OnnxEditError as error:
        log(f'the category lookup stays outside the graph (model card formatVersion {INDEX_FORMAT_VERSION}): {error}')
        return INDEX_FORMAT_VERSION
    return FORMAT_VERSION


def train_model(hp, paths, started, dataset=None, report=True):
    """Trains the MLP and writes model.onnx and model-card.json to paths.model; returns the card.
    `dataset` is one already read (trainer=auto reads the channels once for both trainers);
    `report=False` leaves out the `validation_*` metric lines (auto prints only the winner's)."""
    device = choose_device(hp['device'])
    hp['device'] = device.type
    seed_everything(hp['seed'], device)
    if device.type == 'cuda':
        log(f'device=cuda ({torch.cuda.get_device_name(0)})')

    dataset = Dataset(hp, paths) if dataset is None else dataset
    hp['task'] = dataset.task
    # The card records the batch size and learning rate used (batch_size 0 chooses them by data size).
    hp['batch_size'], hp['learning_rate'] = mlp_model.batch_plan(dataset.train_rows, hp, device.type)
    log(f'task={dataset.task} target={dataset.target} train_rows={dataset.train_rows} '
        f'validation_rows={dataset.validation_rows} numeric_features={len(dataset.numeric_features)} '
        f'categorical_features={len(dataset.categorical_features)} device={device.type} torch={torch.__version__} '
        f'max_epochs={hp["epochs"]} batch_size={hp["batch_size"]}')
    if dataset.classes:
        log(f'classes={json.dumps(dataset.classes)}')

    model = TabularMLP(dataset, hp).to(device)
    transforms = model.card_transforms(dataset.numeric_features)
    if transforms:
        log('robust transform (signed log1p) on heavy-tailed columns: '
            + ', '.join(f'{t["feature"]} (skew {t["skew"]:.1f})' for t in transforms))
    class_weights = dict(zip(dataset.classes, model.class_weights)) if model.class_weights else None
    if class_weights:
        log(f'class weights (imbalanced classes): {json.dumps({k: round(v, 4) for k, v in class_weights.items()})}')
    curve = []
    epochs = fit(model, dataset, hp, device, paths.checkpoints, curve)

    # Metrics come from the model exactly as exported (CPU, float32, preprocessing included).
    model = model.cpu().eval()
    output = predict(model, dataset.validation_numeric, dataset.validation_categorical)
    if dataset.task == 'classification':
        metrics = classification_metrics(output, dataset.validation_target)
    else:
        metrics = regression_metrics(output, dataset.validation_target)

    os.makedirs(paths.model, exist_ok=True)
    format_version = export_onnx(model, os.path.join(paths.model, 'model.onnx'), dataset.categorical_features)
    card = {
        'formatVersion': format_version,
        'task': dataset.task,
        'target': dataset.target,
        'features': [feature.card() for feature in dataset.features],
        **({'classes': dataset.classes} if dataset.classes else {}),
        'hyperparameters': hp,
        'validationMetrics': metrics,
        'trainingSeconds': round(time.time() - started, 3),
        'epochs': epochs,
        'lossCurve': loss_curve(curve),
        'torchVersion': torch.__version__,
        'device': device.type,
        'framework': 'pytorch',
        **({'numericTransforms': transforms} if transforms else {}),
        **({'classWeights': class_weights} if class_weights else {}),
        **({'ignoredColumns': dataset.ignored_columns} if dataset.ignored_columns else {}),
    }
    with open(os.path.join(paths.model, 'model-card.json'), 'w', encoding='utf-8') as f:
        json.dump(card, f, indent=2, allow_nan=False)
        f.write('\n')

    if report:
        log_metrics(metrics)
    log(f'wrote model.onnx and model-card.json to {paths.model} in {card["trainingSeconds"]}s')
    return card


# The most points a card's loss curve keeps: a long run's epochs are thinned evenly (first and last kept).
LOSS_CURVE_POINTS = 500


def loss_curve(history):
    """The card's `lossCurve`: [epoch, train_loss, validation_loss] per epoch (or boosting round), in
    the losses the `epoch=` log lines print, at most LOSS_CURVE_POINTS of them (mloop ui draws it)."""
    if len(history) > LOSS_CURVE_POINTS:
        step = (len(history) - 1) / (LOSS_CURVE_POINTS - 1)
        history = [history[round(i * step)] for i in range(LOSS_CURVE_POINTS)]
    return [[int(epoch), float(f'{train:.6g}'), float(f'{validation:.6g}')] for epoch, train, validation in history]


def log_metrics(metrics):
    """The lines SageMaker's metric definitions (`validation_accuracy=([-+0-9.eE]+)`) read."""
    for name, value in metrics.items():
        log(f'validation_{name}={value:.6f}')


def report_failure(paths, reason):
    """SageMaker's convention: the text of /opt/ml/output/failure becomes the job's FailureReason."""
    print(f'training failed: {reason}', file=sys.stderr, flush=True)
    try:
        os.makedirs(paths.output, exist_ok=True)
        with open(os.path.join(paths.output, 'failure'), 'w', encoding='utf-8') as f:
            f.write(reason + '\n')
    except OSError as error:
        print(f'could not write the failure file in {paths.output}: {error}', file=sys.stderr, flush=True)


def run_job(paths, work):
    """Run a trainer's `work()`: 0 when it finished, else 1 with the failure reported as SageMaker expects."""
    try:
        work()
        return 0
    except TrainingError as error:
        report_failure(paths, str(error))
    except Exception as error:  # a bug or an environment problem: keep the traceback for the logs
        traceback.print_exc()
        report_failure(paths, f'unexpected error: {type(error).__name__}: {error}')
    return 1


def main(argv):
    started = time.time()
    paths = Paths()
    other = {}

    def choose():
        trainer = requested_trainer(argv, paths)
        if trainer == 'xgboost':
            import train_xgboost  # imported on demand: the MLP needs no xgboost package
            other['main'] = train_xgboost.main
        elif trainer == 'auto':
            import train_auto
            other['main'] = train_auto.main

    code = run_job(paths, choose)
    if code or 'main' in other:
        return code or other['main'](argv, started)
    return run_job(paths, lambda: train_model(read_hyperparameters(argv, paths), paths, started))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
