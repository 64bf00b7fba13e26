// npm run bench:reload [-- --quick]: compiles bench/reload-run.ts with the
// core (bench/tsconfig.json, as the enet-vs-plain servers are) and runs it
// under plain node --expose-gc, so the server under test is the compiled core
// with no loader hooks in front of its imports. The load generator
// (bench/loadgen.c) is compiled here too and handed over in ENET_BENCH_LOADGEN.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { buildLoadgen, buildServers } from './loadgen.ts'

const env = { ...process.env, ENET_BENCH_LOADGEN: buildLoadgen() }
const child = spawn(process.execPath, ['--expose-gc', join(buildServers(), 'reload-run.js'), ...process.argv.slice(2)], { stdio: 'inherit', env })
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => (process.exitCode = code ?? (signal ? 128 : 1)))
