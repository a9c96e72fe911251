/**
 * File names as the file system stores them: bytes. Node turns bytes that are not UTF-8 into
 * U+FFFD when it decodes a name, which then names no file; these helpers tell such names apart
 * and show them without loss.
 */

/** The name as a string when its bytes are UTF-8 (so the string names the same file), else null. */
export function utf8Name(bytes: Uint8Array): string | null {
  const text = Buffer.from(bytes).toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : null;
}

/** Length of the valid UTF-8 sequence starting at bytes[i], or 0 when there is none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i]!;
  const length =
    lead < 0x80
      ? 1
      : lead >= 0xc2 && lead < 0xe0
        ? 2
        : lead >= 0xe0 && lead < 0xf0
          ? 3
          : lead >= 0xf0 && lead < 0xf5
            ? 4
            : 0;
  if (length === 0 || i + length > bytes.length) return 0;
  const slice = bytes.subarray(i, i + length);
  return utf8Name(slice) === null ? 0 : length;
}

/** The name with every byte that is not part of valid UTF-8 written as \xNN (and a backslash as \\). */
export function escapedName(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const length = sequenceLength(bytes, i);
    if (length === 0) {
      out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    const text = Buffer.from(bytes.subarray(i, i + length)).toString('utf8');
    out += text === '\\' ? '\\\\' : text;
    i += length;
  }
  return out;
}
