"""Moves categorical encoding into an exported ONNX graph, with the standard library only.

torch.onnx.export gives a graph whose input `categorical` is int64 [N, n_categorical] (0 = unknown,
i + 1 = categories[i]). add_string_inputs() rewrites the file so that each categorical feature is
its own string input [N, 1], named by the feature, and the graph looks the category up itself: one
ai.onnx.ml LabelEncoder per feature (unknown or missing -> 0), then a Concat into the tensor
`categorical` the torch graph consumes. The inference side then sends raw strings and keeps no
copy of the vocabulary.

It edits the protobuf wire format directly (the onnx package is not available everywhere train.py
runs): top-level fields of ModelProto and GraphProto are kept byte for byte, in their order; only
the graph's `categorical` input is replaced, nodes are prepended and an opset import is added.
"""

import os

# Wire types.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

# ModelProto
MODEL_GRAPH, MODEL_OPSET_IMPORT = 7, 8
# GraphProto
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 1, 5, 11, 12, 13
# NodeProto
NODE_INPUT, NODE_OUTPUT, NODE_NAME, NODE_OP_TYPE, NODE_ATTRIBUTE, NODE_DOMAIN = 1, 2, 3, 4, 5, 7
# AttributeProto
ATTR_NAME, ATTR_I, ATTR_INTS, ATTR_STRINGS, ATTR_TYPE = 1, 3, 8, 9, 20
ATTR_INT, ATTR_INTS_TYPE, ATTR_STRINGS_TYPE = 2, 7, 8
# TensorProto.name, ValueInfoProto.name
TENSOR_NAME, VALUE_INFO_NAME = 8, 1
STRING_ELEM_TYPE = 8

ML_DOMAIN = 'ai.onnx.ml'
ML_OPSET = 2
INDEX_INPUT = 'categorical'
RESERVED = ('numeric', 'categorical', 'probabilities', 'value')


class OnnxEditError(Exception):
    """The file or the feature names do not allow the rewrite; the caller keeps the index contract."""


# --- wire format ------------------------------------------------------------------------------


def read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise OnnxEditError('truncated varint')
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise OnnxEditError('varint too long')


def varint(value):
    if value < 0:
        value += 1 << 64  # int64 as protobuf writes it: ten bytes, two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def fields(data):
    """[(number, wire type, value, raw)]: value is an int (varint) or bytes; raw is the whole field."""
    out = []
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == FIXED64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == LENGTH:
            size, pos = read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == FIXED32:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise OnnxEditError(f'unsupported wire type {wire}')
        if pos > len(data):
            raise OnnxEditError('truncated field')
        out.append((number, wire, value, bytes(data[start:pos])))
    return out


def field_varint(number, value):
    return varint(number << 3 | VARINT) + varint(value)


def field_bytes(number, value):
    if isinstance(value, str):
        value = value.encode('utf-8')
    return varint(number << 3 | LENGTH) + varint(len(value)) + value


def string_of(message, number):
    for n, wire, value, _ in fields(message):
        if n == number and wire == LENGTH:
            return bytes(value).decode('utf-8')
    return None


# --- messages ---------------------------------------------------------------------------------


def attribute_int(name, value):
    return field_bytes(ATTR_NAME, name) + field_varint(ATTR_I, value) + field_varint(ATTR_TYPE, ATTR_INT)


def attribute_ints(name, values):
    return (field_bytes(ATTR_NAME, name) + b''.join(field_varint(ATTR_INTS, v) for v in values)
            + field_varint(ATTR_TYPE, ATTR_INTS_TYPE))


def attribute_strings(name, values):
    return (field_bytes(ATTR_NAME, name) + b''.join(field_bytes(ATTR_STRINGS, v) for v in values)
            + field_varint(ATTR_TYPE, ATTR_STRINGS_TYPE))


def node(op_type, inputs, outputs, name, attributes, domain=None):
    out = b''.join(field_bytes(NODE_INPUT, i) for i in inputs)
    out += b''.join(field_bytes(NODE_OUTPUT, o) for o in outputs)
    out += field_bytes(NODE_NAME, name) + field_bytes(NODE_OP_TYPE, op_type)
    out += b''.join(field_bytes(NODE_ATTRIBUTE, a) for a in attributes)
    if domain:
        out += field_bytes(NODE_DOMAIN, domain)
    return out


def string_input(name, batch):
    """ValueInfoProto: a string tensor [batch, 1]."""
    dims = field_bytes(1, field_bytes(2, batch)) + field_bytes(1, field_varint(1, 1))
    tensor = field_varint(1, STRING_ELEM_TYPE) + field_bytes(2, dims)
    return field_bytes(VALUE_INFO_NAME, name) + field_bytes(2, field_bytes(1, tensor))


def batch_dim(value_info):
    """The dim_param of the first axis of a ValueInfoProto ('batch' when there is none)."""
    try:
        for n, _, type_proto, _ in fields(value_info):
            if n != 2:
                continue
            for m, _, tensor, _ in fields(type_proto):
                if m != 1:
                    continue
                for k, _, shape, _ in fields(tensor):
                    if k != 2:
                        continue
                    for d, _, dim, _ in fields(shape):
                        if d == 1:
                            return string_of(dim, 2) or 'batch'
    except (OnnxEditError, UnicodeDecodeError):
        pass
    return 'batch'


