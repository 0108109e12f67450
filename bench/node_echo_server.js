// Baseline: TCP and UDP echo with Node.js net and dgram.
//   node node_echo_server.js PORT
'use strict';
const net = require('net');
const dgram = require('dgram');

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.pipe(socket);
});
server.listen({ port: Number(process.argv[2]), host: '127.0.0.1', backlog: 4096 }, () => {
  const port = server.address().port;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
  udp.bind(port, '127.0.0.1', () => console.log(`listening ${port}`));
});
