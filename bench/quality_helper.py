#!/usr/bin/env python3
"""The Python half of `npm run bench -- quality` (bench/quality.ts drives it).

  prepare --data DIR --table NAME --seed S --out DIR
      reads one vega-datasets table, derives its date parts, splits it 80/10/10 with the seed and
      writes the channels mloop's trainers read (OUT/train/train.csv with schema.json,
      OUT/validation/validation.csv) and OUT/test.csv; prints {task, target, classes, test_rows}.
  baselines --out DIR
      fits scikit-learn's HistGradientBoosting, XGBoost with its defaults and a linear model on
      OUT's train split and prints their test metrics and fit seconds (a note when scikit-learn is
      missing).
  score --out DIR --predictions FILE --card FILE
      the test metrics of an mloop model's predictions (written by quality.ts from model.onnx in
      onnxruntime-node), computed by train.py's own metric functions, as the baselines' are.

Tables are described in TABLES: the target, the columns left out (identifiers, and the cost
columns of birdstrikes, which are filled in after the damage is assessed: a leak), the date
column whose parts become numeric features, and the classes too rare to keep (fewer than
MIN_CLASS_ROWS rows: a 10% test split would often hold none).
"""

import argparse
import csv
import datetime
import json
import math
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'training'))
import train  # noqa: E402  (the metric functions and the label spelling the trainers use)

MIN_CLASS_ROWS = 20

TABLES = {
    'penguins': {'file': 'penguins.json', 'target': 'Species', 'task': 'classification'},
    'seattle-weather': {'file': 'seattle-weather.csv', 'target': 'weather', 'task': 'classification', 'date': 'date'},
    'cars': {'file': 'cars.json', 'target': 'Miles_per_Gallon', 'task': 'regression', 'drop': ['Name'], 'date': 'Year'},
    'movies': {'file': 'movies.json', 'target': 'IMDB Rating', 'task': 'regression', 'drop': ['Title'],
               'date': 'Release Date'},
    'birdstrikes': {'file': 'birdstrikes.csv', 'target': 'Effect Amount of damage', 'task': 'classification',
                    'drop': ['Cost Other', 'Cost Repair', 'Cost Total $'], 'date': 'Flight Date'},
    'flights-200k': {'file': 'flights-200k.json', 'target': 'delay', 'task': 'regression'},
}

DATE_FORMATS = ('%Y-%m-%d', '%Y/%m/%d %H:%M', '%b %d %Y', '%d-%b-%y')


def read_rows(path):
    if path.endswith('.json'):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def parse_date(text):
    if not isinstance(text, str):
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            pass
    return None


def date_parts(value):
    """The parts mloop's ingestion derives from a date (lambdas/shared/datetime.ts), by name."""
    t = parse_date(value)
    if t is None:
        return {'year': None, 'month': None, 'dow': None, 'dom': None, 'doy': None, 'doy_sin': None, 'doy_cos': None}
    doy = t.timetuple().tm_yday
    return {'year': t.year + (doy - 1) / 366, 'month': t.month, 'dow': t.isoweekday() % 7, 'dom': t.day, 'doy': doy,
            'doy_sin': math.sin(2 * math.pi * doy / 366), 'doy_cos': math.cos(2 * math.pi * doy / 366)}


