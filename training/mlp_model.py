"""The MLP of train.py: its module (TabularMLP, with the preprocessing that the ONNX graph carries)
and the choices made from the train split before training: which numeric columns get a robust
transform, which class weights the loss uses, and the batch size for the data size.

Only numpy and torch: train.py imports this file, and this file imports nothing of mloop's, so
there is no cycle and the SageMaker container needs nothing more.
"""

import math

import numpy as np
import torch
from torch import nn

# A numeric column whose train-split skewness (the third standardized moment of its non-missing
# values) exceeds this in absolute value is heavy-tailed: money, counts, durations. Such a column,
# standardized as it is, puts most rows in a sliver near zero and lets a few outliers dominate
# the first layer; the signed log below spreads them out. 2 is a common rule of thumb for "highly
# skewed"; a normal column has 0, an exponential one 2, a log-normal one with sigma 1 about 6.
SKEW_THRESHOLD = 2.0
# Columns with at most this many distinct train values (flags, small codes) are left as they are:
# a monotone transform of two or three values changes nothing the network cannot learn itself.
ROBUST_MIN_DISTINCT = 3
# Class weights are used by default when the most frequent class holds more than this share of the
# train rows: below it the plain loss already learns every class; above it a network can reach a
# low loss by predicting the majority only (issue 17: birdstrikes, 90% one class).
MAJORITY_SHARE = 0.6
# Balanced weights (rows / (classes * rows of the class)) are capped at this many times the
# smallest one, so that a class of a handful of rows does not turn the loss into its own.
MAX_CLASS_WEIGHT_RATIO = 50.0
# batch_size 0 (the default) chooses the batch for the data size: DEFAULT_BATCH up to
# AUTO_BATCH_STEPS * DEFAULT_BATCH train rows, then the power of two that gives about
# AUTO_BATCH_STEPS steps per epoch, at most MAX_AUTO_BATCH. On the CPU, the cost of a step is
# mostly fixed overhead for a model this small, so fewer, larger steps train the same model in a
# fraction of the time (200k flights: 37 s at 256, 5 s at 2048, same validation loss). The learning
# rate is scaled by sqrt(batch / DEFAULT_BATCH), the usual rule for Adam. On CUDA the batch stays
# DEFAULT_BATCH (that path is unchanged); an explicit batch_size is always used as given.
DEFAULT_BATCH = 256
AUTO_BATCH_STEPS = 80
MAX_AUTO_BATCH = 4096


def batch_plan(rows, hp, device_type):
    """(batch size, learning rate) for `rows` train rows: hp's own when batch_size is set (> 0)."""
    if hp['batch_size'] > 0:
        return hp['batch_size'], hp['learning_rate']
    if device_type == 'cuda' or rows <= AUTO_BATCH_STEPS * DEFAULT_BATCH:
        return DEFAULT_BATCH, hp['learning_rate']
    batch = min(MAX_AUTO_BATCH, 2 ** math.ceil(math.log2(rows / AUTO_BATCH_STEPS)))
    return batch, hp['learning_rate'] * math.sqrt(batch / DEFAULT_BATCH)


def skewness(values):
    """The third standardized moment (0 for a constant column)."""
    deviation = values - values.mean()
    std = np.sqrt(np.mean(deviation ** 2))
    return float(np.mean(deviation ** 3) / std ** 3) if std > 0 else 0.0


def robust_plan(numeric, mode):
    """Per numeric column (float64 [N, d], NaN = missing): None, or the signed log's (center,
    scale, skew). `mode`: auto (|skew| > SKEW_THRESHOLD), all (every column with enough distinct
    values) or off. center is the median, scale the interquartile range (else the mean absolute
    deviation from the median, else 1), so the transform does not depend on the column's units."""
    plan = []
    for j in range(numeric.shape[1]):
        values = numeric[:, j]
        values = values[~np.isnan(values)]
        if mode == 'off' or len(np.unique(values[:10_000])) < ROBUST_MIN_DISTINCT \
                or len(np.unique(values)) < ROBUST_MIN_DISTINCT:
            plan.append(None)
            continue
        skew = skewness(values)
        if mode == 'auto' and not abs(skew) > SKEW_THRESHOLD:
            plan.append(None)
            continue
        center = float(np.median(values))
        q25, q75 = np.percentile(values, [25, 75])
        scale = float(q75 - q25) or float(np.mean(np.abs(values - center))) or 1.0
        plan.append((center, scale, skew))
    return plan


