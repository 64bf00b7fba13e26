// bench/enet-server.ts with metrics on, for `npm run bench -- --metrics`:
// the HTTP listener is open; the orchestrator scrapes /metrics once a second
// (Prometheus scrapes every 15 s by default: this is the costlier case).
process.env.BENCH_ENET_METRICS = '1'
await import('./enet-server.ts')
