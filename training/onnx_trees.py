"""An XGBoost model as an ONNX graph with the MLP's raw-feature contract, with the standard library only.

tree_model() turns XGBoost's JSON model (Booster.save_raw('json')) into ONNX bytes whose inputs are
what mloop's runtime already sends to the MLP's graph (see training/README.md):

- `numeric`: float32 [N, n_numeric], NaN (or +-inf) = missing;
- formatVersion 2: one string [N, 1] input per categorical feature, named by the feature, the raw
  value; formatVersion 1: one int64 input `categorical` [N, n_categorical] of indices (i + 1 for
  categories[i], 0 = unknown or missing);
- output `value` float32 [N, 1] (regression) or `probabilities` float32 [N, classes].

Inside the graph: +-inf becomes NaN; a category becomes its index i + 1 as a float, and an unknown
or missing one becomes NaN, so that XGBoost's default direction of each split decides it, exactly
as booster_features() in train_xgboost.py lays the training rows out; the trees are an ai.onnx.ml
TreeEnsembleRegressor that outputs the margins (one per class for softprob), and standard ops
finish them: Sigmoid for binary:logistic (then [1 - p, p]), Softmax for multi:softprob. The
regressor plus standard ops (rather than TreeEnsembleClassifier) keeps the output exactly the
probabilities XGBoost computes, with no classifier-specific binary-case conventions.

The protobuf is written with onnx_strings' wire helpers (the onnx package is not installable
everywhere train.py runs). Field numbers are those of onnx.proto.
"""

import math
import struct

import onnx_strings as wire

# ModelProto
MODEL_IR_VERSION, MODEL_PRODUCER_NAME, MODEL_GRAPH, MODEL_OPSET_IMPORT = 1, 2, 7, 8
# GraphProto
GRAPH_NODE, GRAPH_NAME, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 1, 2, 5, 11, 12
# AttributeProto: value fields and AttributeType values
ATTR_NAME, ATTR_F, ATTR_S, ATTR_FLOATS, ATTR_INTS, ATTR_TYPE = 1, 2, 4, 7, 8, 20
TYPE_FLOAT, TYPE_STRING, TYPE_FLOATS, TYPE_INTS = 1, 3, 6, 7
# TensorProto
TENSOR_DIMS, TENSOR_DATA_TYPE, TENSOR_FLOAT_DATA, TENSOR_NAME = 1, 2, 4, 8
# TensorProto.DataType
FLOAT, INT64, STRING = 1, 7, 8

# Opset 14, as the MLP's graph (every onnxruntime we target loads it); IR version 7 goes with it.
ONNX_OPSET = 14
IR_VERSION = 7
ML_OPSET = 2

# The objectives train_xgboost.py trains with, and how each turns base_score into a margin.
OBJECTIVES = ('reg:squarederror', 'binary:logistic', 'multi:softprob')

# Tensor names of the graph's own; a categorical feature named like one of these (or like any
# `mloop_` name) keeps the index contract, formatVersion 1, as in the MLP's graph.
RESERVED = ('numeric', 'categorical', 'probabilities', 'value')
PREFIX = 'mloop_'


class TreeExportError(Exception):
    """The XGBoost model holds something this export does not translate (its message says what)."""


# --- protobuf messages ---------------------------------------------------------------------------


def packed_floats(values):
    return struct.pack(f'<{len(values)}f', *values)


def packed_varints(values):
    return b''.join(wire.varint(int(v)) for v in values)


def attribute_float(name, value):
    return (wire.field_bytes(ATTR_NAME, name) + wire.varint(ATTR_F << 3 | wire.FIXED32) + struct.pack('<f', value)
            + wire.field_varint(ATTR_TYPE, TYPE_FLOAT))


def attribute_floats(name, values):
    return (wire.field_bytes(ATTR_NAME, name) + wire.field_bytes(ATTR_FLOATS, packed_floats(values))
            + wire.field_varint(ATTR_TYPE, TYPE_FLOATS))


def attribute_ints(name, values):
    return (wire.field_bytes(ATTR_NAME, name) + wire.field_bytes(ATTR_INTS, packed_varints(values))
            + wire.field_varint(ATTR_TYPE, TYPE_INTS))


def attribute_string(name, value):
    return wire.field_bytes(ATTR_NAME, name) + wire.field_bytes(ATTR_S, value) + wire.field_varint(ATTR_TYPE, TYPE_STRING)


def float_tensor(name, values, dims):
    out = b''.join(wire.field_varint(TENSOR_DIMS, d) for d in dims)
    out += wire.field_varint(TENSOR_DATA_TYPE, FLOAT)
    out += wire.field_bytes(TENSOR_FLOAT_DATA, packed_floats(values))
    return out + wire.field_bytes(TENSOR_NAME, name)


def value_info(name, elem_type, width):
    """ValueInfoProto of a tensor [batch, width]."""
    dims = wire.field_bytes(1, wire.field_bytes(2, 'batch')) + wire.field_bytes(1, wire.field_varint(1, width))
    tensor = wire.field_varint(1, elem_type) + wire.field_bytes(2, dims)
    return wire.field_bytes(1, name) + wire.field_bytes(2, wire.field_bytes(1, tensor))


