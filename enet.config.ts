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
  // The connection heartbeat checker (zinx HeartBeatChecker, msgId 99999); off unless set.
  // Not the heartbeat *plugin* below (a node registry on msgIds 10/11).
  // heartbeat: { intervalMs: 5_000, misses: 2 },
  plugins: {
    dirs: ['plugins'],
    options: {
      heartbeat: { ttlMs: 2_500 },
    },
  },
})
