import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The API the dev server (`vite --config web/vite.config.mts`) forwards to; the built console is served by the API itself.
const apiTarget = process.env.CONSOLE_API_URL ?? 'http://localhost:3000';
const toApi = { target: apiTarget, changeOrigin: false };

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '^/console/(me|users|audit-log|webhooks)(/|\\?|$)': toApi,
      '/downloads': toApi,
    },
  },
});
