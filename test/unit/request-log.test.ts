import { redactQuery, redactUrl, serializeRequest } from '../../src/api/request-log';

describe('request log redaction', () => {
  it('drops the whole query string of a download link', () => {
    expect(redactUrl('/downloads/exports/a/b.csv?expires=1&signature=abc')).toBe('/downloads/exports/a/b.csv?[redacted]');
    expect(redactQuery('/downloads/exports/a/b.csv?expires=1', { expires: '1', signature: 'abc' })).toBe('[redacted]');
    expect(redactUrl('/downloads/exports/a/b.csv')).toBe('/downloads/exports/a/b.csv');
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
