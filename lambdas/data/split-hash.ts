/**
 * The hash that puts a row in its split (./splits.ts): the first 32 bits of SHA-1 over the JSON
 * array of the row's cells, computed in JavaScript (FIPS 180-4) rather than by node:crypto, whose
 * call costs about 1.6 µs a row here against 0.3 to 0.5 µs for this on a row of 100 bytes; and for
 * a plain CSV line, over the JSON the line's cells would make, without making the cells.
 * test/split-hash.test.ts holds it to node:crypto's SHA-1.
 */

/** The message schedule, reused. */
const W = new Int32Array(80);
/** The message being hashed, padded in place; grown as rows need. */
let scratch = new Uint8Array(1024);

function room(length: number): Uint8Array {
  // The message, the 0x80 byte, up to 63 of padding and the 8-byte length.
  if (scratch.length < length + 72) scratch = new Uint8Array(Math.max(scratch.length * 2, length + 72));
  return scratch;
}

/** The first 32 bits (big-endian) of SHA-1 over `bytes[0, length)`; pads `bytes` in place past `length`. */
function sha1Prefix(bytes: Uint8Array, length: number): number {
  const blocks = ((length + 8) >>> 6) + 1;
  const total = blocks * 64;
  bytes[length] = 0x80;
  bytes.fill(0, length + 1, total - 4);
  const bits = length * 8;
  bytes[total - 4] = bits >>> 24;
  bytes[total - 3] = (bits >>> 16) & 0xff;
  bytes[total - 2] = (bits >>> 8) & 0xff;
  bytes[total - 1] = bits & 0xff;
  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  const w = W;
  for (let offset = 0; offset < total; offset += 64) {
    for (let i = 0; i < 16; i++) {
      const p = offset + i * 4;
      w[i] = (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + w[i] + 0x5a827999) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 20; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i] + 0x6ed9eba1) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 40; i < 60; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + w[i] + (0x8f1bbcdc | 0)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 60; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i] + (0xca62c1d6 | 0)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  return h0 >>> 0;
}

/** The first 32 bits of SHA-1 over the UTF-8 of JSON.stringify(cells). */
export function rowHash(cells: readonly string[]): number {
  const json = Buffer.from(JSON.stringify(cells), 'utf8');
  const bytes = room(json.length);
  bytes.set(json);
  return sha1Prefix(bytes, json.length);
}

/**
 * rowHash of the cells of a CSV line that has no quotes and is ASCII, with ',' between its cells:
 * `text[start, end)`. Its JSON is the line with '","' for each comma inside '["' and '"]', unless a
 * cell holds what JSON escapes (a control character or a backslash): then -1, and the caller
 * hashes the cells.
 */
export function plainLineHash(text: string, start: number, end: number): number {
  const bytes = room(3 * (end - start) + 4);
  bytes[0] = 0x5b; // [
  bytes[1] = 0x22; // "
  let n = 2;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2c) {
      bytes[n] = 0x22;
      bytes[n + 1] = 0x2c;
      bytes[n + 2] = 0x22;
      n += 3;
    } else if (c < 0x20 || c === 0x5c || c >= 0x7f) {
      if (c !== 0x7f) return -1;
      bytes[n++] = c;
    } else bytes[n++] = c;
  }
  bytes[n] = 0x22;
  bytes[n + 1] = 0x5d; // ]
  return sha1Prefix(bytes, n + 2);
}
