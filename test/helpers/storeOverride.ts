/** A store whose named methods are replaced and whose others pass through (fault injection in tests). */
import type { ObjectStore } from '../../storage/objectStore.ts';

export function overrideStore(store: ObjectStore, overrides: Partial<ObjectStore>): ObjectStore {
  return new Proxy(store, {
    get(target, name) {
      if (name in overrides) return overrides[name as keyof ObjectStore];
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