def graph_names(graph_fields):
    """Every tensor name the graph uses: node inputs and outputs, initializers, inputs and outputs."""
    names = set()
    for number, wire, value, _ in graph_fields:
        if wire != LENGTH:
            continue
        if number == GRAPH_NODE:
            for n, w, v, _ in fields(value):
                if n in (NODE_INPUT, NODE_OUTPUT) and w == LENGTH:
                    names.add(bytes(v).decode('utf-8'))
        elif number == GRAPH_INITIALIZER:
            names.add(string_of(value, TENSOR_NAME))
        elif number in (GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO):
            names.add(string_of(value, VALUE_INFO_NAME))
    names.discard(None)
    return names


def category_table(categories):
    """Category -> index exactly as train.encode_features builds it (a repeated category keeps its last index)."""
    index = {category: k + 1 for k, category in enumerate(categories)}
    return list(index.keys()), list(index.values())


def rewrite(model_bytes, features):
    """The model with string inputs for `features` [(name, categories)], in the order of the
    columns of the int64 input `categorical`. Raises OnnxEditError when it cannot be done."""
    names = [name for name, _ in features]
    if not names:
        raise OnnxEditError('no categorical features')
    if len(set(names)) != len(names) or any(not isinstance(n, str) or n == '' for n in names):
        raise OnnxEditError('categorical feature names must be distinct and non-empty')
    for name in names:
        if name in RESERVED:
            raise OnnxEditError(f'feature name {name!r} is one of the graph\'s own names {RESERVED}')
    if any(not categories for _, categories in features):
        raise OnnxEditError('a categorical feature has no categories')

    model = fields(model_bytes)
    graphs = [f for f in model if f[0] == MODEL_GRAPH and f[1] == LENGTH]
    if len(graphs) != 1:
        raise OnnxEditError('the model has no graph')
    if any(f[0] == MODEL_OPSET_IMPORT and string_of(f[2], 1) == ML_DOMAIN for f in model):
        raise OnnxEditError(f'the model already imports {ML_DOMAIN}')
    graph = fields(graphs[0][2])

    inputs = [f for f in graph if f[0] == GRAPH_INPUT and string_of(f[2], VALUE_INFO_NAME) == INDEX_INPUT]
    if len(inputs) != 1:
        raise OnnxEditError(f'the graph has no input {INDEX_INPUT!r}')
    used = graph_names(graph)
    indices = [f'mloop_category_index_{j}' for j in range(len(names))]
    for name in names + indices:
        if name in used:
            raise OnnxEditError(f'feature name {name!r} is already a tensor name in the graph')
    batch = batch_dim(inputs[0][2])

    new_nodes = []
    for j, (name, categories) in enumerate(features):
        keys, values = category_table([str(c) for c in categories])
        new_nodes.append(node('LabelEncoder', [name], [indices[j]], f'mloop_label_encoder_{j}', [
            attribute_strings('keys_strings', keys),
            attribute_ints('values_int64s', values),
            attribute_int('default_int64', 0),
        ], domain=ML_DOMAIN))
    new_nodes.append(node('Concat', indices, [INDEX_INPUT], 'mloop_category_concat', [attribute_int('axis', 1)]))
    node_fields = b''.join(field_bytes(GRAPH_NODE, n) for n in new_nodes)
    input_fields = b''.join(field_bytes(GRAPH_INPUT, string_input(name, batch)) for name in names)

    out_graph = bytearray()
    nodes_written = False
    for number, _, _, raw in graph:
        if number == GRAPH_NODE and not nodes_written:
            out_graph += node_fields
            nodes_written = True
        if number == GRAPH_INPUT and raw == inputs[0][3]:
            out_graph += input_fields
            continue
        out_graph += raw
    if not nodes_written:
        raise OnnxEditError('the graph has no nodes')

    opset = field_bytes(MODEL_OPSET_IMPORT, field_bytes(1, ML_DOMAIN) + field_varint(2, ML_OPSET))
    last_opset = max((i for i, f in enumerate(model) if f[0] == MODEL_OPSET_IMPORT), default=len(model) - 1)
    out = bytearray()
    for i, (number, _, _, raw) in enumerate(model):
        out += field_bytes(MODEL_GRAPH, bytes(out_graph)) if number == MODEL_GRAPH else raw
        if i == last_opset:
            out += opset
    return bytes(out)


def add_string_inputs(path, features):
    """Rewrite the ONNX file at `path` in place (see rewrite()). Raises OnnxEditError, leaving the
    file as it was, when it cannot be done."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        rewritten = rewrite(data, features)
    except (UnicodeDecodeError, IndexError, ValueError) as error:
        raise OnnxEditError(f'unreadable ONNX file: {error}') from error
    with open(path + '.partial', 'wb') as f:
        f.write(rewritten)
    os.replace(path + '.partial', path)
