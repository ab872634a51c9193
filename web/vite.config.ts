import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the page with hot reload and forwards the APIs to an imgpipe on :8080.
const backend = process.env.IMGPIPE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 400 },
  server: {
    proxy: {
      '/api': backend,
      '/pacs': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
