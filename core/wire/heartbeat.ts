// zinx's heartbeat frame (znet/heartbeat.go): msgId 99999 and, as data,
// `heartbeat [<local>-><remote>]` with Go's net.Addr text for each side.
// Both zinx peers send it on their own timer and neither answers it; any
// frame counts as life. enet sends the same frame, so either side can be zinx.

/** ziface.HeartBeatDefaultMsgID. */
export const ZINX_PING_MSGID = 99999

/** Go's net.Addr String(): an IPv6 host goes in brackets. */
function goAddr(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** zinx's makeDefaultMsg: what a heartbeat frame carries, seen from the side that sends it. */
export function heartbeatData(local: { address: string; port: number }, remote: { address: string; port: number }): string {
  return `heartbeat [${goAddr(local.address, local.port)}->${goAddr(remote.address, remote.port)}]`
}