def model_bytes(nodes, initializers, inputs, outputs):
    graph = b''.join(wire.field_bytes(GRAPH_NODE, n) for n in nodes)
    graph += wire.field_bytes(GRAPH_NAME, 'mloop_xgboost')
    graph += b''.join(wire.field_bytes(GRAPH_INITIALIZER, t) for t in initializers)
    graph += b''.join(wire.field_bytes(GRAPH_INPUT, i) for i in inputs)
    graph += b''.join(wire.field_bytes(GRAPH_OUTPUT, o) for o in outputs)
    out = wire.field_varint(MODEL_IR_VERSION, IR_VERSION) + wire.field_bytes(MODEL_PRODUCER_NAME, 'mloop')
    out += wire.field_bytes(MODEL_GRAPH, graph)
    out += wire.field_bytes(MODEL_OPSET_IMPORT, wire.field_bytes(1, '') + wire.field_varint(2, ONNX_OPSET))
    out += wire.field_bytes(MODEL_OPSET_IMPORT, wire.field_bytes(1, wire.ML_DOMAIN) + wire.field_varint(2, ML_OPSET))
    return out


# --- the trees -----------------------------------------------------------------------------------


def base_margin(model):
    """The margin every prediction starts from, as XGBoost derives it from base_score (float32)."""
    learner = model['learner']
    objective = learner['objective']['name']
    raw = str(learner['learner_model_param']['base_score']).strip()
    # 1.x and 2.x write a number ('5E-1'); 3.x writes a vector ('[5E-1]'), one value per output.
    # One intercept is what these objectives have; a vector of several is refused, not guessed at.
    values = [v for v in raw.strip('[]').split(',') if v.strip()]
    if len(values) != 1:
        raise TreeExportError(f'expected one base_score, the model has {raw}')
    base_score = float(values[0])
    if objective == 'binary:logistic':
        if not 0 < base_score < 1:
            raise TreeExportError(f'binary:logistic needs a base_score in (0, 1), the model has {base_score}')
        return -math.log(1 / base_score - 1)
    return base_score


def ensemble_attributes(model, n_targets):
    """TreeEnsembleRegressor's attributes for the model's trees: x < threshold goes to the left
    child (XGBoost's rule, BRANCH_LT with true = left), a missing value to its default child."""
    booster = model['learner']['gradient_booster']
    if booster.get('name') != 'gbtree':
        raise TreeExportError(f"only gbtree boosters are exported, the model's is {booster.get('name')!r}")
    trees = booster['model']['trees']
    tree_info = booster['model']['tree_info']
    columns = {key: [] for key in ('treeids', 'nodeids', 'featureids', 'values', 'modes', 'true', 'false', 'missing')}
    targets = {key: [] for key in ('treeids', 'nodeids', 'ids', 'weights')}
    for t, tree in enumerate(trees):
        if any(tree.get('split_type', [])):
            raise TreeExportError(f'tree {t} has categorical splits; mloop trains without them')
        left, right = tree['left_children'], tree['right_children']
        conditions, features, default_left = tree['split_conditions'], tree['split_indices'], tree['default_left']
        for i in range(len(left)):
            leaf = left[i] == -1
            columns['treeids'].append(t)
            columns['nodeids'].append(i)
            columns['featureids'].append(0 if leaf else features[i])
            columns['values'].append(0.0 if leaf else conditions[i])
            columns['modes'].append('LEAF' if leaf else 'BRANCH_LT')
            columns['true'].append(0 if leaf else left[i])
            columns['false'].append(0 if leaf else right[i])
            columns['missing'].append(0 if leaf else int(default_left[i]))
            if leaf:  # a leaf's value is kept in split_conditions, the learning rate applied
                targets['treeids'].append(t)
                targets['nodeids'].append(i)
                targets['ids'].append(tree_info[t] if n_targets > 1 else 0)
                targets['weights'].append(conditions[i])
    if not trees:
        raise TreeExportError('the model has no trees')
    return [
        attribute_string('aggregate_function', 'SUM'),
        attribute_floats('base_values', [base_margin(model)] * n_targets),
        wire.attribute_int('n_targets', n_targets),
        attribute_ints('nodes_falsenodeids', columns['false']),
        attribute_ints('nodes_featureids', columns['featureids']),
        attribute_ints('nodes_missing_value_tracks_true', columns['missing']),
        wire.attribute_strings('nodes_modes', columns['modes']),
        attribute_ints('nodes_nodeids', columns['nodeids']),
        attribute_ints('nodes_treeids', columns['treeids']),
        attribute_ints('nodes_truenodeids', columns['true']),
        attribute_floats('nodes_values', columns['values']),
        attribute_string('post_transform', 'NONE'),
        attribute_ints('target_ids', targets['ids']),
        attribute_ints('target_nodeids', targets['nodeids']),
        attribute_ints('target_treeids', targets['treeids']),
        attribute_floats('target_weights', targets['weights']),
    ]


