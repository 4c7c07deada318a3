import { loadConfig } from '../../src/config';

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
