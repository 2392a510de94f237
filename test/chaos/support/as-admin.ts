import { Client } from 'ldapts';
import type { Slapd } from '../../support/slapd.ts';

/**
 * Works on a test slapd directly as its admin, bypassing idem and any proxy: another
 * writer's change, or the figures read from the target itself.
 * @example await asAdmin(slapd, (c) => c.del(`ou=people,${base}`));
 */
export async function asAdmin<T>(slapd: Slapd, work: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: slapd.url, timeout: 10_000 });
  try {
    await c.bind(slapd.adminDn, slapd.adminPassword);
    return await work(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}
