/**
 * The hashes that put a row in its split (./splits.ts), by the model's scheme
 * (lambdas/shared/split-scheme.ts):
 *
 * - `murmur3-csv`: MurmurHash3 x86_32 (seed 0) of the row's CSV line as the splits write it. A
 *   plain CSV line (no quotes, ASCII, comma-separated) is that line already, so it is hashed where
 *   it lies, four bytes at a time, its commas noted on the way (plainLineMurmur3).
 * - `sha1-json`: the first 32 bits of SHA-1 over the JSON array of the row's cells, computed in
 *   JavaScript (FIPS 180-4) rather than by node:crypto, whose call costs about 1.6 µs a row here
 *   against 0.3 to 0.5 µs for this on a row of 100 bytes; and for a plain CSV line, over the JSON
 *   the line's cells would make, without making the cells (plainLineHash).
 *
 * test/split-hash.test.ts holds SHA-1 to node:crypto's and MurmurHash3 to known answers of
 * another implementation (scikit-learn's murmurhash3_32).
 */
import { fmix32 } from './mix32';

/** Read once, not at every row: see the same in ./column-scan.ts. */
const finalMix = fmix32;

/** The message being hashed, padded in place; grown as rows need. */
let scratch = new Uint8Array(1024);
/** The same bytes, read as big-endian 32-bit words by block(). */
let scratchView = new DataView(scratch.buffer);

function room(length: number): Uint8Array {
  // The message, the 0x80 byte, up to 63 of padding and the 8-byte length.
  if (scratch.length < length + 72) {
    scratch = new Uint8Array(Math.max(scratch.length * 2, length + 72));
    scratchView = new DataView(scratch.buffer);
  }
  return scratch;
}

/** The hash state between blocks: h0..h4. */
const H = new Int32Array(5);

/**
 * One 64-byte block into H (its words read big-endian from a view: 16 reads instead of 64 bytes
 * shifted together): the 80 rounds written out, each naming the five words in turn (the
 * generated shape of a fast SHA-1; a loop of rounds with its five moves per round took twice as
 * long here). Round constants past 0x7fffffff are written as their signed 32-bit values.
 */
