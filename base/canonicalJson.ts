/**
 * Canonical JSON: object keys sorted at every depth, so two values that JSON.stringify would write
 * with their keys in another order (or with undefined members) give the same text and the same
 * hash. Used wherever an id or a key is derived from structured settings.
 */
import { sha256Hex } from './hashing.ts';

/**
 * JSON text of `value` with every object's keys sorted (JavaScript's default string order), members whose value is
 * undefined (or a function) left out as JSON.stringify leaves them out, arrays in their order.
 * Throws on values JSON cannot hold faithfully (NaN, infinities, bigint, cycles).
 */
export function canonicalJson(value: unknown): string {
  const seen = new Set<object>();
  const write = (v: unknown, path: string): string | undefined => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: ${path} is ${v}, not a finite number`);
        return JSON.stringify(v);
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
      case 'bigint':
        throw new TypeError(`canonicalJson: ${path} is a bigint`);
    }
    const object = v;
    if (seen.has(object)) throw new TypeError(`canonicalJson: ${path} refers back to itself`);
    seen.add(object);
    try {
      if (Array.isArray(object)) {
        return `[${object.map((item, i) => write(item, `${path}[${i}]`) ?? 'null').join(',')}]`;
      }
      const json = (object as { toJSON?: () => unknown }).toJSON;
      if (typeof json === 'function') return write(json.call(object), path);
      const members: string[] = [];
      for (const key of Object.keys(object).sort()) {
        const text = write((object as Record<string, unknown>)[key], `${path}.${key}`);
        if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
      }
      return `{${members.join(',')}}`;
    } finally {
      seen.delete(object);
    }
  };
  return write(value, '(root)') ?? 'null';
}

/** sha256 (hex) of the canonical JSON of `value`, cut to `length` hex digits (default all 64). */
export function canonicalHash(value: unknown, length = 64): string {
  return sha256Hex(canonicalJson(value)).slice(0, length);
}
