// A database that does not answer, for the gateway's tests.
//
//   node stall_db.mjs --port P --blackhole
//       accepts TCP connections, reads and drops what it is sent, never
//       answers (a server behind a partition that drops packets, as far as
//       the client can tell)
//   node stall_db.mjs --port P --to HOST:PORT --pause-file F
//       a TCP proxy to a real server; while the file F exists nothing is
//       forwarded either way (a server that stalls mid-statement), and what
//       was held goes through once F is removed
//
// Prints "listening" once it listens; runs until killed.
import net from "node:net";
import { existsSync } from "node:fs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]?.startsWith("--") ? true : all[i + 1] ?? true]] : pairs), []),
);
const port = +args.port;
const sockets = new Set();

// forward: from a to b, holding chunks while the pause file exists
function forward(a, b) {
  const held = [];
  const drain = () => {
    while (held.length > 0 && !existsSync(args["pause-file"])) b.write(held.shift());
  };
  const timer = setInterval(drain, 50);
  a.on("data", (chunk) => {
    held.push(chunk);
    drain();
  });
  a.on("close", () => {
    clearInterval(timer);
    b.destroy();
  });
}

const server = net.createServer((client) => {
  sockets.add(client);
  client.on("close", () => sockets.delete(client));
  client.on("error", () => {});
  if (args.blackhole) {
    client.resume(); // read and drop
    return;
  }
  const [host, upstreamPort] = String(args.to).split(":");
  const upstream = net.connect(+upstreamPort, host);
  upstream.on("error", () => client.destroy());
  forward(client, upstream);
  forward(upstream, client);
});
server.listen(port, "127.0.0.1", () => console.log("listening"));
