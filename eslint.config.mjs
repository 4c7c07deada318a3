import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nonDeterministic = [
  { group: ['node:*'], message: 'Workflow code is deterministic: no Node built-ins.' },
  { group: ['fs', 'path', 'crypto', 'os', 'child_process', 'stream', 'http', 'https', 'net', 'timers'], message: 'Workflow code is deterministic: no Node built-ins.' },
  { group: ['drizzle-orm', 'drizzle-orm/*', 'pg', 'pg-*', 'postgres', '@aws-sdk/*', 'resend', 'express', 'pino', 'pino-*', 'csv-*'], message: 'Workflow code does no I/O: call an activity.' },
  { group: ['../src/*', '../src/**'], message: 'Workflow code imports only workflows/ and types from activities/ and the schema.' },
  { group: ['../drizzle/*'], allowTypeImports: true, message: 'Workflows import only types from the schema (its status unions): import type.' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'dist/**', 'web/dist/**', 'test-results/**', 'coverage/**', 'drizzle/migrations/**', '*.js', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The test bundle's own workflow code is held to the same rules (test/workflows/, bundled like workflows/).
    files: ['workflows/**/*.ts', 'test/workflows/index.ts', 'test/workflows/system-check.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          ...nonDeterministic,
          { group: ['../activities/*', '../activities'], allowTypeImports: true, message: 'Workflows import only types from activities (import type).' },
        ],
      }],
    },
  },
);
