// A throwaway enet project on disk: a config file and plugin folders that a
// test writes, edits, breaks and mends while the server runs (vite's editFile).
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { startApp, type App, type AppOptions } from '../../core/index.ts'
import type { PluginEvent } from '../../core/hooks.ts'
import { logSink, type LogSink } from './logs.ts'
import { until } from './until.ts'

export interface Project {
  readonly root: string
  readonly app: App
  readonly logs: LogSink
  readonly events: PluginEvent[]
  write(rel: string, text: string): void
  /** Save through a temp file and a rename, as many editors do. */
  writeAtomic(rel: string, text: string): void
  remove(rel: string): void
  /** Resolves once `n` more plugin events (of `outcome`, if given) have fired. */
  nextEvents(n?: number, outcome?: PluginEvent['outcome'], timeoutMs?: number): Promise<PluginEvent[]>
  close(): Promise<void>
}

export const LOOPBACK_CONFIG = `import { defineConfig } from 'enet'
export default defineConfig({
  tcp: { host: '127.0.0.1', port: 0 },
  udp: { host: '127.0.0.1', port: 0 },
  log: { level: 'debug' },
  plugins: { debounceMs: 20 },
})
`

export async function createProject(files: Record<string, string>, opts: Partial<AppOptions> = {}): Promise<Project> {
  const root = mkdtempSync(join(tmpdir(), 'enet-project-'))
  const write = (rel: string, text: string) => {
    const file = join(root, rel)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
  }
  write('enet.config.ts', LOOPBACK_CONFIG)
  mkdirSync(join(root, 'plugins'), { recursive: true })
  for (const [rel, text] of Object.entries(files)) write(rel, text)
  const logs = logSink()
  const app = await startApp({ cwd: root, logStream: logs, removeGraceMs: 150, ...opts })
  const events: PluginEvent[] = []
  app.server.hooks.onPluginEvent.tap('test', (e) => void events.push(e))
  return {
    root,
    app,
    logs,
    events,
    write,
    writeAtomic(rel, text) {
      const file = join(root, rel)
      const tmp = join(dirname(file), `.${Date.now()}.tmp`)
      writeFileSync(tmp, text)
      renameSync(tmp, file)
    },
    remove: (rel) => rmSync(join(root, rel), { recursive: true, force: true }),
    async nextEvents(n = 1, outcome, timeoutMs = 5_000) {
      const start = events.length
      const matching = () => events.slice(start).filter((e) => outcome === undefined || e.outcome === outcome)
      await until(() => matching().length >= n, timeoutMs, `${n} plugin event(s) ${outcome ?? ''}`)
      return matching()
    },
    async close() {
      await app.close()
      rmSync(root, { recursive: true, force: true })
    },
  }
}

/** Source of a small plugin whose reply names its version: `reply(msgId) → "<tag>:<data>"`. */
export function echoPlugin(tag: string, msgId = 1, name = 'echo'): string {
  return `import { definePlugin } from 'enet'
export default definePlugin({
  name: '${name}',
  routes: { ${msgId}: (req) => { req.reply(${msgId}, '${tag}:' + req.text()) } },
})
`
}
