import { z } from 'zod';
import { userCreateSchema, userPatchSchema } from '../users/fields';
import { auditOpenApiPaths } from './audit-routes';
import { consoleOpenApiPaths } from './console-routes';
import { exportsOpenApiPaths } from './exports-routes';
import { importsOpenApiPaths } from './imports-routes';

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses) of what a client sends for a zod schema. */
export function inputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export const jsonResponse = (description: string, schemaRef: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${schemaRef}` } } },
});

const listParameters = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' } },
];
export { listParameters };

const userObject = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    vendor_data: { type: 'string' },
    display_name: { type: ['string', 'null'] },
    full_name: { type: ['string', 'null'] },
    date_of_birth: { type: ['string', 'null'], format: 'date' },
    email: { type: ['string', 'null'] },
    phone: { type: ['string', 'null'] },
    country: { type: ['string', 'null'] },
    status: { enum: ['ACTIVE', 'FLAGGED', 'BLOCKED'] },
    tags: { type: 'array', items: { type: 'string' } },
    metadata: { type: 'object' },
    verified_fields: { type: 'array', items: { enum: ['full_name', 'date_of_birth'] } },
    session_count: { type: 'integer' },
    approved_count: { type: 'integer' },
    declined_count: { type: 'integer' },
    in_review_count: { type: 'integer' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

const vendorDataPath = { name: 'vendor_data', in: 'path', required: true, schema: { type: 'string' } };

const usersPaths = {
  '/v3/users/create/': {
    post: {
      summary: 'Create a user',
      security: [{ apiKey: [] }],
      requestBody: { required: true, content: { 'application/json': { schema: inputSchema(userCreateSchema) } } },
      responses: {
        201: jsonResponse('The user', 'User'),
        400: errorResponse('invalid_field, invalid_json'),
        401: errorResponse('unauthenticated'),
        409: errorResponse('vendor_data_conflict'),
        415: errorResponse('unsupported_media_type'),
      },
    },
  },
  '/v3/users/': {
    get: {
      summary: 'List users, newest first',
      security: [{ apiKey: [] }],
      parameters: [
        { name: 'status', in: 'query', schema: { enum: ['ACTIVE', 'FLAGGED', 'BLOCKED'] } },
        { name: 'country', in: 'query', schema: { type: 'string' } },
        { name: 'search', in: 'query', schema: { type: 'string' } },
        ...listParameters,
      ],
      responses: { 200: jsonResponse('A page of users', 'UserList'), 400: errorResponse('invalid_filter'), 401: errorResponse('unauthenticated') },
    },
  },
  '/v3/users/{vendor_data}/': {
    get: {
      summary: 'Get a user by vendor_data (trimmed, case-insensitive)',
      security: [{ apiKey: [] }],
      parameters: [vendorDataPath],
      responses: { 200: jsonResponse('The user', 'User'), 401: errorResponse('unauthenticated'), 404: errorResponse('not_found') },
    },
    patch: {
      summary: 'Update the given fields (metadata merged key by key; verified fields and counters kept)',
      security: [{ apiKey: [] }],
      parameters: [vendorDataPath],
      requestBody: { required: true, content: { 'application/json': { schema: inputSchema(userPatchSchema) } } },
      responses: {
        200: jsonResponse('The user', 'User'),
        400: errorResponse('invalid_field'),
        401: errorResponse('unauthenticated'),
        404: errorResponse('not_found'),
        409: errorResponse('vendor_data_conflict'),
      },
    },
  },
};

const healthPaths = {
  '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'The process runs' } } } },
  '/readyz': {
    get: {
      summary: 'Readiness: Postgres and Temporal answer',
      responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } },
    },
  },
};

/** The OpenAPI 3.1 document served at `/openapi.json`; request bodies come from the same zod schemas the API uses. */
export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: { title: 'KYC user bulk import and export', version: '0.1.0' },
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        operatorToken: { type: 'http', scheme: 'bearer' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
        User: userObject,
        UserList: {
          type: 'object',
          properties: {
            results: { type: 'array', items: { $ref: '#/components/schemas/User' } },
            next_cursor: { type: ['string', 'null'] },
          },
        },
      },
    },
    paths: { ...healthPaths, ...usersPaths, ...importsOpenApiPaths, ...exportsOpenApiPaths, ...auditOpenApiPaths, ...consoleOpenApiPaths },
  };
}
