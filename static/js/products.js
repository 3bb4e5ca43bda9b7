// Product look-ups with a cache (orders carry product ids, not titles).

import { api } from "./api.js";

const cache = new Map();

export function getProduct(id) {
  if (!cache.has(id)) {
    const request = api(`/api/products/${encodeURIComponent(id)}`).then((r) => r.product);
    request.catch(() => cache.delete(id));
    cache.set(id, request);
  }
  return cache.get(id);
}

export async function productTitle(id) {
  try {
    return (await getProduct(id)).title;
  } catch {
    return `product #${id}`;
  }
}

export function remember(product) {
  cache.set(product.id, Promise.resolve(product));
}
