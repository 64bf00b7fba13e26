import { defineConfig } from 'vitest/config'
import { fileURLToPath } from 'node:url'

const core = fileURLToPath(new URL('./core/index.ts', import.meta.url))

export default defineConfig({
  // `enet` and `@enetjs/enet` are the running core, as the plugin loader maps them.
  resolve: { alias: [{ find: /^@enetjs\/enet$/, replacement: core }, { find: /^enet$/, replacement: core }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    reporters: ['default'],
  },
})
