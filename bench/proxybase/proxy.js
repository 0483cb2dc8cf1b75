// A minimal reverse proxy on Node's core http module, the pattern of the
// classic Express + http-proxy gateway without the frameworks: keep-alive
// agent, headers and body piped through. The gateway benchmark
// (scripts/bench-gateway.sh) compares `roster gateway` with it.
//   node proxy.js LISTEN_PORT TARGET_HOST TARGET_PORT
'use strict';
const http = require('http');
const [port, host, targetPort] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
http.createServer((req, res) => {
  const up = http.request({
    host, port: targetPort, method: req.method, path: req.url, headers: req.headers, agent,
  }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on('error', (err) => {
    res.writeHead(502, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: err.message, code: 'bad_gateway' }));
  });
  req.pipe(up);
}).listen(Number(port), '127.0.0.1', () => console.log('ready node proxy on ' + port));
