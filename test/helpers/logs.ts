// A pino destination that keeps every JSON line, parsed (pino's test/helper.js `sink`).
import type { DestinationStream } from 'pino'

export interface LogLine {
  level: number
  msg?: string
  [key: string]: unknown
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const

export interface LogSink extends DestinationStream {
  readonly lines: LogLine[]
  /** Lines whose msg contains `text` (and, optionally, the given level). */
  find(text: string, level?: number): LogLine[]
}

export function logSink(): LogSink {
  const lines: LogLine[] = []
  return {
    lines,
    write(chunk: string) {
      for (const raw of chunk.split('\n')) if (raw.trim()) lines.push(JSON.parse(raw) as LogLine)
    },
    find(text: string, level?: number) {
      return lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(text) && (level === undefined || l.level === level))
    },
  }
}
