// Jest runs each test file in its own realm, whose Float32Array and friends differ from the
// host's. onnxruntime-node's native binding checks tensors against the host's classes, so the
// test realm is given the host's typed arrays and ArrayBuffer.
const NodeEnvironment = require('jest-environment-node').default;

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Buffer',
];

class MloopEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = MloopEnvironment;