function block(view: DataView, o: number): void {
  let w0 = view.getInt32(o + 0);
  let w1 = view.getInt32(o + 4);
  let w2 = view.getInt32(o + 8);
  let w3 = view.getInt32(o + 12);
  let w4 = view.getInt32(o + 16);
  let w5 = view.getInt32(o + 20);
  let w6 = view.getInt32(o + 24);
  let w7 = view.getInt32(o + 28);
  let w8 = view.getInt32(o + 32);
  let w9 = view.getInt32(o + 36);
  let w10 = view.getInt32(o + 40);
  let w11 = view.getInt32(o + 44);
  let w12 = view.getInt32(o + 48);
  let w13 = view.getInt32(o + 52);
  let w14 = view.getInt32(o + 56);
  let w15 = view.getInt32(o + 60);
  let a = H[0];
  let b = H[1];
  let c = H[2];
  let d = H[3];
  let e = H[4];
  let x = 0;
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (~b & d)) + 0x5a827999) + w0) | 0;
  b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (~a & c)) + 0x5a827999) + w1) | 0;
  a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (~e & b)) + 0x5a827999) + w2) | 0;
  e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (~d & a)) + 0x5a827999) + w3) | 0;
  d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (~c & e)) + 0x5a827999) + w4) | 0;
  c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (~b & d)) + 0x5a827999) + w5) | 0;
  b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (~a & c)) + 0x5a827999) + w6) | 0;
  a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (~e & b)) + 0x5a827999) + w7) | 0;
  e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (~d & a)) + 0x5a827999) + w8) | 0;
  d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (~c & e)) + 0x5a827999) + w9) | 0;
  c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (~b & d)) + 0x5a827999) + w10) | 0;
  b = (b << 30) | (b >>> 2);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (~a & c)) + 0x5a827999) + w11) | 0;
  a = (a << 30) | (a >>> 2);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (~e & b)) + 0x5a827999) + w12) | 0;
  e = (e << 30) | (e >>> 2);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (~d & a)) + 0x5a827999) + w13) | 0;
  d = (d << 30) | (d >>> 2);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (~c & e)) + 0x5a827999) + w14) | 0;
  c = (c << 30) | (c >>> 2);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (~b & d)) + 0x5a827999) + w15) | 0;
  b = (b << 30) | (b >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0;
  w0 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (~a & c)) + 0x5a827999) + w0) | 0;
  a = (a << 30) | (a >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1;
  w1 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (~e & b)) + 0x5a827999) + w1) | 0;
  e = (e << 30) | (e >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2;
  w2 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (~d & a)) + 0x5a827999) + w2) | 0;
  d = (d << 30) | (d >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3;
  w3 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (~c & e)) + 0x5a827999) + w3) | 0;
  c = (c << 30) | (c >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4;
  w4 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) + 0x6ed9eba1) + w4) | 0;
  b = (b << 30) | (b >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5;
  w5 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) + 0x6ed9eba1) + w5) | 0;
  a = (a << 30) | (a >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6;
  w6 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) + 0x6ed9eba1) + w6) | 0;
  e = (e << 30) | (e >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7;
  w7 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) + 0x6ed9eba1) + w7) | 0;
  d = (d << 30) | (d >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8;
  w8 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) + 0x6ed9eba1) + w8) | 0;
  c = (c << 30) | (c >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9;
  w9 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) + 0x6ed9eba1) + w9) | 0;
  b = (b << 30) | (b >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10;
  w10 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) + 0x6ed9eba1) + w10) | 0;
  a = (a << 30) | (a >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11;
  w11 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) + 0x6ed9eba1) + w11) | 0;
  e = (e << 30) | (e >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12;
  w12 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) + 0x6ed9eba1) + w12) | 0;
  d = (d << 30) | (d >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13;
  w13 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) + 0x6ed9eba1) + w13) | 0;
  c = (c << 30) | (c >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14;
  w14 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) + 0x6ed9eba1) + w14) | 0;
  b = (b << 30) | (b >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15;
  w15 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) + 0x6ed9eba1) + w15) | 0;
  a = (a << 30) | (a >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0;
  w0 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) + 0x6ed9eba1) + w0) | 0;
  e = (e << 30) | (e >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1;
  w1 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) + 0x6ed9eba1) + w1) | 0;
  d = (d << 30) | (d >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2;
  w2 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) + 0x6ed9eba1) + w2) | 0;
  c = (c << 30) | (c >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3;
  w3 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) + 0x6ed9eba1) + w3) | 0;
  b = (b << 30) | (b >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4;
  w4 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) + 0x6ed9eba1) + w4) | 0;
  a = (a << 30) | (a >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5;
  w5 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) + 0x6ed9eba1) + w5) | 0;
  e = (e << 30) | (e >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6;
  w6 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) + 0x6ed9eba1) + w6) | 0;
  d = (d << 30) | (d >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7;
  w7 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) + 0x6ed9eba1) + w7) | 0;
  c = (c << 30) | (c >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8;
  w8 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (b & d) | (c & d)) - 0x70e44324) + w8) | 0;
  b = (b << 30) | (b >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9;
  w9 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (a & c) | (b & c)) - 0x70e44324) + w9) | 0;
  a = (a << 30) | (a >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10;
  w10 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (e & b) | (a & b)) - 0x70e44324) + w10) | 0;
  e = (e << 30) | (e >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11;
  w11 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (d & a) | (e & a)) - 0x70e44324) + w11) | 0;
  d = (d << 30) | (d >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12;
  w12 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (c & e) | (d & e)) - 0x70e44324) + w12) | 0;
  c = (c << 30) | (c >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13;
  w13 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (b & d) | (c & d)) - 0x70e44324) + w13) | 0;
  b = (b << 30) | (b >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14;
  w14 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (a & c) | (b & c)) - 0x70e44324) + w14) | 0;
  a = (a << 30) | (a >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15;
  w15 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (e & b) | (a & b)) - 0x70e44324) + w15) | 0;
  e = (e << 30) | (e >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0;
  w0 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (d & a) | (e & a)) - 0x70e44324) + w0) | 0;
  d = (d << 30) | (d >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1;
  w1 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (c & e) | (d & e)) - 0x70e44324) + w1) | 0;
  c = (c << 30) | (c >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2;
  w2 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (b & d) | (c & d)) - 0x70e44324) + w2) | 0;
  b = (b << 30) | (b >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3;
  w3 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (a & c) | (b & c)) - 0x70e44324) + w3) | 0;
  a = (a << 30) | (a >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4;
  w4 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (e & b) | (a & b)) - 0x70e44324) + w4) | 0;
  e = (e << 30) | (e >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5;
  w5 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (d & a) | (e & a)) - 0x70e44324) + w5) | 0;
  d = (d << 30) | (d >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6;
  w6 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (c & e) | (d & e)) - 0x70e44324) + w6) | 0;
  c = (c << 30) | (c >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7;
  w7 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + (((b & c) | (b & d) | (c & d)) - 0x70e44324) + w7) | 0;
  b = (b << 30) | (b >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8;
  w8 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + (((a & b) | (a & c) | (b & c)) - 0x70e44324) + w8) | 0;
  a = (a << 30) | (a >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9;
  w9 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + (((e & a) | (e & b) | (a & b)) - 0x70e44324) + w9) | 0;
  e = (e << 30) | (e >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10;
  w10 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + (((d & e) | (d & a) | (e & a)) - 0x70e44324) + w10) | 0;
  d = (d << 30) | (d >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11;
  w11 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + (((c & d) | (c & e) | (d & e)) - 0x70e44324) + w11) | 0;
  c = (c << 30) | (c >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12;
  w12 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) - 0x359d3e2a) + w12) | 0;
  b = (b << 30) | (b >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13;
  w13 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) - 0x359d3e2a) + w13) | 0;
  a = (a << 30) | (a >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14;
  w14 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) - 0x359d3e2a) + w14) | 0;
  e = (e << 30) | (e >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15;
  w15 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) - 0x359d3e2a) + w15) | 0;
  d = (d << 30) | (d >>> 2);
  x = w13 ^ w8 ^ w2 ^ w0;
  w0 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) - 0x359d3e2a) + w0) | 0;
  c = (c << 30) | (c >>> 2);
  x = w14 ^ w9 ^ w3 ^ w1;
  w1 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) - 0x359d3e2a) + w1) | 0;
  b = (b << 30) | (b >>> 2);
  x = w15 ^ w10 ^ w4 ^ w2;
  w2 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) - 0x359d3e2a) + w2) | 0;
  a = (a << 30) | (a >>> 2);
  x = w0 ^ w11 ^ w5 ^ w3;
  w3 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) - 0x359d3e2a) + w3) | 0;
  e = (e << 30) | (e >>> 2);
  x = w1 ^ w12 ^ w6 ^ w4;
  w4 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) - 0x359d3e2a) + w4) | 0;
  d = (d << 30) | (d >>> 2);
  x = w2 ^ w13 ^ w7 ^ w5;
  w5 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) - 0x359d3e2a) + w5) | 0;
  c = (c << 30) | (c >>> 2);
  x = w3 ^ w14 ^ w8 ^ w6;
  w6 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) - 0x359d3e2a) + w6) | 0;
  b = (b << 30) | (b >>> 2);
  x = w4 ^ w15 ^ w9 ^ w7;
  w7 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) - 0x359d3e2a) + w7) | 0;
  a = (a << 30) | (a >>> 2);
  x = w5 ^ w0 ^ w10 ^ w8;
  w8 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) - 0x359d3e2a) + w8) | 0;
  e = (e << 30) | (e >>> 2);
  x = w6 ^ w1 ^ w11 ^ w9;
  w9 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) - 0x359d3e2a) + w9) | 0;
  d = (d << 30) | (d >>> 2);
  x = w7 ^ w2 ^ w12 ^ w10;
  w10 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) - 0x359d3e2a) + w10) | 0;
  c = (c << 30) | (c >>> 2);
  x = w8 ^ w3 ^ w13 ^ w11;
  w11 = (x << 1) | (x >>> 31);
  e = (e + ((a << 5) | (a >>> 27)) + ((b ^ c ^ d) - 0x359d3e2a) + w11) | 0;
  b = (b << 30) | (b >>> 2);
  x = w9 ^ w4 ^ w14 ^ w12;
  w12 = (x << 1) | (x >>> 31);
  d = (d + ((e << 5) | (e >>> 27)) + ((a ^ b ^ c) - 0x359d3e2a) + w12) | 0;
  a = (a << 30) | (a >>> 2);
  x = w10 ^ w5 ^ w15 ^ w13;
  w13 = (x << 1) | (x >>> 31);
  c = (c + ((d << 5) | (d >>> 27)) + ((e ^ a ^ b) - 0x359d3e2a) + w13) | 0;
  e = (e << 30) | (e >>> 2);
  x = w11 ^ w6 ^ w0 ^ w14;
  w14 = (x << 1) | (x >>> 31);
  b = (b + ((c << 5) | (c >>> 27)) + ((d ^ e ^ a) - 0x359d3e2a) + w14) | 0;
  d = (d << 30) | (d >>> 2);
  x = w12 ^ w7 ^ w1 ^ w15;
  w15 = (x << 1) | (x >>> 31);
  a = (a + ((b << 5) | (b >>> 27)) + ((c ^ d ^ e) - 0x359d3e2a) + w15) | 0;
  c = (c << 30) | (c >>> 2);
  H[0] = (H[0] + a) | 0;
  H[1] = (H[1] + b) | 0;
  H[2] = (H[2] + c) | 0;
  H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0;
}

