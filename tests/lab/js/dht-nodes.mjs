// DHT nodes that Quince did not write: js-libp2p with @libp2p/kad-dht
// speaking /ipfs/kad/1.0.0 (the public libp2p DHT's protocol), some of them
// also circuit-relay-v2 servers. One process runs them all, each on its own
// IP address, so a lab can have a "public DHT" of 20+ nodes cheaply.
//
//   node dht-nodes.mjs --ips 10.200.0.100,10.200.0.101,... [--port 4001] [--relays 3]
//
// Prints one JSON line per node ({"node": i, "peer": ID, "addrs": [...], "relay": bool}),
// then {"ready": true} once every node has joined the others. Then reads
// commands on stdin, one per line, and answers each with one JSON line:
//
//   providers I HEX   find-providers on node I for the key HEX (a multihash):
//                     {"providers": [{"peer": ID, "addrs": [...]}]}
//   stop I            stop node I: {"stopped": I}
//   quit              stop everything and exit
//
// The lab's "public" addresses are RFC 1918 ones, so the nodes keep private
// addresses in DHT answers (the public network's nodes drop them, which is
// the only setting that differs from a public node).

import './polyfill.mjs'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

const ips = (arg('--ips', '') || '').split(',').filter(Boolean)
const port = Number(arg('--port', '4001'))
const relays = Number(arg('--relays', '3'))
if (ips.length === 0) {
  console.error('usage: node dht-nodes.mjs --ips IP,IP,... [--port 4001] [--relays N]')
  process.exit(2)
}

const out = (v) => process.stdout.write(JSON.stringify(v) + '\n')

async function makeNode (ip, relay) {
  const services = {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: '/ipfs/kad/1.0.0',
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      // A lab this small must not wait for a full routing table.
      initialQuerySelfInterval: 1000
    })
  }
  if (relay) {
    services.relay = circuitRelayServer({
      reservations: { maxReservations: 128 }
    })
  }
  return createLibp2p({
    addresses: { listen: [`/ip4/${ip}/tcp/${port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // All the nodes' outgoing connections leave from one host address, so
    // js-libp2p's default limits for one remote host (5 new inbound
    // connections a second, 10 pending) reset most of the joins below and
    // leave the "public DHT" in pieces. A public node sees its peers from
    // many addresses; these limits stand in for that.
    connectionManager: {
      maxConnections: 512,
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 256
    },
    services
  })
}

const nodes = []
for (let i = 0; i < ips.length; i++) {
  const node = await makeNode(ips[i], i < relays)
  nodes.push(node)
  out({
    node: i,
    peer: node.peerId.toString(),
    addrs: node.getMultiaddrs().map(String),
    relay: i < relays
  })
}

// Everyone joins through the first three, then each looks itself up so
// routing tables fill as in a real DHT.
for (let i = 0; i < nodes.length; i++) {
  for (let j = 0; j < Math.min(3, nodes.length); j++) {
    if (i === j) continue
    try {
      await nodes[i].dial(nodes[j].getMultiaddrs()[0])
    } catch (e) {
      console.error(`node ${i} could not dial node ${j}: ${e.message}`)
    }
  }
}
await Promise.all(nodes.map(async (n) => {
  try {
    for await (const _ of n.peerRouting.getClosestPeers(n.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(10000) })) { /* fill tables */ }
  } catch (e) { /* a lookup that timed out still filled the table */ }
}))
out({ ready: true, peers: nodes.map((n) => n.getPeers().length) })

const stopped = new Set()
const rl = createInterface({ input: process.stdin })
for await (const line of rl) {
  const [cmd, a, b] = line.trim().split(/\s+/)
  try {
    if (cmd === 'providers') {
      const node = nodes[Number(a)]
      const cid = CID.decode(Buffer.from(b, 'hex'))
      const found = []
      for await (const p of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(15000) })) {
        found.push({ peer: p.id.toString(), addrs: p.multiaddrs.map(String) })
      }
      out({ providers: found })
    } else if (cmd === 'stop') {
      const i = Number(a)
      if (!stopped.has(i)) {
        await nodes[i].stop()
        stopped.add(i)
      }
      out({ stopped: i })
    } else if (cmd === 'quit') {
      break
    } else if (cmd) {
      out({ error: `unknown command ${cmd}` })
    }
  } catch (e) {
    out({ error: e.message })
  }
}
await Promise.all(nodes.map((n, i) => stopped.has(i) ? null : n.stop()))
process.exit(0)
