import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';

export interface TemporalClient {
  client: Client;
  close(): Promise<void>;
}

export function temporalAddress(config: Config): string {
  return config.temporal.address ?? 'localhost:7233';
}

/** One client for the process, closed on shutdown. */
export async function connectTemporalClient(config: Config): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: temporalAddress(config) });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { client, close: () => connection.close() };
}
