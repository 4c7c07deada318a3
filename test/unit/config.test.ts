import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCliConfig, loadConfig } from '../../src/config';

describe('configuration: where the API listens and where its links point', () => {
  it('listens on loopback unless HOST says otherwise; links point at localhost:$PORT unless PUBLIC_BASE_URL says otherwise', () => {
    const config = loadConfig({ PORT: '4100' });
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 4100, publicBaseUrl: 'http://localhost:4100' });
    expect(loadConfig({ HOST: '0.0.0.0' }).api.host).toBe('0.0.0.0');
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://kyc.example.com/' }).api.publicBaseUrl).toBe('https://kyc.example.com');
  });

  it('refuses a PUBLIC_BASE_URL that is not an http(s) URL, naming the variable', () => {
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'evil.example.com' })).toThrow(/PUBLIC_BASE_URL/);
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'javascript:alert(1)' })).toThrow(/PUBLIC_BASE_URL/);
  });
});

describe('the CLI\'s configuration: the environment, else what npm start left in <DATA_DIR>/cli.json', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'kyc-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const write = (content: unknown) => writeFileSync(join(dataDir, 'cli.json'), typeof content === 'string' ? content : JSON.stringify(content));
  const launcher = { database_url: 'postgres://postgres:pw@127.0.0.1:5433/kyc', temporal_address: '127.0.0.1:7233', temporal_namespace: 'ns', task_queue: 'q' };

  it('fills in what is unset from the file; what is set wins', () => {
    write(launcher);
    const found = loadCliConfig({ DATA_DIR: dataDir });
    expect(found.database.url).toBe(launcher.database_url);
    expect(found.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'ns', taskQueue: 'q' });
    const set = loadCliConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://elsewhere/db', TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(set.database.url).toBe('postgres://elsewhere/db');
    expect(set.temporal).toMatchObject({ address: 'temporal:7233', namespace: 'default', taskQueue: 'kyc-users' });
  });

  it('with neither the variables nor the file, an error naming both ways; a broken file is named', () => {
    expect(() => loadCliConfig({ DATA_DIR: dataDir })).toThrow(/DATABASE_URL is not set .*cli\.json does not exist.*npm start.*TEMPORAL_ADDRESS/s);
    write('{"database_url": 1}');
    expect(() => loadCliConfig({ DATA_DIR: dataDir })).toThrow(/cli\.json is not what the launcher writes/);
  });
});
