// Plain node:http requests for the admin listener (fetch will not send a Host header of our choosing).
import http from 'node:http'

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

export interface EventStream {
  status: number
  /** Events received so far, parsed. */
  events: Array<{ event: string; data: any }>
  close(): void
}

/** GET /events: collects server-sent events until closed. */
export function events(port: number, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', headers }, (res) => {
      const stream: EventStream = { status: res.statusCode!, events: [], close: () => req.destroy() }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        buf += c
        let end: number
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
          const data = /^data: (.*)$/m.exec(block)?.[1]
          stream.events.push({ event, data: data === undefined ? undefined : JSON.parse(data) })
        }
      })
      res.on('error', () => {})
      resolve(stream)
    })
    req.on('error', reject)
  })
}