def cell(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ''
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_number(text):
    return train.parse_number(text) is not None


def prepare(args):
    spec = TABLES[args.table]
    rows = read_rows(os.path.join(args.data, spec['file']))
    target, date = spec['target'], spec.get('date')
    table = []
    for row in rows:
        out = {k: cell(v) for k, v in row.items() if k not in spec.get('drop', []) and k != date}
        if date:
            out.update({f'{date}_{part}': cell(v) for part, v in date_parts(row.get(date)).items()})
        if out.get(target, '') != '':
            table.append(out)
    if spec['task'] == 'classification':
        counts = {}
        for row in table:
            counts[row[target]] = counts.get(row[target], 0) + 1
        table = [row for row in table if counts[row[target]] >= MIN_CLASS_ROWS]
    columns = [c for c in table[0] if c != target] + [target]
    kinds = {c: 'numeric' if all(r[c] == '' or is_number(r[c]) for r in table) else 'categorical' for c in columns}
    order = np.random.RandomState(args.seed).permutation(len(table))
    cut1, cut2 = int(len(table) * 0.8), int(len(table) * 0.9)
    splits = {'train': order[:cut1], 'validation': order[cut1:cut2], 'test': order[cut2:]}
    for name, rows_of in splits.items():
        path = os.path.join(args.out, 'test.csv') if name == 'test' else os.path.join(args.out, name, f'{name}.csv')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for i in rows_of.tolist():
                writer.writerow([table[i][c] for c in columns])
    schema = {'target': target, 'task': spec['task'],
              'columns': [{'name': c, 'type': 'categorical' if c == target and spec['task'] == 'classification'
                           else kinds[c]} for c in columns]}
    with open(os.path.join(args.out, 'train', 'schema.json'), 'w', encoding='utf-8') as f:
        json.dump(schema, f)
    with open(os.path.join(args.out, 'meta.json'), 'w', encoding='utf-8') as f:
        json.dump({'target': target, 'task': spec['task'], 'kinds': kinds}, f)
    print(json.dumps({'task': spec['task'], 'target': target, 'rows': len(table), 'test_rows': len(splits['test'])}))


def load_split(path, meta, encoders=None):
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    target = meta['target']
    features = [c for c in meta['kinds'] if c != target]
    numeric = [c for c in features if meta['kinds'][c] == 'numeric']
    categorical = [c for c in features if meta['kinds'][c] == 'categorical']
    if encoders is None:
        encoders = {c: {v: k for k, v in enumerate(sorted({r[c] for r in rows if r[c] != ''}))} for c in categorical}
    x_num = np.array([[float(r[c]) if r[c] != '' else np.nan for c in numeric] for r in rows], dtype=np.float64)
    x_cat = np.array([[encoders[c].get(r[c], np.nan) if r[c] != '' else np.nan for c in categorical] for r in rows],
                     dtype=np.float64).reshape(len(rows), len(categorical))
    labels = [train.canonical_label(r[target]) for r in rows]
    return np.hstack([x_num.reshape(len(rows), len(numeric)), x_cat]), labels, encoders, len(numeric)


def metrics_of(task, output, truth):
    if task == 'classification':
        return train.classification_metrics(output, truth)
    return {k: v for k, v in train.regression_metrics(output.reshape(-1, 1), truth).items() if k != 'mae'}


def baselines(args):
    with open(os.path.join(args.out, 'meta.json'), encoding='utf-8') as f:
        meta = json.load(f)
    task = meta['task']
    x_train, y_train, encoders, n_numeric = load_split(os.path.join(args.out, 'train', 'train.csv'), meta)
    x_test, y_test, _, _ = load_split(os.path.join(args.out, 'test.csv'), meta, encoders)
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
    except ImportError as error:
        print(json.dumps({'note': f'scikit-learn is not importable ({error}): baselines skipped'}))
        return
    import xgboost
    categorical = list(range(n_numeric, x_train.shape[1]))
    if task == 'classification':
        classes = sorted(set(y_train), key=lambda c: (not is_number(c), float(c) if is_number(c) else 0, c))
        index = {c: k for k, c in enumerate(classes)}
        y_fit = np.array([index[c] for c in y_train])
        keep = np.array([c in index for c in y_test])
        truth = np.array([index.get(c, -1) for c in y_test])[keep]
    else:
        y_fit = np.array([float(v) for v in y_train])
        keep = np.ones(len(y_test), dtype=bool)
        truth = np.array([float(v) for v in y_test])
    # HGB's native categories hold at most 255 values: a wider column (movies' Director) goes in
    # as its ordinal code, as it does for XGBoost here.
    mask = np.zeros(x_train.shape[1], dtype=bool)
    mask[[j for j in categorical if np.nanmax(np.append(x_train[:, j], 0)) < 255]] = True
    linear_pre = ColumnTransformer([
        ('numeric', make_pipeline(SimpleImputer(strategy='mean', add_indicator=True), StandardScaler()),
         list(range(n_numeric))),
        ('categorical', make_pipeline(SimpleImputer(strategy='constant', fill_value=-1),
                                      OneHotEncoder(handle_unknown='ignore')), categorical),
    ])
    if task == 'classification':
        models = {
            'hgb': HistGradientBoostingClassifier(categorical_features=mask if mask.any() else None, random_state=0),
            'xgboost_defaults': xgboost.XGBClassifier(tree_method='hist', random_state=0, n_jobs=2),
            'linear': make_pipeline(linear_pre, LogisticRegression(max_iter=2000)),
        }
    else:
        models = {
            'hgb': HistGradientBoostingRegressor(categorical_features=mask if mask.any() else None, random_state=0),
            'xgboost_defaults': xgboost.XGBRegressor(tree_method='hist', random_state=0, n_jobs=2),
            'linear': make_pipeline(linear_pre, Ridge(alpha=1.0)),
        }
    results = {}
    for name, model in models.items():
        started = time.time()
        model.fit(x_train, y_fit)
        seconds = time.time() - started
        if task == 'classification':
            output = np.zeros((keep.sum(), len(classes)))
            output[:, model.classes_] = model.predict_proba(x_test[keep])
        else:
            output = model.predict(x_test)
        results[name] = dict(metrics_of(task, output, truth), seconds=round(seconds, 3))
    print(json.dumps(results))


def score(args):
    with open(os.path.join(args.out, 'meta.json'), encoding='utf-8') as f:
        meta = json.load(f)
    with open(args.card, encoding='utf-8') as f:
        card = json.load(f)
    with open(args.predictions, encoding='utf-8') as f:
        output = np.array(json.load(f), dtype=np.float64)
    with open(os.path.join(args.out, 'test.csv'), newline='', encoding='utf-8') as f:
        labels = [train.canonical_label(r[meta['target']]) for r in csv.DictReader(f)]
    if meta['task'] == 'classification':
        index = {c: k for k, c in enumerate(card['classes'])}
        keep = np.array([c in index for c in labels])
        result = metrics_of('classification', output[keep], np.array([index[c] for c in labels if c in index]))
    else:
        result = metrics_of('regression', output[:, 0], np.array([float(v) for v in labels]))
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('command', choices=['prepare', 'baselines', 'score'])
    parser.add_argument('--data')
    parser.add_argument('--table', choices=sorted(TABLES))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', required=True)
    parser.add_argument('--predictions')
    parser.add_argument('--card')
    args = parser.parse_args()
    {'prepare': prepare, 'baselines': baselines, 'score': score}[args.command](args)


if __name__ == '__main__':
    main()
