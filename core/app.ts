// The running application: config file + server + plugin host + watchers.
import type { DestinationStream } from 'pino'
import type { ConfigPatch } from './config.ts'
import { loadConfig } from './config-file.ts'
import { Server } from './server.ts'

export interface AppOptions {
  file?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  flags?: ConfigPatch
  logStream?: DestinationStream
}

export interface App {
  readonly server: Server
  readonly configFile: string | null
  close(): Promise<void>
}

export async function startApp(opts: AppOptions = {}): Promise<App> {
  const { config, file } = await loadConfig(opts)
  const server = new Server(config, { logStream: opts.logStream })
  await server.listen()
  return {
    server,
    configFile: file,
    close: () => server.close(),
  }
}