/** The first 32 bits (big-endian) of SHA-1 over `bytes[0, length)`; pads `bytes` in place past `length`. */
function sha1Prefix(bytes: Uint8Array, length: number): number {
  const total = (((length + 8) >>> 6) + 1) * 64;
  bytes[length] = 0x80;
  bytes.fill(0, length + 1, total - 4);
  const bits = length * 8;
  bytes[total - 4] = bits >>> 24;
  bytes[total - 3] = (bits >>> 16) & 0xff;
  bytes[total - 2] = (bits >>> 8) & 0xff;
  bytes[total - 1] = bits & 0xff;
  H[0] = 0x67452301;
  H[1] = 0xefcdab89 | 0;
  H[2] = 0x98badcfe | 0;
  H[3] = 0x10325476;
  H[4] = 0xc3d2e1f0 | 0;
  // (The bytes are the scratch buffer's, whose view is kept.)
  const view = bytes === scratch ? scratchView : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = 0; offset < total; offset += 64) block(view, offset);
  return H[0] >>> 0;
}

/** The first 32 bits of SHA-1 over the UTF-8 of JSON.stringify(cells). */
export function rowHash(cells: readonly string[]): number {
  const json = Buffer.from(JSON.stringify(cells), 'utf8');
  const bytes = room(json.length);
  bytes.set(json);
  return sha1Prefix(bytes, json.length);
}

