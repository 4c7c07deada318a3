import { redactQuery, redactUrl, serializeRequest } from '../../src/api/request-log';

describe('request log redaction', () => {
  it('drops everything after /downloads/ (a link is a credential, in its path or its query)', () => {
    expect(redactUrl('/downloads/exports/a/b.csv?expires=1&signature=abc')).toBe('/downloads/[redacted]');
    // An API-served link holds its credential in the path.
    expect(redactUrl('/downloads/0b9e.1.1796197000.c2lnbmF0dXJl')).toBe('/downloads/[redacted]');
    expect(redactQuery('/downloads/exports/a/b.csv?expires=1', { expires: '1', signature: 'abc' })).toBe('[redacted]');
    expect(redactUrl('/downloads/exports/a/b.csv')).toBe('/downloads/[redacted]');
  });

  it('elsewhere replaces only the values of credential parameters', () => {
    expect(redactUrl('/v3/users/?search=ana&token=t0k&X-Amz-Signature=s1g')).toBe('/v3/users/?search=ana&token=[redacted]&X-Amz-Signature=[redacted]');
    expect(redactQuery('/v3/users/', { search: 'ana', token: 't0k' })).toEqual({ search: 'ana', token: '[redacted]' });
  });

  it('redacts the Referer, which may be a link', () => {
    const out = serializeRequest({ url: '/x', query: {}, headers: { referer: 'http://h/downloads/x?signature=s' } });
    expect(out.headers).toEqual({ referer: '[redacted]' });
  });
});
