import { cleanUp } from './global-setup';

/** Stops the Temporal dev server, drops the run's database and removes its temporary directory. */
export default async function globalTeardown(): Promise<void> {
  const infra = globalThis.__KYC_TEST_INFRA__;
  if (!infra) return;
  globalThis.__KYC_TEST_INFRA__ = undefined;
  await cleanUp(infra);
}