def signed_log(values, center, scale):
    """numpy's version of the graph's transform: sign(z) * log(1 + |z|), z = (x - center) / scale."""
    z = (values - center) / scale
    return np.sign(z) * np.log1p(np.abs(z))


def class_weight_plan(target, n_classes, mode):
    """The loss's class weights (float64 [n_classes]) or None. `mode`: auto (balanced when the
    majority class holds more than MAJORITY_SHARE of the rows), balanced, or none."""
    if mode == 'none':
        return None
    counts = np.bincount(target, minlength=n_classes).astype(np.float64)
    if mode == 'auto' and not counts.max() > MAJORITY_SHARE * counts.sum():
        return None
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    weights = np.minimum(weights, weights[present].min() * MAX_CLASS_WEIGHT_RATIO)
    return np.sqrt(weights) if mode == 'auto' else weights


class TabularMLP(nn.Module):
    """An MLP whose forward pass starts from raw feature values, as the ONNX contract requires.

    forward() is what is exported; logits() is what is trained, so training and inference share
    one preprocessing path and cannot drift apart.
    """

    def __init__(self, dataset, hp):
        super().__init__()
        self.task = dataset.task
        numeric = dataset.train_numeric.astype(np.float64)
        self.n_numeric = numeric.shape[1]
        self.n_categorical = dataset.train_categorical.shape[1]

        # Heavy-tailed columns go through a signed log first (robust_plan); the standardization
        # statistics below are those of the transformed values. Nothing changes in the graph when
        # no column is transformed.
        self.robust = robust_plan(numeric, hp.get('robust_numeric', 'auto'))
        self.has_robust = any(entry is not None for entry in self.robust)  # a Python bool: a constant for tracing
        center = np.array([entry[0] if entry else 0.0 for entry in self.robust])
        scale = np.array([entry[1] if entry else 1.0 for entry in self.robust])
        self.register_buffer('robust_center', torch.tensor(center, dtype=torch.float32))
        self.register_buffer('robust_scale', torch.tensor(scale, dtype=torch.float32))
        self.register_buffer('robust_columns', torch.tensor([entry is not None for entry in self.robust], dtype=torch.bool))
        if self.has_robust:
            numeric = numeric.copy()
            for j, entry in enumerate(self.robust):
                if entry is not None:
                    numeric[:, j] = signed_log(numeric[:, j], entry[0], entry[1])

        # Standardization statistics from the train split only; a constant column divides by 1.
        observed = ~np.isnan(numeric)
        counts = observed.sum(axis=0)
        sums = np.where(observed, numeric, 0).sum(axis=0)
        mean = np.divide(sums, counts, out=np.zeros(self.n_numeric), where=counts > 0)
        squares = np.where(observed, (numeric - mean) ** 2, 0).sum(axis=0)
        std = np.sqrt(np.divide(squares, counts, out=np.zeros(self.n_numeric), where=counts > 0))
        std[~(std > 0)] = 1.0
        self.register_buffer('numeric_mean', torch.tensor(mean, dtype=torch.float32))
        self.register_buffer('numeric_std', torch.tensor(std, dtype=torch.float32))
        # A "was missing" input only for columns that had gaps in training; elsewhere it would be a
        # constant zero whose weight never learns anything.
        with_gaps = np.flatnonzero(counts < numeric.shape[0])
        self.register_buffer('indicator_columns', torch.tensor(with_gaps, dtype=torch.int64))
        self.has_indicators = len(with_gaps) > 0  # a Python bool, so tracing sees a constant

        # One embedding table for all categorical columns; column j owns rows offsets[j] to
        # offsets[j] + sizes[j], where row 0 of its block is "unknown or missing".
        sizes = [len(f.categories) for f in dataset.categorical_features]
        offsets = np.cumsum([0] + [size + 1 for size in sizes])[:-1]
        self.register_buffer('category_sizes', torch.tensor(sizes, dtype=torch.int64))
        self.register_buffer('category_offsets', torch.tensor(offsets, dtype=torch.int64))
        self.embedding = nn.Embedding(sum(sizes) + len(sizes), hp['embedding_dim']) if sizes else None

        width = self.n_numeric + len(with_gaps) + len(sizes) * hp['embedding_dim']
        blocks = []
        for _ in range(hp['layers']):
            blocks += [nn.Linear(width, hp['hidden']), nn.ReLU()]
            if hp['dropout'] > 0:
                blocks.append(nn.Dropout(hp['dropout']))
            width = hp['hidden']
        outputs = len(dataset.classes) if self.task == 'classification' else 1
        blocks.append(nn.Linear(width, outputs))
        self.mlp = nn.Sequential(*blocks)

        # Regression trains on a standardized target, which keeps the loss scale independent of
        # the target's units; forward() maps back so `value` is in those units.
        target_mean, target_std = 0.0, 1.0
        if self.task == 'regression':
            target_mean = float(dataset.train_target.mean())
            target_std = float(dataset.train_target.std()) or 1.0
        self.register_buffer('target_mean', torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer('target_std', torch.tensor(target_std, dtype=torch.float32))

        # Class weights for the training loss (class_weight_plan); None = the plain loss.
        weights = None
        if self.task == 'classification':
            weights = class_weight_plan(np.asarray(dataset.train_target), outputs, hp.get('class_weights', 'auto'))
        self.class_weights = None if weights is None else weights.tolist()
        self.register_buffer('loss_weights', None if weights is None else torch.tensor(weights, dtype=torch.float32))

    def card_transforms(self, features):
        """The model card's `numericTransforms`: one entry per transformed numeric feature."""
        return [{'feature': feature.name, 'transform': 'signed_log1p', 'center': entry[0], 'scale': entry[1],
                 'skew': round(entry[2], 4)}
                for feature, entry in zip(features, self.robust) if entry is not None]

    def logits(self, numeric, categorical):
        parts = []
        if self.n_numeric:
            # Missing (NaN, and +-inf for robustness) becomes the train mean, i.e. 0 once standardized.
            missing = ~torch.isfinite(numeric)
            if self.has_robust:
                # sign(z) * log(1 + |z|) on the robust columns; a missing value is replaced first so
                # that no NaN or inf goes through the log, then imputed below like any other.
                safe = torch.where(missing, self.robust_center, numeric)
                z = (safe - self.robust_center) / self.robust_scale
                numeric = torch.where(self.robust_columns, torch.sign(z) * torch.log1p(torch.abs(z)), safe)
            filled = torch.where(missing, self.numeric_mean, numeric)
            parts.append((filled - self.numeric_mean) / self.numeric_std)
            if self.has_indicators:
                parts.append(torch.index_select(missing.to(numeric.dtype), 1, self.indicator_columns))
        if self.n_categorical:
            # An index outside 0..size (a caller's mistake) reads as unknown rather than failing.
            valid = (categorical >= 0) & (categorical <= self.category_sizes)
            index = torch.where(valid, categorical, torch.zeros_like(categorical)) + self.category_offsets
            parts.append(self.embedding(index).flatten(1))
        return self.mlp(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])

    def forward(self, numeric, categorical):
        out = self.logits(numeric, categorical)
        if self.task == 'classification':
            return torch.softmax(out.float(), dim=1)
        return out.float() * self.target_std + self.target_mean


class OnnxGraph(nn.Module):
    """The exported signature: only the inputs the model has, in the order numeric, categorical."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        numeric = inputs[0] if self.model.n_numeric else None
        categorical = inputs[-1] if self.model.n_categorical else None
        return self.model(numeric, categorical)
