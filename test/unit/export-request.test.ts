import { exportRequestSchema } from '../../src/exports/filters';
import { fieldProblems } from '../../src/users/fields';

const problems = (body: unknown) => {
  const parsed = exportRequestSchema.safeParse(body);
  return parsed.success ? [] : fieldProblems(parsed.error, body);
};

describe('the export request schema', () => {
  test('normalises filters', () => {
    const parsed = exportRequestSchema.parse({
      filters: {
        status: ['active', 'Flagged', 'ACTIVE'],
        country: [' esp ', 'fra'],
        tags: [' vip ', 'vip', 'eu'],
        created_from: '2024-01-01',
        created_to: '2024-02-01T12:00:00+02:00',
        search: '  ana ',
      },
      columns: ['email', 'id'],
    });
    expect(parsed).toEqual({
      filters: {
        status: ['ACTIVE', 'FLAGGED'],
        country: ['ESP', 'FRA'],
        tags: ['vip', 'eu'],
        created_from: '2024-01-01T00:00:00.000Z',
        created_to: '2024-02-01T10:00:00.000Z',
        search: 'ana',
      },
      columns: ['email', 'id'],
    });
  });

  test('a country filter is read by the field rule: alpha-2 or an English name is its alpha-3', () => {
    expect(exportRequestSchema.parse({ filters: { country: ['ES', 'france', 'deu'] } })).toEqual({ filters: { country: ['ESP', 'FRA', 'DEU'] } });
  });

  test('empty lists and an empty search are "not given"', () => {
    expect(exportRequestSchema.parse({ filters: { status: [], search: '   ', tags: [] } })).toEqual({ filters: {} });
    expect(exportRequestSchema.parse({})).toEqual({});
  });

  test.each([
    [{ columns: ['id', 'nope'] }, 'columns.1', 'unknown_column'],
    [{ columns: ['id', 'id'] }, 'columns.1', 'duplicate_column'],
    [{ columns: 'id' }, 'columns', expect.stringMatching(/^(invalid_type|required)$/)],
    [{ filters: { nope: 1 } }, 'filters.nope', 'unknown_field'],
    [{ filters: { status: ['GONE'] } }, 'filters.status.0', 'invalid_status'],
    [{ filters: { country: ['XX'] } }, 'filters.country.0', 'invalid_country'],
    [{ filters: { tags: ['x'.repeat(65)] } }, 'filters.tags.0', 'invalid_tags'],
    [{ filters: { created_to: '2024-13-45' } }, 'filters.created_to', 'invalid_datetime'],
    [{ filters: { created_from: '2024-02-01', created_to: '2024-02-01' } }, 'filters.created_to', 'invalid_range'],
    [{ filters: { search: 5 } }, 'filters.search', expect.stringMatching(/^(invalid_type|required)$/)],
  ])('%j is refused', (body, field, code) => {
    expect(problems(body)).toEqual(expect.arrayContaining([expect.objectContaining({ field, code })]));
  });
});
