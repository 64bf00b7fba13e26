// The root pino logger: short readable lines for a person at a terminal, JSON
// lines for machines (a pipe, a file, a log collector). `log.pretty` chooses:
// 'auto' (default) is pretty when stdout is a TTY.
import { createRequire } from 'node:module'
import type pinoModule from 'pino'
import type { DestinationStream, Logger } from 'pino'
import type { EnetConfig } from '../config.ts'

const require = createRequire(import.meta.url)
// required, not imported: an import of a CommonJS package has Node scan its
// source for export names, and pino's and tapable's scans cost an idle
// server 0.3 MiB of RSS (bench/ accept).
const pino = require('pino') as typeof pinoModule

export function wantsPretty(setting: EnetConfig['log']['pretty'], stdoutIsTTY: boolean): boolean {
  return setting === true || (setting === 'auto' && stdoutIsTTY)
}

export function createLogger(config: EnetConfig, stream?: DestinationStream): Logger {
  const opts = { name: config.name, level: config.log.level }
  if (stream) return pino(opts, stream)
  if (wantsPretty(config.log.pretty, process.stdout.isTTY === true)) {
    // Loaded only when wanted: machines never pay for the formatter.
    const pinoPretty = require('pino-pretty') as (o: object) => DestinationStream
    // One line per entry, the time without the date, no pid/hostname.
    return pino(opts, pinoPretty({ translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }))
  }
  return pino(opts, pino.destination({ sync: false }))
}