/** Where plainLineHash found the commas of the line it hashed last: their offsets (valid until its next call). */
export const lineCommas = { at: new Int32Array(256), count: 0 };

/**
 * rowHash of the cells of a CSV line that has no quotes and is ASCII, with ',' between its cells:
 * `bytes[start, end)`. Its JSON is the line with '","' for each comma inside '["' and '"]', unless a
 * cell holds what JSON escapes (a control character or a backslash): then -1, and the caller
 * hashes the cells. The commas met are noted in lineCommas, so that the caller finds the line's
 * fields without another walk over it.
 */
export function plainLineHash(bytes: Uint8Array, start: number, end: number): number {
  const m = room(3 * (end - start) + 4);
  const out = scratchView;
  const words = viewOf(bytes);
  const commas = commaRoom(end - start);
  lineCommas.count = 0;
  m[0] = 0x5b; // [
  m[1] = 0x22; // "
  let n = 2;
  let k = 0;
  let i = start;
  const lastWord = end - 4;
  while (i < end) {
    if (i <= lastWord) {
      // Four bytes copied at once while none is a comma or below, a backslash, or DEL and above;
      // else those before the first such byte (its bit is the lowest of `odd`), and that byte alone.
      const x = words.getInt32(i, true);
      const y = x ^ 0x5c5c5c5c;
      const odd = (((x - 0x2d2d2d2d) & ~x) | ((x + 0x01010101) | x) | ((y - 0x01010101) & ~y)) & 0x80808080;
      out.setInt32(n, x, true);
      if (odd === 0) {
        n += 4;
        i += 4;
        continue;
      }
      const clean = (31 - Math.clz32(odd & -odd)) >> 3;
      n += clean;
      i += clean;
    }
    const c = bytes[i];
    // Digits, letters, '-' and '.' first: above the comma, below DEL, not a backslash.
    if (c > 0x2c && c < 0x7f && c !== 0x5c) m[n++] = c;
    else if (c === 0x2c) {
      m[n] = 0x22;
      m[n + 1] = 0x2c;
      m[n + 2] = 0x22;
      n += 3;
      commas[k++] = i;
    } else if (c < 0x20 || c === 0x5c || c > 0x7f) return -1;
    else m[n++] = c;
    i++;
  }
  lineCommas.count = k;
  m[n] = 0x22;
  m[n + 1] = 0x5d; // ]
  return sha1Prefix(m, n + 2);
}

