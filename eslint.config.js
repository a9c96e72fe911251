// ESLint flat config: typed TypeScript rules, no import cycles, and the workflow sandbox rule.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

/** Modules that do I/O or are not available in Temporal's deterministic workflow sandbox. */
const WORKFLOW_BANNED = [
  {
    group: ['node:*'],
    message: 'Workflows run in a deterministic sandbox: no Node built-ins; do I/O in an activity.',
  },
  {
    group: [
      'fs',
      'fs/*',
      'path',
      'os',
      'child_process',
      'crypto',
      'net',
      'http',
      'https',
      'stream',
      'worker_threads',
    ],
    message: 'Workflows run in a deterministic sandbox: no Node built-ins; do I/O in an activity.',
  },
  {
    group: ['onnxruntime-node', 'onnxruntime-*', 'sharp'],
    message: 'Inference and image work belong in activities.',
  },
  { group: ['@aws-sdk/*'], message: 'Object storage belongs in activities (storage/).' },
  {
    group: ['parquet-wasm', 'parquetjs-lite', 'apache-arrow', 'hyparquet*'],
    message: 'Parquet belongs in activities (storage/).',
  },
  {
    group: ['@temporalio/activity', '@temporalio/client', '@temporalio/worker'],
    message: 'Not available in the workflow sandbox.',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.affectflow/**', 'bench/results/**', 'media/kernels/**', 'build/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['bin/*.js', 'eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      'import-x/no-cycle': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: WORKFLOW_BANNED.map((p) => ({ ...p, allowTypeImports: true })) },
      ],
    },
  },
);