def string_inputs_possible(categorical):
    """Whether every categorical feature can be its own string input (formatVersion 2)."""
    return all(name not in RESERVED and not name.startswith(PREFIX) and categories for name, categories in categorical)


def tree_model(model, n_numeric, categorical, classes=None):
    """ONNX bytes for the XGBoost JSON `model` (a dict), trained on the columns booster_features()
    lays out: n_numeric numbers, then one float index per categorical feature in `categorical`
    [(name, categories)]. `classes`: the class labels (classification), None for regression.
    Returns (bytes, formatVersion)."""
    objective = model['learner']['objective']['name']
    if objective not in OBJECTIVES:
        raise TreeExportError(f'objective {objective!r} is not one of {OBJECTIVES}')
    width = n_numeric + len(categorical)
    if int(model['learner']['learner_model_param']['num_feature']) != width:
        raise TreeExportError(
            f"the model has {model['learner']['learner_model_param']['num_feature']} features, the card {width}")
    n_targets = len(classes) if objective == 'multi:softprob' else 1

    nodes, initializers, inputs, parts = [], [], [], []
    nan = PREFIX + 'nan'
    initializers.append(float_tensor(nan, [math.nan], []))
    if n_numeric:
        # +-inf reads as missing, as in the MLP's graph.
        inputs.append(value_info('numeric', FLOAT, n_numeric))
        nodes.append(wire.node('IsInf', ['numeric'], [PREFIX + 'numeric_inf'], PREFIX + 'is_inf', []))
        nodes.append(wire.node('Where', [PREFIX + 'numeric_inf', nan, 'numeric'], [PREFIX + 'numeric_finite'],
                               PREFIX + 'inf_to_nan', []))
        parts.append(PREFIX + 'numeric_finite')
    format_version = 2
    if categorical and string_inputs_possible(categorical):
        for j, (name, categories) in enumerate(categorical):
            keys, values = wire.category_table([str(c) for c in categories])
            inputs.append(value_info(name, STRING, 1))
            nodes.append(wire.node('LabelEncoder', [name], [f'{PREFIX}category_code_{j}'], f'{PREFIX}label_encoder_{j}', [
                wire.attribute_strings('keys_strings', keys),
                attribute_floats('values_floats', [float(v) for v in values]),
                attribute_float('default_float', math.nan),
            ], domain=wire.ML_DOMAIN))
            parts.append(f'{PREFIX}category_code_{j}')
    elif categorical:
        # The index contract: 0 and anything outside 1..len(categories) is unknown, i.e. NaN.
        format_version = 1
        inputs.append(value_info('categorical', INT64, len(categorical)))
        sizes, one = PREFIX + 'category_sizes', PREFIX + 'one'
        initializers.append(float_tensor(sizes, [float(len(c)) for _, c in categorical], [1, len(categorical)]))
        initializers.append(float_tensor(one, [1.0], []))
        codes = PREFIX + 'category_codes'
        nodes.append(wire.node('Cast', ['categorical'], [codes], PREFIX + 'cast_categorical', [wire.attribute_int('to', FLOAT)]))
        nodes.append(wire.node('Less', [codes, one], [PREFIX + 'below'], PREFIX + 'less', []))
        nodes.append(wire.node('Greater', [codes, sizes], [PREFIX + 'above'], PREFIX + 'greater', []))
        nodes.append(wire.node('Or', [PREFIX + 'below', PREFIX + 'above'], [PREFIX + 'unknown'], PREFIX + 'or', []))
        nodes.append(wire.node('Where', [PREFIX + 'unknown', nan, codes], [PREFIX + 'category_index'], PREFIX + 'unknown_to_nan', []))
        parts.append(PREFIX + 'category_index')

    features = PREFIX + 'features'
    nodes.append(wire.node('Concat', parts, [features], PREFIX + 'concat', [wire.attribute_int('axis', 1)]))
    margin = 'value' if classes is None else PREFIX + 'margin'
    nodes.append(wire.node('TreeEnsembleRegressor', [features], [margin], PREFIX + 'trees',
                           ensemble_attributes(model, n_targets), domain=wire.ML_DOMAIN))
    if objective == 'binary:logistic':
        one = PREFIX + 'one_probability'
        initializers.append(float_tensor(one, [1.0], []))
        nodes.append(wire.node('Sigmoid', [margin], [PREFIX + 'positive'], PREFIX + 'sigmoid', []))
        nodes.append(wire.node('Sub', [one, PREFIX + 'positive'], [PREFIX + 'negative'], PREFIX + 'complement', []))
        nodes.append(wire.node('Concat', [PREFIX + 'negative', PREFIX + 'positive'], ['probabilities'],
                               PREFIX + 'probabilities', [wire.attribute_int('axis', 1)]))
    elif objective == 'multi:softprob':
        nodes.append(wire.node('Softmax', [margin], ['probabilities'], PREFIX + 'softmax', [wire.attribute_int('axis', 1)]))
    output = value_info('value', FLOAT, 1) if classes is None else value_info('probabilities', FLOAT, len(classes))
    return model_bytes(nodes, initializers, inputs, [output]), format_version