/** The bytes a plain line's hash read last, and a view of them (a chunk's lines share it). */
let lineBytes: Uint8Array | null = null;
let lineView: DataView | null = null;

/** A view of `bytes`, kept while the lines hashed are in the same bytes. */
function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== lineBytes) {
    lineBytes = bytes;
    lineView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return lineView as DataView;
}

/** lineCommas' offsets, with room for the commas of a line of `length` bytes. */
function commaRoom(length: number): Int32Array {
  if (lineCommas.at.length < length) lineCommas.at = new Int32Array(Math.max(lineCommas.at.length * 2, length));
  return lineCommas.at;
}

/** MurmurHash3's mixing of one 4-byte block `k` into the state `h`. */
function murmurBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's tail (the last 1 to 3 bytes, `k`) and finalization over `length` bytes; unsigned. */
function murmurFinish(h: number, k: number, tail: number, length: number): number {
  if (tail > 0) {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return finalMix(h ^ length);
}

/** MurmurHash3 x86_32 (seed 0) of `bytes[start, end)`, unsigned. */
export function murmur3(bytes: Uint8Array, start: number, end: number): number {
  let h = 0;
  let i = start;
  const blocks = end - ((end - start) & 3);
  for (; i < blocks; i += 4) h = murmurBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  let k = 0;
  for (let j = end - 1; j >= i; j--) k = (k << 8) | bytes[j];
  return murmurFinish(h, k, end - i, end - start);
}

/** Scratch bytes for murmur3Text. */
let textBytes = Buffer.alloc(1024);

/** MurmurHash3 x86_32 (seed 0) of the UTF-8 bytes of `text`. */
export function murmur3Text(text: string): number {
  // (At most 3 bytes per UTF-16 unit.)
  if (textBytes.length < text.length * 3) textBytes = Buffer.alloc(Math.max(textBytes.length * 2, text.length * 3));
  const length = textBytes.write(text, 0, 'utf8');
  return murmur3(textBytes, 0, length);
}

/**
 * murmur3 of a plain CSV line `bytes[start, end)` (no quotes, ASCII, ',' between its cells), its
 * commas noted in lineCommas as plainLineHash notes them. The line's words are read little-endian
 * through a view; a word's commas are found by an exact per-byte test (no borrow runs from one
 * byte into the next, so no byte is taken for a comma that is not one).
 */
export function plainLineMurmur3(bytes: Uint8Array, start: number, end: number): number {
  const view = viewOf(bytes);
  const commas = commaRoom(end - start);
  let n = 0;
  let h = 0;
  let i = start;
  const blocks = end - ((end - start) & 3);
  for (; i < blocks; i += 4) {
    const word = view.getInt32(i, true);
    // A byte is a comma where word ^ ',,,,' has a zero byte: its high bit in `zero`.
    const t = word ^ 0x2c2c2c2c;
    let zero = ~(((t & 0x7f7f7f7f) + 0x7f7f7f7f) | t | 0x7f7f7f7f);
    while (zero !== 0) {
      commas[n++] = i + ((31 - Math.clz32(zero & -zero)) >> 3);
      zero &= zero - 1;
    }
    h = murmurBlock(h, word);
  }
  let k = 0;
  for (let j = end - 1; j >= i; j--) k = (k << 8) | bytes[j];
  for (let j = i; j < end; j++) if (bytes[j] === 0x2c) commas[n++] = j;
  lineCommas.count = n;
  return murmurFinish(h, k, end - i, end - start);
}
