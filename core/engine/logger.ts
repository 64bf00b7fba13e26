// The root pino logger. Pretty output for a person at a terminal, JSON lines
// otherwise; pino-pretty is a dev dependency, so it is loaded only if present.
import { createRequire } from 'node:module'
import pino, { type DestinationStream, type Logger } from 'pino'
import type { EnetConfig } from '../config.ts'

const require = createRequire(import.meta.url)

export function createLogger(config: EnetConfig, stream?: DestinationStream): Logger {
  const opts = { name: config.name, level: config.log.level }
  if (stream) return pino(opts, stream)
  const pretty = config.log.pretty === true || (config.log.pretty === 'auto' && process.stdout.isTTY === true)
  if (pretty) {
    try {
      const pinoPretty = require('pino-pretty') as (o: object) => DestinationStream
      return pino(opts, pinoPretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }))
    } catch {
      // pino-pretty not installed (production install): JSON it is.
    }
  }
  return pino(opts, pino.destination({ sync: false }))
}
