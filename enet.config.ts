import { defineConfig } from 'enet'

// Every key is optional; these are the defaults worth knowing about.
// Edit this file while the server runs: limits, log level and plugin options apply live.
export default defineConfig({
  name: 'enet',
  tcp: { host: '0.0.0.0', port: 6430 },
  udp: { host: '0.0.0.0', port: 6430 },
  limits: {
    maxConn: 10_000,
    maxConnPerIp: 100,
    maxPacketSize: 4096,
    handlerTimeoutMs: 5_000,
  },
  log: { level: 'info' },
  plugins: {
    dirs: ['plugins'],
    options: {
      heartbeat: { ttlMs: 2_500 },
    },
  },
})
